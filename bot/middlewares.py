"""Outer middlewares: one transaction per update, the person behind it, their language.

What they put into the handler's data (a handler names these in its signature):
- `repos`: `storage.repositories.Repositories` on this update's transaction;
- `person`: `bot.services.members.PersonView` of the sender (absent for updates without a user);
- `locale`: "ro" or "en", the language the reply is written in;
- `work`: `UpdateWork`, the update's unit of work (`after_commit` for actions that must follow the commit).

A Telegram call made while handling an update commits the update's transaction first (`CommitBeforeTelegram`).

It reads `sender` (`bot.delivery.Sender`, when the process runs one) to wake it when an update queued outbox rows.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sys
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any, cast

from aiogram import BaseMiddleware, Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.fsm.state import State
from aiogram.methods import AnswerCallbackQuery, Response, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import Message, TelegramObject, Update, User
from aiogram.utils.i18n import I18n, I18nMiddleware
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.i18n import resolve_locale
from bot.services import members
from bot.services.refusals import Refused
from storage.db import changed_people
from storage.repositories import OUTBOX_QUEUED, Repositories

log = logging.getLogger(__name__)

# The person as read from the database by this update (not from the cache); see TransactionMiddleware.
FRESH_PERSON = "fresh_person"

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class PersonCache:
    """Recently seen people, so that most updates need no database round trip to know who is writing.

    Only what is committed goes in; whatever a transaction of this process changes about a person is dropped
    at its commit; entries expire after `ttl` seconds, which bounds how long a change made elsewhere (the
    command line, another replica) can go unseen. It serves only people who are not managers (PersonMiddleware
    reads managers afresh), so at worst a member sees a member's view for `ttl` seconds more. Nothing is
    decided on it alone: services that need a role read it from the database (`members.require_manager`).
    `ttl=0` turns it off.
    """

    def __init__(self, ttl: float, size: int = 10_000) -> None:
        self.ttl = ttl
        self.size = size
        self._entries: OrderedDict[int, tuple[float, members.PersonView]] = OrderedDict()

    def get(self, telegram_id: int) -> members.PersonView | None:
        entry = self._entries.get(telegram_id)
        if entry is None:
            return None
        if entry[0] < time.monotonic():
            del self._entries[telegram_id]
            return None
        self._entries.move_to_end(telegram_id)
        return entry[1]

    def put(self, person: members.PersonView) -> None:
        if self.ttl <= 0:
            return
        self._entries[person.telegram_id] = (time.monotonic() + self.ttl, person)
        self._entries.move_to_end(person.telegram_id)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def forget(self, telegram_ids: set[int]) -> None:
        for telegram_id in telegram_ids:
            self._entries.pop(telegram_id, None)


class UpdateWork:
    """The update's unit of work: its repositories, and what to do once its changes are committed.

    What the bot tells people about a change is said after the change is committed, so a Telegram call made by
    the update's own task first commits what the update has done so far (`CommitBeforeTelegram`, installed on
    the bot's session): a failed commit raises there, the message is never sent, and the person is asked to try
    again. The same rule means no update holds a connection, a row lock or the SQLite writer lock while it
    waits for Telegram. Actions that must follow a commit (waking the sender, background watchers) are
    registered with `after_commit` and run when the update ends, only if the commit that covered them
    succeeded. What other people are told is not among them: services record notices in the outbox, in the
    transaction of the change (`bot.notices`), and the sender words and sends them.
    """

    def __init__(self, repos: Repositories, bot: Bot | None, sender: Any = None) -> None:
        self.repos = repos
        self.bot = bot
        self.sender = sender
        self.owner = asyncio.current_task()
        self.callback_answered = False
        self._pending: list[Callable[[], Awaitable[None] | None]] = []
        self._ready: list[Callable[[], Awaitable[None] | None]] = []
        self._finished = False

    def after_commit(self, action: Callable[[], Awaitable[None] | None]) -> None:
        self._pending.append(action)

    async def commit(self) -> None:
        """Commit what the update has done so far; the session stays usable and opens a new transaction."""
        session = self.repos.opened
        if session is not None and session.in_transaction():
            await session.commit()
            if self.sender is not None and session.info.pop(OUTBOX_QUEUED, False):
                self._ready.append(self.sender.notify)
        self._ready += self._pending
        self._pending.clear()

    async def rollback(self) -> None:
        self._pending.clear()
        session = self.repos.opened
        if session is not None:
            await session.rollback()

    def in_own_task(self) -> bool:
        return not self._finished and asyncio.current_task() is self.owner

    async def finish(self) -> None:
        """Close the session, then run what the committed changes asked for."""
        self._finished = True
        if self.repos.opened is not None:
            await self.repos.opened.close()
        ready, self._ready = self._ready, []
        for action in ready:
            try:
                outcome = action()
                if outcome is not None:
                    await outcome
            except Exception as exc:
                log.warning("an after-commit action failed: %s", type(exc).__name__)


# The unit of work of the update this task is handling (None outside updates, e.g. in the sender).
CURRENT_WORK: ContextVar[UpdateWork | None] = ContextVar("clusterbot_update_work", default=None)


class CommitBeforeTelegram(BaseRequestMiddleware):
    """On the bot's session: an update's call to Telegram first commits that update's transaction.

    Tasks an update starts (watchers) inherit the context but are not its owner, so they never commit it. A
    call made while a refusal (`bot.services.refusals.Refused`) is being handled rolls back instead.
    """

    # It does nothing for calls made outside an update's own task, the sender's: `bot.bulk_send` may bypass it.
    outside_updates_only = True

    async def __call__(
        self, make_request: NextRequestMiddlewareType[TelegramType], bot: Bot, method: TelegramMethod[TelegramType]
    ) -> Response[TelegramType]:
        work = CURRENT_WORK.get()
        if work is not None and work.in_own_task():
            if isinstance(sys.exc_info()[1], Refused):
                # Said while a refusal is being handled: the refused action leaves nothing behind, whether the
                # handler answers the refusal itself or lets the error handler do it.
                await work.rollback()
            else:
                await work.commit()
        response = await make_request(bot, method)
        if work is not None and isinstance(method, AnswerCallbackQuery):
            work.callback_answered = True
        return response


def commit_before_telegram(bot: Bot) -> Bot:
    """Install `CommitBeforeTelegram` on `bot` (once); returns the bot."""
    if not any(isinstance(m, CommitBeforeTelegram) for m in bot.session.middleware):
        bot.session.middleware(CommitBeforeTelegram())
    return bot


class TransactionMiddleware(BaseMiddleware):
    """Opens the update's unit of work; commits when the handler returns, rolls back when it raises."""

    def __init__(self, session_factory: async_sessionmaker[AsyncSession], cache: PersonCache) -> None:
        self.session_factory = session_factory
        self.cache = cache

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        repos = Repositories.lazily(self.session_factory)
        data["repos"] = repos
        work = UpdateWork(repos, data.get("bot"), data.get("sender"))
        data["work"] = work
        token = CURRENT_WORK.set(work)
        try:
            result = await handler(event, data)
            await work.commit()
        except BaseException:
            await work.rollback()
            raise
        finally:
            CURRENT_WORK.reset(token)
            # Whatever this update changed about people is stale in the cache, committed or not.
            changed = changed_people(repos.opened) if repos.opened is not None else set()
            self.cache.forget(changed)
            await work.finish()
        # Committed: the person read fresh for this update may be cached, unless this update changed them.
        fresh: members.PersonView | None = data.get(FRESH_PERSON)
        if fresh is not None and fresh.telegram_id not in changed:
            self.cache.put(fresh)
        return result


class PersonMiddleware(BaseMiddleware):
    """Loads (or creates, as a guest) the person who sent the update; admins come from ADMIN_IDS."""

    def __init__(self, settings: Settings, cache: PersonCache) -> None:
        self.settings = settings
        self.cache = cache

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        if user is None or user.is_bot:
            return await handler(event, data)
        cached = self.cache.get(user.id)
        # Managers are read from the database on every update: a demotion made elsewhere (the command line,
        # another replica) takes effect at once. The cache only spares the reads of what members may see.
        fits = cached is not None and members.still_matches(cached, user, self.settings.admin_ids)
        if cached is not None and fits and not cached.is_manager:
            data["person"] = cached
        else:
            data["person"] = data[FRESH_PERSON] = await members.touch_person(
                data["repos"],
                telegram_id=user.id,
                first_name=user.first_name,
                last_name=user.last_name,
                username=user.username,
                language_code=user.language_code,
                admin_ids=self.settings.admin_ids,
            )
        return await handler(event, data)


# C0 controls but tab, newline and carriage return; DEL; lone UTF-16 surrogates. PostgreSQL refuses NUL in text,
# a surrogate cannot be encoded for the database, and nobody means to write any of them.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def clean_text(text: str, *, keep_offsets: bool = False) -> str:
    """`text` without control characters; with `keep_offsets` each becomes a space, so that entity offsets
    (counted in UTF-16 units, one per removed character) still point at the same words."""
    return _CONTROL.sub(" " if keep_offsets else "", text)


def _clean_fields(obj: TelegramObject, fields: dict[str, bool]) -> Any:
    """A copy of `obj` with the named text fields cleaned (field -> keep offsets), or `obj` when all are clean."""
    changes = {}
    for name, keep_offsets in fields.items():
        value = getattr(obj, name, None)
        if isinstance(value, str) and _CONTROL.search(value):
            changes[name] = clean_text(value, keep_offsets=keep_offsets)
    return obj.model_copy(update=changes) if changes else obj


def clean_user(user: User) -> User:
    return cast(User, _clean_fields(user, {"first_name": False, "last_name": False, "username": False}))


def clean_update(update: Update) -> Update:
    """The update as the bot reads it: no control characters in what a person typed or a button carried."""
    changes: dict[str, Any] = {}
    for name in ("message", "edited_message"):
        message: Message | None = getattr(update, name)
        if message is not None:
            fixed = _clean_fields(message, {"text": bool(message.entities), "caption": bool(message.caption_entities)})
            if fixed is not message:
                changes[name] = fixed
    query = update.callback_query
    if query is not None:
        fixed = _clean_fields(query, {"data": False})
        if fixed is not query:
            changes["callback_query"] = fixed
    return update.model_copy(update=changes) if changes else update


class CleanInputMiddleware(BaseMiddleware):
    """Strips control characters from every text a person can send, before anything reads it."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if isinstance(event, Update):
            event = clean_update(event)
        # aiogram's user context was read from the update before this ran: the sender's names are cleaned here.
        user: User | None = data.get("event_from_user")
        if user is not None:
            data["event_from_user"] = clean_user(user)
        return await handler(event, data)


class LocaleMiddleware(I18nMiddleware):
    """The reply language: the person's choice, else Telegram's language (ro* -> ro, other -> en)."""

    def __init__(self, i18n: I18n, default_locale: str) -> None:
        super().__init__(i18n=i18n)
        self.default = default_locale

    async def get_locale(self, event: TelegramObject, data: dict[str, Any]) -> str:
        person: members.PersonView | None = data.get("person")
        if person is not None:
            locale = resolve_locale(person.language, person.telegram_language, self.default)
        else:
            user: User | None = data.get("event_from_user")
            locale = resolve_locale(None, user.language_code if user else None, self.default)
        data["locale"] = locale
        return locale


# The conversation steps (FSM states) whose answer may be longer than the general limit, and their own limit: an
# announcement's text takes Telegram's whole message.
_LONGER_INPUT: dict[str, int] = {}


def allow_longer_input(state: State, limit: int) -> None:
    """Answers at `state` may have up to `limit` characters (more than `MAX_TEXT_LENGTH`)."""
    if state.state is not None:
        _LONGER_INPUT[state.state] = limit


class OversizedInputMiddleware(BaseMiddleware):
    """Refuses texts longer than any answer the bot asks for, before a handler sees them; a step that declared
    its own limit (`allow_longer_input`) has that one."""

    def __init__(self, limit: int) -> None:
        self.limit = limit

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        text = getattr(event, "text", None) or getattr(event, "caption", None)
        limit = _LONGER_INPUT.get(data.get("raw_state") or "", self.limit)
        if text is not None and len(text) > limit and getattr(event, "chat", None) is not None:
            chat_type = event.chat.type  # type: ignore[attr-defined]
            if chat_type == "private":
                await event.answer(  # type: ignore[attr-defined]
                    _("That message is too long: at most {limit} characters, and this one has {length}.").format(
                        limit=limit, length=len(text)
                    )
                )
            return None
        return await handler(event, data)

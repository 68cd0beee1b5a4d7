"""Outer middlewares: one transaction per update, the person behind it, their language, notices after commit.

What they put into the handler's data (a handler names these in its signature):
- `repos`: `storage.repositories.Repositories` on this update's transaction;
- `person`: `bot.services.members.PersonView` of the sender (absent for updates without a user);
- `locale`: "ro" or "en", the language the reply is written in;
- `notices`: `Notices`, messages to other people sent only once the transaction has committed.

It reads `sender` (`bot.delivery.Sender`, when the process runs one) to wake it when an update queued outbox rows.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.exceptions import TelegramAPIError, TelegramForbiddenError
from aiogram.types import InlineKeyboardMarkup, TelegramObject, User
from aiogram.utils.i18n import I18n, I18nMiddleware
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.i18n import resolve_locale
from bot.services import members
from storage.db import changed_people
from storage.repositories import OUTBOX_QUEUED, Repositories

log = logging.getLogger(__name__)

# The person as read from the database by this update (not from the cache); see TransactionMiddleware.
FRESH_PERSON = "fresh_person"

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


@dataclass
class Notice:
    chat_id: int
    text: str
    reply_markup: InlineKeyboardMarkup | None = None


@dataclass
class Notices:
    """Messages for other people (managers, an applicant) caused by this update.

    They go out only after the transaction commits, so nobody hears of a change that was rolled back.
    Bulk sending moves to the outbox with the delivery engine; these are a handful per update.
    """

    items: list[Notice] = field(default_factory=list)

    def add(self, chat_id: int, text: str, reply_markup: InlineKeyboardMarkup | None = None) -> None:
        self.items.append(Notice(chat_id, text, reply_markup))

    async def send(self, bot: Bot) -> None:
        for notice in self.items:
            try:
                await bot.send_message(notice.chat_id, notice.text, reply_markup=notice.reply_markup)
            except TelegramForbiddenError:
                log.info("notice not delivered: recipient blocked the bot")
            except TelegramAPIError as exc:
                log.warning("notice not delivered: %s", type(exc).__name__)


class PersonCache:
    """Recently seen people, so that most updates need no database round trip to know who is writing.

    Only what is committed goes in; whatever a transaction of this process changes about a person is dropped
    at its commit; entries expire after `ttl` seconds, which bounds how long a change made elsewhere (the
    command line, another replica) can go unseen. Nothing is decided on it alone: services that need a role
    read it from the database (`members.require_manager`). `ttl=0` turns it off.
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


class TransactionMiddleware(BaseMiddleware):
    """Opens the update's unit of work; commits when the handler returns, rolls back when it raises."""

    def __init__(self, session_factory: async_sessionmaker[AsyncSession], cache: PersonCache) -> None:
        self.session_factory = session_factory
        self.cache = cache

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        notices = Notices()
        data["notices"] = notices
        repos = Repositories.lazily(self.session_factory)
        data["repos"] = repos
        try:
            result = await handler(event, data)
            if repos.opened is not None:
                await repos.opened.commit()
        except BaseException:
            if repos.opened is not None:
                await repos.opened.rollback()
            raise
        finally:
            if repos.opened is not None:
                await repos.opened.close()
        # Committed: the person read fresh for this update may be cached, unless this update changed them.
        fresh: members.PersonView | None = data.get(FRESH_PERSON)
        if fresh is not None:
            self.cache.put(fresh)
        if repos.opened is not None:
            self.cache.forget(changed_people(repos.opened))
            sender = data.get("sender")
            if sender is not None and repos.opened.info.get(OUTBOX_QUEUED):
                sender.notify()
        bot: Bot | None = data.get("bot")
        if notices.items and bot is not None:
            await notices.send(bot)
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
        if cached is not None and members.still_matches(cached, user, self.settings.admin_ids):
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


class OversizedInputMiddleware(BaseMiddleware):
    """Refuses texts longer than any answer the bot asks for, before a handler sees them."""

    def __init__(self, limit: int) -> None:
        self.limit = limit

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        text = getattr(event, "text", None) or getattr(event, "caption", None)
        if text is not None and len(text) > self.limit and getattr(event, "chat", None) is not None:
            chat_type = event.chat.type  # type: ignore[attr-defined]
            if chat_type == "private":
                await event.answer(  # type: ignore[attr-defined]
                    _("That message is too long for me: at most {limit} characters, please.").format(limit=self.limit)
                )
            return None
        return await handler(event, data)

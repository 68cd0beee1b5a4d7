"""Strict in-memory Telegram Bot API server ("the sandbox") that tests drive as Telegram users.

:class:`SandboxServer` composes the parts and is what tests hold: world setup, what users do, waiting for the
bot and observing what it did. The parts live beside it: ``state.py`` (users, chats, messages, the update
queue, recorded events), ``methods.py`` (the Bot API methods and update delivery), ``transport.py`` (HTTP in
and out) and ``faults.py`` (latency, 5xx, dropped connections, flood limits, held updates).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, Self

from bot.sandbox.faults import FaultControls
from bot.sandbox.methods import CONFLICT_POLLING, CONFLICT_WEBHOOK, NOT_MODIFIED, QUERY_TOO_OLD, BotApi
from bot.sandbox.spec import load_spec
from bot.sandbox.state import (
    FINAL_STATES,
    FIRST_UPDATE_ID,
    Callback,
    Chat,
    EventKind,
    MessageState,
    SandboxEvent,
    SandboxState,
    SandboxStats,
    SandboxUsageError,
    UpdateState,
)
from bot.sandbox.transport import HttpFrontend, WebhookClient
from bot.telegram_text import utf16_len

__all__ = [
    "CONFLICT_POLLING",
    "CONFLICT_WEBHOOK",
    "NOT_MODIFIED",
    "QUERY_TOO_OLD",
    "EventKind",
    "MessageState",
    "SandboxEvent",
    "SandboxServer",
    "SandboxStats",
    "SandboxUsageError",
    "UpdateState",
]

_COMMAND_RE = re.compile(r"(?<!\S)/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?(?![A-Za-z0-9_@/])")


class SandboxServer:
    """A strict local Telegram Bot API server plus the user-side controls that tests use.

    The bot under test talks to :attr:`base_url` over real HTTP; test code plays the users
    (:meth:`user_sends`, :meth:`user_taps`, ...) and observes what the bot did
    (:meth:`events`, :meth:`bot_messages`). All state lives in memory.
    """

    def __init__(
        self,
        *,
        bot_username: str = "clusterbot_sandbox_bot",
        bot_first_name: str = "Clusterbot",
        webhook_retry_delay: float = 0.2,
        seed: int = 0,
        token: str | None = None,
    ) -> None:
        self._state = SandboxState(load_spec(), bot_username=bot_username, bot_first_name=bot_first_name)
        if token is not None:
            self._state.claim_token(token)
        self._faults = FaultControls(self._state, seed=seed)
        self._webhooks = WebhookClient(self._state.stats)
        self._api = BotApi(self._state, self._faults, self._webhooks, webhook_retry_delay=webhook_retry_delay)
        self._http = HttpFrontend(self._state, self._faults, self._api.execute)

    # ------------------------------------------------------------------ lifecycle

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        await self._http.start(host, port)
        self._webhooks.open()
        self._state.stopping = False

    async def stop(self) -> None:
        self._state.stopping = True
        self._state.notify()
        await self._api.stop_webhook_delivery()
        await self._webhooks.close()
        await self._http.stop()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        if self._http.base_url is None:
            raise RuntimeError("SandboxServer is not started")
        return self._http.base_url

    @property
    def bot_id(self) -> int:
        return self._state.bot_id

    @property
    def bot_username(self) -> str:
        return self._state.bot_username

    @bot_username.setter
    def bot_username(self, value: str) -> None:
        self._state.bot_username = value

    @property
    def bot_first_name(self) -> str:
        return self._state.bot_first_name

    @bot_first_name.setter
    def bot_first_name(self, value: str) -> None:
        self._state.bot_first_name = value

    @property
    def webhook_retry_delay(self) -> float:
        return self._api.webhook_retry_delay

    @webhook_retry_delay.setter
    def webhook_retry_delay(self, value: float) -> None:
        self._api.webhook_retry_delay = value

    @property
    def stats(self) -> SandboxStats:
        return self._state.stats

    @property
    def webhook_reply_errors(self) -> list[str]:
        """Reply methods returned in webhook answers that failed: they have no caller to report to."""
        return self._api.webhook_reply_errors

    # ------------------------------------------------------------------ switches

    def set_rate_limits(
        self,
        global_per_second: float | None = 30,
        per_chat_per_second: float | None = 1,
        per_chat_burst: int = 1,
        group_per_minute: int | None = 20,
    ) -> None:
        """Enable Telegram-like flood limits on send*/copy*/forward* (None disables one)."""
        self._faults.set_rate_limits(global_per_second, per_chat_per_second, per_chat_burst, group_per_minute)

    def clear_rate_limits(self) -> None:
        self._faults.clear_rate_limits()

    def set_latency(self, seconds: float) -> None:
        """Delay every bot call by ``seconds`` before it is processed."""
        self._faults.set_latency(seconds)

    def set_faults(
        self,
        error_5xx_rate: float = 0.0,
        drop_before_rate: float = 0.0,
        drop_after_rate: float = 0.0,
    ) -> None:
        """Inject transport faults into bot calls, drawn from the seeded RNG."""
        self._faults.set_faults(error_5xx_rate, drop_before_rate, drop_after_rate)

    def held(self) -> contextlib.AbstractContextManager[None]:
        """Updates queued inside the block reach the bot together, in one getUpdates batch, when it ends."""
        return self._faults.held()

    def block(self, user_id: int) -> int | None:
        """The user blocks the bot; returns the my_chat_member update id if one was created."""
        user = self._state.known_user(user_id)
        if user_id in self._state.blocked:
            return None
        self._state.blocked.add(user_id)
        return self._state.private_member_update(user, "member", "kicked")

    def unblock(self, user_id: int) -> int | None:
        user = self._state.known_user(user_id)
        if user_id not in self._state.blocked:
            return None
        self._state.blocked.discard(user_id)
        return self._state.private_member_update(user, "kicked", "member")

    # ------------------------------------------------------------------ world setup

    def add_user(
        self,
        user_id: int,
        first_name: str,
        *,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
    ) -> dict[str, Any]:
        if user_id <= 0:
            raise ValueError("user ids are positive")
        if not first_name:
            raise ValueError("first_name must be non-empty")
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
        if last_name:
            user["last_name"] = last_name
        if username:
            user["username"] = username
        if language_code:
            user["language_code"] = language_code
        self._state.users[user_id] = user
        return dict(user)

    def add_group(self, chat_id: int, title: str, *, supergroup: bool = False) -> dict[str, Any]:
        if chat_id >= 0:
            raise ValueError("group chat ids are negative")
        if supergroup and not str(chat_id).startswith("-100"):
            raise ValueError("supergroup ids look like -100xxxxxxxxxx")
        chat = Chat(chat_id, "supergroup" if supergroup else "group", title=title)
        self._state.chats[chat_id] = chat
        self._state.groups[chat_id] = chat
        return self._state.chat_json(chat)

    def add_bot_to_group(self, chat_id: int, by_user_id: int, *, as_admin: bool = False) -> int:
        """``by_user_id`` adds the bot; returns the id of the my_chat_member update."""
        chat = self._state.known_group(chat_id)
        user = self._state.known_user(by_user_id)
        chat.members.setdefault(by_user_id, "member")
        old = chat.bot_status
        chat.bot_status = "administrator" if as_admin else "member"
        return self._state.member_update("my_chat_member", chat, user, self._state.bot_user(), old, chat.bot_status)

    def set_member_status(self, chat_id: int, user_id: int, status: str) -> int | None:
        """Set a user's status in a group (e.g. "administrator"); returns a chat_member update id."""
        if status not in ("creator", "administrator", "member", "restricted", "left", "kicked"):
            raise ValueError(f"unknown chat member status {status!r}")
        chat = self._state.known_group(chat_id)
        user = self._state.known_user(user_id)
        old = chat.members.get(user_id, "left")
        chat.members[user_id] = status
        if chat.bot_status not in ("member", "administrator"):
            return None
        return self._state.member_update("chat_member", chat, user, user, old, status)

    def open_private_chat(self, user_id: int) -> None:
        """The user started the bot earlier (before this sandbox ran): the bot may write to them at once."""
        self._state.known_user(user_id)
        if user_id not in self._state.chats:
            self._state.chats[user_id] = Chat(user_id, "private", user_id=user_id, bot_status="member")

    # ------------------------------------------------------------------ user actions

    async def user_sends(
        self,
        user_id: int,
        text: str,
        *,
        chat_id: int | None = None,
        reply_to_message_id: int | None = None,
    ) -> int:
        """A user sends a text message; returns the update id."""
        if not text.strip():
            raise SandboxUsageError("Telegram clients cannot send an empty message")
        content: dict[str, Any] = {"text": text}
        entities = _detect_commands(text)
        if entities:
            content["entities"] = entities
        update_id = self._state.user_message(user_id, chat_id, content, reply_to_message_id)
        await asyncio.sleep(0)
        return update_id

    async def user_sends_document(
        self,
        user_id: int,
        filename: str,
        content: bytes,
        caption: str | None = None,
        *,
        chat_id: int | None = None,
        mime_type: str | None = None,
    ) -> int:
        """A user sends a file; the bot can fetch it through getFile and /file/bot<token>/."""
        if not content:
            raise SandboxUsageError("Telegram clients cannot send an empty file")
        stored = self._state.store_file("document", content, filename, mime_type)
        body: dict[str, Any] = {"document": self._state.document_json(stored)}
        if caption:
            body["caption"] = caption
        update_id = self._state.user_message(user_id, chat_id, body, None)
        await asyncio.sleep(0)
        return update_id

    async def user_sends_photo(
        self,
        user_id: int,
        content: bytes,
        caption: str | None = None,
        *,
        chat_id: int | None = None,
        size: tuple[int, int] = (640, 480),
    ) -> int:
        """A user sends a photo (Telegram's one size of it); the bot can fetch it through getFile."""
        if not content:
            raise SandboxUsageError("Telegram clients cannot send an empty file")
        stored = self._state.store_file("photo", content, None, "image/jpeg", size)
        photo = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "width": stored.width,
            "height": stored.height,
            "file_size": stored.size,
        }
        body: dict[str, Any] = {"photo": [photo]}
        if caption:
            body["caption"] = caption
        update_id = self._state.user_message(user_id, chat_id, body, None)
        await asyncio.sleep(0)
        return update_id

    async def user_taps(
        self, user_id: int, chat_id: int, message_id: int, callback_data: str, *, forged: bool = False
    ) -> tuple[int, str]:
        """A user presses an inline button; returns (update id, callback query id).

        ``forged=True`` sends callback data that no button of the message carries, as a modified
        client can: the bot must refuse it politely.
        """
        user = self._state.known_user(user_id)
        msg = self._state.messages.get((chat_id, message_id))
        if msg is None or msg.deleted:
            raise SandboxUsageError(f"message {message_id} in chat {chat_id} does not exist")
        if not msg.from_bot:
            raise SandboxUsageError("only messages sent by the bot have inline buttons")
        keyboard = (msg.markup or {}).get("inline_keyboard") or []
        if not forged and not any(b.get("callback_data") == callback_data for row in keyboard for b in row):
            raise SandboxUsageError(f"message {message_id} has no inline button with callback_data {callback_data!r}")
        if chat_id == user_id and user_id in self._state.blocked:
            raise SandboxUsageError(f"user {user_id} blocked the bot; unblock it first")
        query_id = str(4_000_000_000_000_000 + self._state.next_serial())
        self._state.callbacks[query_id] = Callback(query_id, user_id, chat_id, message_id, callback_data)
        chat_instance = str(int(hashlib.sha1(f"{chat_id}".encode()).hexdigest()[:15], 16))
        update_id = self._state.enqueue(
            "callback_query",
            {
                "id": query_id,
                "from": dict(user),
                "message": copy.deepcopy(msg.json),
                "chat_instance": chat_instance,
                "data": callback_data,
            },
        )
        await asyncio.sleep(0)
        return update_id, query_id

    def expect_handling_reports(self) -> None:
        """The bot handles updates as concurrent tasks (as in production) and reports each one it finished.

        A getUpdates offset then only confirms receipt; :meth:`report_handled` marks the end of handling.
        """
        self._state.handling_reported = True

    def report_handled(self, update_id: int) -> None:
        """The bot finished handling ``update_id`` (its replies, and its error handler's, are all sent)."""
        self._state.reported.add(update_id)
        if self._state.update_state.get(update_id) in ("delivered", "confirmed"):
            self._state.set_state(update_id, "handled")
        self._state.notify()

    @property
    def updates_queued(self) -> int:
        """How many updates users have caused so far."""
        return self._state.next_update_id - FIRST_UPDATE_ID

    async def wait_handled(self, update_id: int, timeout: float = 10.0) -> None:
        """Return once the bot has finished handling ``update_id``.

        Polling: confirmed by a getUpdates whose offset is above the id (aiogram with
        ``handle_as_tasks=False`` asks for the next batch only after handling). Webhook: the
        POST carrying the update got a 2xx answer (and its reply method, if any, ran).
        An update filtered out by allowed_updates counts as finished.
        """
        if update_id not in self._state.update_state:
            raise KeyError(f"unknown update_id {update_id}")
        state = self._state.update_state[update_id]
        if state not in FINAL_STATES:
            waiter = asyncio.get_running_loop().create_future()
            self._state.state_waiters.setdefault(update_id, []).append(waiter)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(waiter), timeout)
            state = self._state.update_state[update_id]
        if state in ("handled", "filtered"):
            return
        if state == "dropped":
            raise SandboxUsageError(
                f"update {update_id} ({self._state.update_kind[update_id]}) was dropped "
                "(drop_pending_updates or a negative offset) and will never be handled"
            )
        hint = {
            "queued": "the bot never fetched it: is polling running or a webhook set?",
            "delivered": "the bot received it but did not confirm it: handler still "
            "running, or polling with handle_as_tasks=True / webhook in background?",
            "confirmed": "the bot received it and has not reported it handled: handler still running?",
        }.get(state, "")
        raise TimeoutError(
            f"update {update_id} ({self._state.update_kind[update_id]}) was not handled "
            f"within {timeout:g}s; state={state}; {hint}"
        )

    async def wait_until(
        self,
        condition: Callable[[], bool],
        *,
        timeout: float = 10.0,
        what: str = "condition",
    ) -> None:
        """Return once ``condition()`` holds; it is re-checked after every sandbox state change."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not condition():
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"{what} did not become true within {timeout:g}s")
            await self._state.wait_change(remaining)

    async def wait_for_bot(self, timeout: float = 10.0) -> None:
        """Return once the bot is listening: a getUpdates is pending or a webhook is set."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self._api.listening:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"the bot did not start polling or set a webhook in {timeout:g}s")
            await self._state.wait_change(remaining)

    # ------------------------------------------------------------------ observation

    @property
    def last_seq(self) -> int:
        return self._state.last_seq

    @property
    def pending_update_count(self) -> int:
        return len(self._state.queue)

    def events(
        self,
        chat_id: int | None = None,
        *,
        since: int = 0,
        kinds: Sequence[str] | None = None,
    ) -> list[SandboxEvent]:
        """Events with ``seq > since``, optionally for one chat and of some kinds."""
        # Event n has seq n + 1 (events are only ever appended): the newer ones are a slice, not a scan.
        return [
            e
            for e in self._state.recorded[max(since, 0) :]
            if (chat_id is None or e.chat_id == chat_id) and (kinds is None or e.kind in kinds)
        ]

    async def wait_for_event(
        self,
        predicate: Callable[[SandboxEvent], bool],
        *,
        since: int = 0,
        timeout: float = 10.0,
    ) -> SandboxEvent:
        """First event after ``since`` matching ``predicate``, waiting for it if needed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for event in self.events(since=since):
                if predicate(event):
                    return event
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"no matching sandbox event within {timeout:g}s")
            await self._state.wait_change(remaining)

    def bot_messages(self, chat_id: int, *, include_deleted: bool = False) -> list[MessageState]:
        """Current state of every message the bot sent to ``chat_id``, oldest first."""
        mine = self._state.chat_messages(chat_id)
        return [m.state() for m in mine if m.from_bot and (include_deleted or not m.deleted)]

    def message(self, chat_id: int, message_id: int) -> MessageState:
        try:
            return self._state.messages[(chat_id, message_id)].state()
        except KeyError:
            raise KeyError(f"no message {message_id} in chat {chat_id}") from None

    def callback_answer(self, callback_query_id: str) -> Mapping[str, Any] | None:
        callback = self._state.callbacks.get(callback_query_id)
        return None if callback is None or callback.answer is None else dict(callback.answer)

    def update_state(self, update_id: int) -> UpdateState:
        return self._state.update_state[update_id]

    def file_content(self, file_id: str) -> bytes:
        return self._state.files[file_id].content

    def my_commands(self, scope: Mapping[str, Any] | None = None, language_code: str = "") -> list[dict[str, Any]]:
        return self._state.my_commands(scope, language_code)

    def my_description(self, language_code: str = "", *, short: bool = False) -> str:
        return self._state.my_description(language_code, short=short)

    def menu_button(self, chat_id: int | None = None) -> dict[str, Any]:
        return self._state.menu_button(chat_id)

    def user(self, user_id: int) -> dict[str, Any]:
        return dict(self._state.known_user(user_id))

    def is_blocked(self, user_id: int) -> bool:
        return user_id in self._state.blocked


def _detect_commands(text: str) -> list[dict[str, Any]]:
    return [
        {
            "type": "bot_command",
            "offset": utf16_len(text[: m.start()]),
            "length": utf16_len(m.group(0)),
        }
        for m in _COMMAND_RE.finditer(text)
    ]

"""Strict in-memory Telegram Bot API server ("the sandbox") that tests drive as Telegram users."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import json
import logging
import math
import mimetypes
import random
import re
import struct
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, Self
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from aiohttp.multipart import MultipartResponseWrapper

from bot.sandbox.spec import ApiError, UploadedFile, bad_request, load_spec, not_found
from bot.telegram_text import (
    CAPTION_LIMIT,
    TEXT_LIMIT,
    EntityParseError,
    UnsupportedParseMode,
    parse_formatted,
    utf16_len,
)

log = logging.getLogger(__name__)

_TOKEN_RE = re.compile(r"(\d+):([A-Za-z0-9_-]+)")
_SECRET_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")
_COMMAND_RE = re.compile(r"(?<!\S)/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?(?![A-Za-z0-9_@/])")
_BOT_COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")

# Spared from injected faults so that a bot under a fault storm can still start up and
# receive updates; the faults are meant for the delivery engine's outgoing calls.
_FAULT_EXEMPT = frozenset({"getUpdates", "getMe", "setWebhook", "deleteWebhook", "getWebhookInfo"})
_DEFAULT_EXCLUDED_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
_CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)

CONFLICT_POLLING = "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
CONFLICT_WEBHOOK = (
    "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first"
)
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)
QUERY_TOO_OLD = "query is too old and response timeout expired or query ID is invalid"

_DOCUMENT_LIMIT = 50 * 1024 * 1024
_PHOTO_LIMIT = 10 * 1024 * 1024
_WEBHOOK_TIMEOUT = 60.0

EventKind = Literal["sent", "edited", "deleted", "callback_answer", "chat_action"]
UpdateState = Literal["queued", "delivered", "confirmed", "handled", "filtered", "dropped"]
_FINAL_STATES = ("handled", "filtered", "dropped")


class SandboxUsageError(RuntimeError):
    """Test code asked the sandbox for something a Telegram user could not do."""


@dataclass
class SandboxStats:
    """Counters for delivery-engine tests; ``reset()`` clears them."""

    calls: Counter[str] = field(default_factory=Counter)
    rate_limited: int = 0
    errors_5xx: int = 0
    dropped_before: int = 0
    dropped_after: int = 0
    delivered: Counter[int] = field(default_factory=Counter)
    webhook_posts: int = 0
    webhook_failures: int = 0

    def reset(self) -> None:
        self.calls.clear()
        self.delivered.clear()
        self.rate_limited = self.errors_5xx = 0
        self.dropped_before = self.dropped_after = 0
        self.webhook_posts = self.webhook_failures = 0


@dataclass(frozen=True)
class MessageState:
    """A message as it stands at one moment (the current state or an event snapshot)."""

    chat_id: int
    message_id: int
    from_bot: bool
    text: str | None
    entities: tuple[Mapping[str, Any], ...]
    caption: str | None
    caption_entities: tuple[Mapping[str, Any], ...]
    # Whatever reply_markup the bot attached: inline keyboard, reply keyboard,
    # ReplyKeyboardRemove or ForceReply (Telegram only echoes inline ones in Message).
    reply_markup: Mapping[str, Any] | None
    document: Mapping[str, Any] | None
    photo: tuple[Mapping[str, Any], ...] | None
    edited: bool
    deleted: bool
    message: Mapping[str, Any]

    @property
    def inline(self) -> bool:
        return bool(self.reply_markup and "inline_keyboard" in self.reply_markup)

    @property
    def buttons(self) -> list[list[Mapping[str, Any]]]:
        """Button rows (inline or reply keyboard); empty when the message has none."""
        if not self.reply_markup:
            return []
        rows = self.reply_markup.get("inline_keyboard") or self.reply_markup.get("keyboard")
        return [list(row) for row in rows or []]

    @property
    def content(self) -> str | None:
        return self.text if self.text is not None else self.caption


@dataclass(frozen=True)
class SandboxEvent:
    """One observable thing the bot did; ``seq`` grows monotonically across all chats."""

    seq: int
    kind: EventKind
    chat_id: int
    message_id: int | None
    state: MessageState | None
    data: Mapping[str, Any]
    time: float


@dataclass
class _Message:
    chat_id: int
    message_id: int
    from_bot: bool
    json: dict[str, Any]
    markup: dict[str, Any] | None = None
    edited: bool = False
    deleted: bool = False

    def state(self) -> MessageState:
        return MessageState(
            chat_id=self.chat_id,
            message_id=self.message_id,
            from_bot=self.from_bot,
            text=self.json.get("text"),
            entities=tuple(copy.deepcopy(self.json.get("entities", []))),
            caption=self.json.get("caption"),
            caption_entities=tuple(copy.deepcopy(self.json.get("caption_entities", []))),
            reply_markup=copy.deepcopy(self.markup),
            document=copy.deepcopy(self.json.get("document")),
            photo=tuple(copy.deepcopy(self.json["photo"])) if "photo" in self.json else None,
            edited=self.edited,
            deleted=self.deleted,
            message=copy.deepcopy(self.json),
        )


@dataclass
class _Chat:
    id: int
    type: str
    title: str | None = None
    user_id: int | None = None
    next_message_id: int = 1
    members: dict[int, str] = field(default_factory=dict)
    bot_status: str = "left"
    menu_button: dict[str, Any] | None = None


@dataclass
class _Update:
    update_id: int
    kind: str
    payload: dict[str, Any]


@dataclass
class _Callback:
    id: str
    user_id: int
    chat_id: int
    message_id: int
    data: str
    answer: dict[str, Any] | None = None


@dataclass
class _File:
    file_id: str
    file_unique_id: str
    kind: str
    content: bytes
    file_name: str | None
    mime_type: str | None
    file_path: str
    width: int = 0
    height: int = 0

    @property
    def size(self) -> int:
        return len(self.content)


@dataclass
class _Webhook:
    url: str
    secret_token: str | None
    max_connections: int
    ip_address: str | None


@dataclass
class _Bucket:
    rate: float
    capacity: float
    tokens: float
    stamp: float

    def refill(self, now: float) -> None:
        if now > self.stamp:
            self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now

    def wait_time(self, now: float) -> float:
        self.refill(now)
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate


@dataclass
class _RateLimits:
    global_per_second: float | None
    per_chat_per_second: float | None
    per_chat_burst: int
    group_per_minute: int | None
    global_bucket: _Bucket | None = None
    chat_buckets: dict[int, _Bucket] = field(default_factory=dict)
    group_buckets: dict[int, _Bucket] = field(default_factory=dict)


def _bucket(rate: float, capacity: float) -> _Bucket:
    return _Bucket(rate, capacity, capacity, time.monotonic())


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
        self.bot_username = bot_username
        self.bot_first_name = bot_first_name
        self.webhook_retry_delay = webhook_retry_delay
        self.stats = SandboxStats()
        # Reply methods returned in webhook answers have no caller to report to.
        self.webhook_reply_errors: list[str] = []
        self._spec = load_spec()
        self._rng = random.Random(seed)
        self._token: str | None = None
        self._bot_id = 0
        if token is not None:
            self._claim_token(token)

        self._users: dict[int, dict[str, Any]] = {}
        self._chats: dict[int, _Chat] = {}
        self._groups: dict[int, _Chat] = {}
        self._blocked: set[int] = set()
        self._messages: dict[tuple[int, int], _Message] = {}
        # The same messages by chat, for `bot_messages`: a scan of every chat's cost 2 s in a 500-person test.
        self._chat_messages: dict[int, dict[int, _Message]] = {}
        self._events: list[SandboxEvent] = []
        self._callbacks: dict[str, _Callback] = {}
        self._files: dict[str, _File] = {}
        self._files_by_path: dict[str, _File] = {}
        self._commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._descriptions: dict[tuple[str, str], str] = {}
        self._default_menu_button: dict[str, Any] = {"type": "default"}

        self._queue: list[_Update] = []
        self._update_state: dict[int, UpdateState] = {}
        self._update_kind: dict[int, str] = {}
        self._next_update_id = 100_000_001
        self._allowed_updates: list[str] | None = None
        # With the bot handling updates as tasks, only the bot can say when one is finished (report_handled).
        self._handling_reported = False
        self._reported: set[int] = set()
        self._state_waiters: dict[int, list[asyncio.Future[None]]] = {}
        self._held = 0
        self._poll_generation = 0
        self._polls_active = 0
        self._webhook: _Webhook | None = None
        self._webhook_task: asyncio.Task[None] | None = None
        self._last_error_date: int | None = None
        self._last_error_message: str | None = None

        self._latency = 0.0
        self._error_5xx_rate = 0.0
        self._drop_before_rate = 0.0
        self._drop_after_rate = 0.0
        self._limits: _RateLimits | None = None

        self._changed = asyncio.Event()
        self._stopping = False
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None
        self._base_url: str | None = None
        self._counter = 0

        self._handlers: dict[str, Callable[[dict[str, Any]], Any]] = {
            "getMe": self._m_get_me,
            "logOut": lambda _a: True,
            "close": lambda _a: True,
            "getUpdates": self._m_get_updates,
            "setWebhook": self._m_set_webhook,
            "deleteWebhook": self._m_delete_webhook,
            "getWebhookInfo": self._m_get_webhook_info,
            "sendMessage": self._m_send_message,
            "sendDocument": self._m_send_document,
            "sendPhoto": self._m_send_photo,
            "sendChatAction": self._m_send_chat_action,
            "editMessageText": self._m_edit_message_text,
            "editMessageCaption": self._m_edit_message_caption,
            "editMessageReplyMarkup": self._m_edit_message_reply_markup,
            "deleteMessage": self._m_delete_message,
            "answerCallbackQuery": self._m_answer_callback_query,
            "setMyCommands": self._m_set_my_commands,
            "getMyCommands": self._m_get_my_commands,
            "deleteMyCommands": self._m_delete_my_commands,
            "setMyDescription": self._m_set_my_description,
            "getMyDescription": self._m_get_my_description,
            "setMyShortDescription": self._m_set_my_short_description,
            "getMyShortDescription": self._m_get_my_short_description,
            "setChatMenuButton": self._m_set_chat_menu_button,
            "getChatMenuButton": self._m_get_chat_menu_button,
            "getChat": self._m_get_chat,
            "getChatMember": self._m_get_chat_member,
            "getFile": self._m_get_file,
        }

    # ------------------------------------------------------------------ lifecycle

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        app = web.Application(client_max_size=_DOCUMENT_LIMIT + 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle_http)
        # handler_cancellation: a bot that goes away must not leave a ghost long poll.
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound_port = self._runner.addresses[0][1]
        self._base_url = f"http://{host}:{bound_port}"
        self._http = aiohttp.ClientSession()
        self._stopping = False

    async def stop(self) -> None:
        self._stopping = True
        self._notify()
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._webhook_task
            self._webhook_task = None
        if self._http is not None:
            await self._http.close()
            self._http = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

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
        if self._base_url is None:
            raise RuntimeError("SandboxServer is not started")
        return self._base_url

    @property
    def bot_id(self) -> int:
        return self._bot_id

    # ------------------------------------------------------------------ switches

    def set_rate_limits(
        self,
        global_per_second: float | None = 30,
        per_chat_per_second: float | None = 1,
        per_chat_burst: int = 1,
        group_per_minute: int | None = 20,
    ) -> None:
        """Enable Telegram-like flood limits on send*/copy*/forward* (None disables one)."""
        limits = _RateLimits(global_per_second, per_chat_per_second, max(1, per_chat_burst), group_per_minute)
        if global_per_second:
            limits.global_bucket = _bucket(global_per_second, max(1.0, global_per_second))
        self._limits = limits

    def clear_rate_limits(self) -> None:
        self._limits = None

    def set_latency(self, seconds: float) -> None:
        """Delay every bot call by ``seconds`` before it is processed."""
        self._latency = max(0.0, seconds)

    def set_faults(
        self,
        error_5xx_rate: float = 0.0,
        drop_before_rate: float = 0.0,
        drop_after_rate: float = 0.0,
    ) -> None:
        """Inject transport faults into bot calls, drawn from the seeded RNG."""
        for rate in (error_5xx_rate, drop_before_rate, drop_after_rate):
            if not 0.0 <= rate <= 1.0:
                raise ValueError("fault rates must be between 0 and 1")
        if error_5xx_rate + drop_before_rate > 1.0:
            raise ValueError("error_5xx_rate + drop_before_rate must not exceed 1")
        self._error_5xx_rate = error_5xx_rate
        self._drop_before_rate = drop_before_rate
        self._drop_after_rate = drop_after_rate

    def block(self, user_id: int) -> int | None:
        """The user blocks the bot; returns the my_chat_member update id if one was created."""
        user = self._user(user_id)
        if user_id in self._blocked:
            return None
        self._blocked.add(user_id)
        return self._private_member_update(user, "member", "kicked")

    def unblock(self, user_id: int) -> int | None:
        user = self._user(user_id)
        if user_id not in self._blocked:
            return None
        self._blocked.discard(user_id)
        return self._private_member_update(user, "kicked", "member")

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
        self._users[user_id] = user
        return dict(user)

    def add_group(self, chat_id: int, title: str, *, supergroup: bool = False) -> dict[str, Any]:
        if chat_id >= 0:
            raise ValueError("group chat ids are negative")
        if supergroup and not str(chat_id).startswith("-100"):
            raise ValueError("supergroup ids look like -100xxxxxxxxxx")
        chat = _Chat(chat_id, "supergroup" if supergroup else "group", title=title)
        self._chats[chat_id] = chat
        self._groups[chat_id] = chat
        return self._chat_json(chat)

    def add_bot_to_group(self, chat_id: int, by_user_id: int, *, as_admin: bool = False) -> int:
        """``by_user_id`` adds the bot; returns the id of the my_chat_member update."""
        chat = self._group(chat_id)
        user = self._user(by_user_id)
        chat.members.setdefault(by_user_id, "member")
        old = chat.bot_status
        chat.bot_status = "administrator" if as_admin else "member"
        return self._member_update("my_chat_member", chat, user, self._bot_user(), old, chat.bot_status)

    def set_member_status(self, chat_id: int, user_id: int, status: str) -> int | None:
        """Set a user's status in a group (e.g. "administrator"); returns a chat_member update id."""
        if status not in ("creator", "administrator", "member", "restricted", "left", "kicked"):
            raise ValueError(f"unknown chat member status {status!r}")
        chat = self._group(chat_id)
        user = self._user(user_id)
        old = chat.members.get(user_id, "left")
        chat.members[user_id] = status
        if chat.bot_status not in ("member", "administrator"):
            return None
        return self._member_update("chat_member", chat, user, user, old, status)

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
        update_id = self._user_message(user_id, chat_id, content, reply_to_message_id)
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
        stored = self._store_file("document", content, filename, mime_type)
        body: dict[str, Any] = {"document": self._document_json(stored)}
        if caption:
            body["caption"] = caption
        update_id = self._user_message(user_id, chat_id, body, None)
        await asyncio.sleep(0)
        return update_id

    async def user_taps(
        self, user_id: int, chat_id: int, message_id: int, callback_data: str, *, forged: bool = False
    ) -> tuple[int, str]:
        """A user presses an inline button; returns (update id, callback query id).

        ``forged=True`` sends callback data that no button of the message carries, as a modified
        client can: the bot must refuse it politely.
        """
        user = self._user(user_id)
        msg = self._messages.get((chat_id, message_id))
        if msg is None or msg.deleted:
            raise SandboxUsageError(f"message {message_id} in chat {chat_id} does not exist")
        if not msg.from_bot:
            raise SandboxUsageError("only messages sent by the bot have inline buttons")
        keyboard = (msg.markup or {}).get("inline_keyboard") or []
        if not forged and not any(b.get("callback_data") == callback_data for row in keyboard for b in row):
            raise SandboxUsageError(f"message {message_id} has no inline button with callback_data {callback_data!r}")
        if chat_id == user_id and user_id in self._blocked:
            raise SandboxUsageError(f"user {user_id} blocked the bot; unblock it first")
        self._counter += 1
        query_id = str(4_000_000_000_000_000 + self._counter)
        self._callbacks[query_id] = _Callback(query_id, user_id, chat_id, message_id, callback_data)
        chat_instance = str(int(hashlib.sha1(f"{chat_id}".encode()).hexdigest()[:15], 16))
        update_id = self._enqueue(
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
        self._handling_reported = True

    def report_handled(self, update_id: int) -> None:
        """The bot finished handling ``update_id`` (its replies, and its error handler's, are all sent)."""
        self._reported.add(update_id)
        if self._update_state.get(update_id) in ("delivered", "confirmed"):
            self._set_state(update_id, "handled")
        self._notify()

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Updates queued inside the block reach the bot together, in one getUpdates batch, when it ends."""
        self._held += 1
        try:
            yield
        finally:
            self._held -= 1
            self._notify()

    @property
    def updates_queued(self) -> int:
        """How many updates users have caused so far."""
        return self._next_update_id - 100_000_001

    async def wait_handled(self, update_id: int, timeout: float = 10.0) -> None:
        """Return once the bot has finished handling ``update_id``.

        Polling: confirmed by a getUpdates whose offset is above the id (aiogram with
        ``handle_as_tasks=False`` asks for the next batch only after handling). Webhook: the
        POST carrying the update got a 2xx answer (and its reply method, if any, ran).
        An update filtered out by allowed_updates counts as finished.
        """
        if update_id not in self._update_state:
            raise KeyError(f"unknown update_id {update_id}")
        state = self._update_state[update_id]
        if state not in _FINAL_STATES:
            waiter = asyncio.get_running_loop().create_future()
            self._state_waiters.setdefault(update_id, []).append(waiter)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(waiter), timeout)
            state = self._update_state[update_id]
        if state in ("handled", "filtered"):
            return
        if state == "dropped":
            raise SandboxUsageError(
                f"update {update_id} ({self._update_kind[update_id]}) was dropped "
                "(drop_pending_updates or a negative offset) and will never be handled"
            )
        hint = {
            "queued": "the bot never fetched it: is polling running or a webhook set?",
            "delivered": "the bot received it but did not confirm it: handler still "
            "running, or polling with handle_as_tasks=True / webhook in background?",
            "confirmed": "the bot received it and has not reported it handled: handler still running?",
        }.get(state, "")
        raise TimeoutError(
            f"update {update_id} ({self._update_kind[update_id]}) was not handled "
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
            await self._wait_change(remaining)

    async def wait_for_bot(self, timeout: float = 10.0) -> None:
        """Return once the bot is listening: a getUpdates is pending or a webhook is set."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not (self._polls_active or self._webhook is not None):
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"the bot did not start polling or set a webhook in {timeout:g}s")
            await self._wait_change(remaining)

    # ------------------------------------------------------------------ observation

    @property
    def last_seq(self) -> int:
        return self._events[-1].seq if self._events else 0

    @property
    def pending_update_count(self) -> int:
        return len(self._queue)

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
            for e in self._events[max(since, 0) :]
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
            await self._wait_change(remaining)

    def bot_messages(self, chat_id: int, *, include_deleted: bool = False) -> list[MessageState]:
        """Current state of every message the bot sent to ``chat_id``, oldest first."""
        mine = sorted(self._chat_messages.get(chat_id, {}).items())
        return [m.state() for _id, m in mine if m.from_bot and (include_deleted or not m.deleted)]

    def message(self, chat_id: int, message_id: int) -> MessageState:
        try:
            return self._messages[(chat_id, message_id)].state()
        except KeyError:
            raise KeyError(f"no message {message_id} in chat {chat_id}") from None

    def callback_answer(self, callback_query_id: str) -> Mapping[str, Any] | None:
        callback = self._callbacks.get(callback_query_id)
        return None if callback is None or callback.answer is None else dict(callback.answer)

    def update_state(self, update_id: int) -> UpdateState:
        return self._update_state[update_id]

    def file_content(self, file_id: str) -> bytes:
        return self._files[file_id].content

    def my_commands(self, scope: Mapping[str, Any] | None = None, language_code: str = "") -> list[dict[str, Any]]:
        return copy.deepcopy(self._commands.get((_scope_key(scope), language_code), []))

    def my_description(self, language_code: str = "", *, short: bool = False) -> str:
        return self._descriptions.get(("short" if short else "long", language_code), "")

    def menu_button(self, chat_id: int | None = None) -> dict[str, Any]:
        chat = self._chats.get(chat_id) if chat_id is not None else None
        if chat is not None and chat.menu_button is not None:
            return dict(chat.menu_button)
        return dict(self._default_menu_button)

    def user(self, user_id: int) -> dict[str, Any]:
        return dict(self._user(user_id))

    def is_blocked(self, user_id: int) -> bool:
        return user_id in self._blocked

    # ------------------------------------------------------------------ HTTP layer

    async def _handle_http(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if path.startswith("/file/bot"):
            return self._serve_file(path)
        match = re.fullmatch(r"/bot([^/]*)/([^/]+)", path)
        if match is None:
            return _json(not_found().payload(), 404)
        token, method_name = match.groups()
        try:
            self._claim_token(token)
        except ApiError as exc:
            return _json(exc.payload(), exc.status)
        method = self._spec.canonical_method(method_name)
        if method is None:
            return _json(not_found().payload(), 404)
        try:
            params, files = await self._read_params(request)
        except ApiError as exc:
            return _json(exc.payload(), exc.status)

        self.stats.calls[method] += 1
        if self._latency:
            await asyncio.sleep(self._latency)
        faultable = method not in _FAULT_EXEMPT
        if faultable and (self._drop_before_rate or self._error_5xx_rate):
            draw = self._rng.random()
            if draw < self._drop_before_rate:
                self.stats.dropped_before += 1
                return _drop(request)
            if draw < self._drop_before_rate + self._error_5xx_rate:
                self.stats.errors_5xx += 1
                if self._rng.random() < 0.5:
                    return _json(ApiError(502, "Bad Gateway").payload(), 502)
                return _json(ApiError(500, "Internal Server Error").payload(), 500)

        try:
            result = await self._execute(method, params, files)
            body: dict[str, Any] = {"ok": True, "result": result}
            status = 200
        except ApiError as exc:
            body, status = exc.payload(), exc.status
        if faultable and self._drop_after_rate and self._rng.random() < self._drop_after_rate:
            self.stats.dropped_after += 1
            return _drop(request)
        return _json(body, status)

    async def _read_params(self, request: web.Request) -> tuple[dict[str, Any], dict[str, UploadedFile]]:
        params: dict[str, Any] = dict(request.query)
        files: dict[str, UploadedFile] = {}
        if request.method != "POST" or not request.body_exists:
            return params, files
        content_type = request.content_type
        if content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                raise bad_request("can't parse JSON request body") from None
            if not isinstance(body, dict):
                raise bad_request("JSON request body must be an object")
            params.update(body)
        elif content_type == "multipart/form-data":
            if not await _read_multipart(await request.multipart(), params, files):
                raise bad_request("malformed multipart request")
        elif content_type == "application/x-www-form-urlencoded":
            form = await request.post()
            params.update({k: v for k, v in form.items() if isinstance(v, str)})
        return params, files

    def _serve_file(self, path: str) -> web.Response:
        match = re.fullmatch(r"/file/bot([^/]*)/(.+)", path)
        if match is None:
            return _json(not_found().payload(), 404)
        try:
            self._claim_token(match.group(1))
        except ApiError as exc:
            return _json(exc.payload(), exc.status)
        stored = self._files_by_path.get(match.group(2))
        if stored is None:
            return _json(not_found().payload(), 404)
        return web.Response(body=stored.content, content_type=stored.mime_type or "application/octet-stream")

    def _claim_token(self, token: str) -> None:
        match = _TOKEN_RE.fullmatch(token)
        if match is None:
            raise ApiError(401, "Unauthorized")
        if self._token is None:
            self._token = token
            self._bot_id = int(match.group(1))
        elif token != self._token:
            # One bot per world: a second token is almost certainly a wiring mistake.
            raise ApiError(401, "Unauthorized")

    async def _execute(self, method: str, params: Mapping[str, Any], files: Mapping[str, UploadedFile]) -> Any:
        handler = self._handlers.get(method)
        if handler is None:
            raise bad_request(f"method {method} is not supported by the sandbox")
        args = self._spec.validate_call(method, params, files)
        if self._limits is not None and _is_flood_limited(method):
            self._check_rate(args)
        result = handler(args)
        if isinstance(result, Awaitable):
            result = await result
        return result

    # ------------------------------------------------------------------ plumbing

    def _notify(self) -> None:
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    async def _wait_change(self, seconds: float | None) -> None:
        event = self._changed
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), seconds)

    def _add_message(self, message: _Message) -> None:
        self._messages[(message.chat_id, message.message_id)] = message
        self._chat_messages.setdefault(message.chat_id, {})[message.message_id] = message

    def _set_state(self, update_id: int, state: UpdateState) -> None:
        self._update_state[update_id] = state
        if state in _FINAL_STATES:
            # Each waiter is woken once, when its own update is done, not at every change of the sandbox.
            for waiter in self._state_waiters.pop(update_id, ()):
                if not waiter.done():
                    waiter.set_result(None)

    def _enqueue(self, kind: str, body: dict[str, Any]) -> int:
        update_id = self._next_update_id
        self._next_update_id += 1
        self._queue.append(_Update(update_id, kind, {"update_id": update_id, kind: body}))
        self._set_state(update_id, "queued")
        self._update_kind[update_id] = kind
        self._notify()
        return update_id

    def _record(
        self,
        kind: EventKind,
        chat_id: int,
        message_id: int | None,
        state: MessageState | None,
        data: Mapping[str, Any] | None = None,
    ) -> SandboxEvent:
        event = SandboxEvent(self.last_seq + 1, kind, chat_id, message_id, state, dict(data or {}), time.time())
        self._events.append(event)
        self._notify()
        return event

    def _is_allowed(self, kind: str) -> bool:
        if not self._allowed_updates:
            return kind not in _DEFAULT_EXCLUDED_UPDATES
        return kind in self._allowed_updates

    def _drop_queued(self, updates: Sequence[_Update]) -> None:
        for update in updates:
            if self._update_state[update.update_id] in ("queued", "delivered"):
                self._set_state(update.update_id, "dropped")

    def _check_rate(self, args: Mapping[str, Any]) -> None:
        limits = self._limits
        assert limits is not None
        chat_id = args.get("chat_id")
        buckets: list[_Bucket] = []
        if limits.global_bucket is not None and not args.get("allow_paid_broadcast"):
            buckets.append(limits.global_bucket)
        if isinstance(chat_id, int):
            if limits.per_chat_per_second:
                buckets.append(
                    limits.chat_buckets.setdefault(chat_id, _bucket(limits.per_chat_per_second, limits.per_chat_burst))
                )
            if chat_id < 0 and limits.group_per_minute:
                buckets.append(
                    limits.group_buckets.setdefault(
                        chat_id, _bucket(limits.group_per_minute / 60, limits.group_per_minute)
                    )
                )
        now = time.monotonic()
        wait = max((b.wait_time(now) for b in buckets), default=0.0)
        if wait > 0:
            self.stats.rate_limited += 1
            retry_after = max(1, math.ceil(wait))
            raise ApiError(
                429,
                f"Too Many Requests: retry after {retry_after}",
                {"retry_after": retry_after},
            )
        for bucket in buckets:
            bucket.tokens -= 1

    def _user(self, user_id: int) -> dict[str, Any]:
        try:
            return self._users[user_id]
        except KeyError:
            raise SandboxUsageError(f"unknown user {user_id}; call add_user first") from None

    def _group(self, chat_id: int) -> _Chat:
        try:
            return self._groups[chat_id]
        except KeyError:
            raise SandboxUsageError(f"unknown group {chat_id}; call add_group first") from None

    def _bot_user(self) -> dict[str, Any]:
        return {
            "id": self._bot_id,
            "is_bot": True,
            "first_name": self.bot_first_name,
            "username": self.bot_username,
        }

    def _chat_json(self, chat: _Chat) -> dict[str, Any]:
        if chat.type == "private":
            user = self._users[chat.id]
            body = {"id": chat.id, "type": "private", "first_name": user["first_name"]}
            for key in ("last_name", "username"):
                if key in user:
                    body[key] = user[key]
            return body
        return {"id": chat.id, "type": chat.type, "title": chat.title}

    def _member_json(self, chat: _Chat, user: Mapping[str, Any], status: str) -> dict[str, Any]:
        """A ChatMember object of the right subtype, every required field filled in."""
        subtype = next(
            self._spec.types[name]
            for name in self._spec.types["ChatMember"].subtypes
            if self._spec.types[name].discriminator == ("status", status)
        )
        body: dict[str, Any] = {}
        for fs in subtype.fields.values():
            if not fs.required:
                continue
            if fs.name == "status":
                body["status"] = status
            elif fs.name == "user":
                body["user"] = dict(user)
            elif fs.types == ("Boolean",):
                body[fs.name] = (
                    status == "administrator" and fs.name.startswith("can_") and fs.name != "can_be_edited"
                ) or fs.name == "is_member"
            elif fs.types == ("Integer",):
                body[fs.name] = 0
        if status == "administrator":
            # Required by aiogram 3.31 (Bot API 10.3) although the bundled 10.1 spec lacks it.
            body.setdefault("can_send_welcome_messages", True)
        return body

    def _member_update(
        self,
        kind: str,
        chat: _Chat,
        actor: Mapping[str, Any],
        subject: Mapping[str, Any],
        old: str,
        new: str,
    ) -> int:
        """Enqueue a ChatMemberUpdated: ``actor`` changed ``subject`` from ``old`` to ``new``."""
        return self._enqueue(
            kind,
            {
                "chat": self._chat_json(chat),
                "from": dict(actor),
                "date": _now(),
                "old_chat_member": self._member_json(chat, subject, old),
                "new_chat_member": self._member_json(chat, subject, new),
            },
        )

    def _private_member_update(self, user: Mapping[str, Any], old: str, new: str) -> int | None:
        chat = self._chats.get(user["id"])
        if chat is None:
            return None
        return self._member_update("my_chat_member", chat, user, self._bot_user(), old, new)

    def open_private_chat(self, user_id: int) -> None:
        """The user started the bot earlier (before this sandbox ran): the bot may write to them at once."""
        self._user(user_id)
        if user_id not in self._chats:
            self._chats[user_id] = _Chat(user_id, "private", user_id=user_id, bot_status="member")

    def _user_message(
        self,
        user_id: int,
        chat_id: int | None,
        content: dict[str, Any],
        reply_to_message_id: int | None,
    ) -> int:
        user = self._user(user_id)
        if chat_id is None or chat_id == user_id:
            if user_id in self._blocked:
                raise SandboxUsageError(f"user {user_id} blocked the bot; unblock it first")
            chat = self._chats.get(user_id)
            if chat is None:
                chat = _Chat(user_id, "private", user_id=user_id, bot_status="member")
                self._chats[user_id] = chat
        else:
            chat = self._group(chat_id)
            if chat.bot_status not in ("member", "administrator"):
                raise SandboxUsageError(f"the bot is not in group {chat_id}; call add_bot_to_group first")
            if chat.members.get(user_id) == "kicked":
                raise SandboxUsageError(f"user {user_id} is banned from group {chat_id}")
            if chat.members.get(user_id, "left") == "left":
                chat.members[user_id] = "member"
        message_id = chat.next_message_id
        chat.next_message_id += 1
        body: dict[str, Any] = {
            "message_id": message_id,
            "from": dict(user),
            "chat": self._chat_json(chat),
            "date": _now(),
        }
        if reply_to_message_id is not None:
            replied = self._messages.get((chat.id, reply_to_message_id))
            if replied is None or replied.deleted:
                raise SandboxUsageError(f"message {reply_to_message_id} does not exist")
            body["reply_to_message"] = _without_reply(replied.json)
        body.update(content)
        self._add_message(_Message(chat.id, message_id, False, body))
        return self._enqueue("message", copy.deepcopy(body))

    def _store_file(
        self,
        kind: str,
        content: bytes,
        filename: str | None,
        mime_type: str | None,
        size: tuple[int, int] = (0, 0),
    ) -> _File:
        self._counter += 1
        digest = hashlib.sha256(f"{kind}:{self._counter}:{len(content)}".encode()).hexdigest()
        prefix = "AgAC" if kind == "photo" else "BQAC"
        if mime_type is None and filename:
            mime_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        extension = ""
        if filename and "." in filename:
            extension = "." + filename.rsplit(".", 1)[1]
        elif kind == "photo":
            extension = ".jpg"
        stored = _File(
            file_id=f"{prefix}AgIAAxkBAAI{digest[:40]}",
            file_unique_id=f"AQAD{digest[40:52]}",
            kind=kind,
            content=content,
            file_name=filename,
            mime_type=mime_type,
            file_path=f"{kind}s/file_{self._counter}{extension}",
            width=size[0],
            height=size[1],
        )
        self._files[stored.file_id] = stored
        self._files_by_path[stored.file_path] = stored
        return stored

    def _document_json(self, stored: _File) -> dict[str, Any]:
        body: dict[str, Any] = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.size,
        }
        if stored.file_name:
            body["file_name"] = stored.file_name
        if stored.mime_type:
            body["mime_type"] = stored.mime_type
        return body

    # ------------------------------------------------------------------ bot-side helpers

    def _target_chat(self, chat_id: Any) -> _Chat:
        """The chat a bot call addresses, with Telegram's errors for unusable chats."""
        chat = self._chats.get(chat_id) if isinstance(chat_id, int) else None
        if chat is None:
            raise bad_request("chat not found")
        if chat.type == "private":
            if chat.id in self._blocked:
                raise ApiError(403, "Forbidden: bot was blocked by the user")
        elif chat.bot_status == "kicked":
            raise ApiError(403, f"Forbidden: bot was kicked from the {chat.type} chat")
        elif chat.bot_status == "left":
            raise ApiError(403, f"Forbidden: bot is not a member of the {chat.type} chat")
        return chat

    def _format(
        self, text: str, parse_mode: str | None, entities: list[dict[str, Any]] | None
    ) -> tuple[str, list[dict[str, Any]]]:
        try:
            return parse_formatted(text, parse_mode, entities)
        except (EntityParseError, UnsupportedParseMode) as exc:
            raise bad_request(str(exc)) from None

    def _message_text(self, args: Mapping[str, Any]) -> tuple[str, list[dict[str, Any]]]:
        text, entities = self._format(args["text"], args.get("parse_mode"), args.get("entities"))
        if not text:
            raise bad_request("message text is empty")
        if utf16_len(text) > TEXT_LIMIT:
            raise bad_request("message is too long")
        return text, entities

    def _caption(self, args: Mapping[str, Any]) -> tuple[str | None, list[dict[str, Any]]]:
        if "caption" not in args:
            return None, []
        caption, entities = self._format(args["caption"], args.get("parse_mode"), args.get("caption_entities"))
        if utf16_len(caption) > CAPTION_LIMIT:
            raise bad_request("message caption is too long")
        return (caption or None), entities

    def _deliver(self, chat: _Chat, args: Mapping[str, Any], content: dict[str, Any]) -> dict[str, Any]:
        """Create a bot message in ``chat`` from the send* arguments and the content fields."""
        reply_to = (args.get("reply_parameters") or {}).get("message_id")
        if reply_to is None:
            reply_to = args.get("reply_to_message_id")
        allow_missing = (args.get("reply_parameters") or {}).get(
            "allow_sending_without_reply", args.get("allow_sending_without_reply", False)
        )
        replied: _Message | None = None
        if reply_to is not None:
            replied = self._messages.get((chat.id, reply_to))
            if (replied is None or replied.deleted) and not allow_missing:
                raise bad_request("message to be replied not found")
        message_id = chat.next_message_id
        chat.next_message_id += 1
        body: dict[str, Any] = {
            "message_id": message_id,
            "from": self._bot_user(),
            "chat": self._chat_json(chat),
            "date": _now(),
        }
        if replied is not None and not replied.deleted:
            body["reply_to_message"] = _without_reply(replied.json)
        body.update(content)
        if args.get("protect_content"):
            body["has_protected_content"] = True
        markup = args.get("reply_markup")
        if markup and "inline_keyboard" in markup:
            body["reply_markup"] = markup
        stored = _Message(chat.id, message_id, True, body, markup=markup)
        self._add_message(stored)
        self.stats.delivered[chat.id] += 1
        self._record("sent", chat.id, message_id, stored.state())
        return copy.deepcopy(body)

    def _editable(self, args: Mapping[str, Any], missing: str) -> _Message:
        if "inline_message_id" in args:
            raise bad_request("inline messages are not supported by the sandbox")
        if "chat_id" not in args:
            raise bad_request("chat_id is empty")
        if "message_id" not in args:
            raise bad_request("message identifier is not specified")
        chat = self._target_chat(args["chat_id"])
        msg = self._messages.get((chat.id, args["message_id"]))
        if msg is None or msg.deleted:
            raise bad_request(missing)
        return msg

    def _apply_edit(
        self,
        msg: _Message,
        fields: Mapping[str, Any],
        markup: dict[str, Any] | None,
    ) -> dict[str, Any]:
        """Apply new content (``None`` removes a field) unless nothing would change."""
        current = {key: msg.json.get(key) for key in fields}
        wanted = {key: value or None for key, value in fields.items()}
        if current == wanted and msg.json.get("reply_markup") == markup:
            raise bad_request(NOT_MODIFIED)
        for key, value in wanted.items():
            if value is None:
                msg.json.pop(key, None)
            else:
                msg.json[key] = value
        if markup is None:
            msg.json.pop("reply_markup", None)
        else:
            msg.json["reply_markup"] = markup
        # A reply keyboard lives on in the chat; only inline keyboards belong to the message.
        if markup is not None or msg.markup is None or "inline_keyboard" in msg.markup:
            msg.markup = markup
        msg.json["edit_date"] = _now()
        msg.edited = True
        self._record("edited", msg.chat_id, msg.message_id, msg.state())
        return copy.deepcopy(msg.json)

    def _own(self, msg: _Message) -> None:
        if not msg.from_bot:
            raise bad_request("message can't be edited")

    # ------------------------------------------------------------------ methods

    def _m_get_me(self, _args: Mapping[str, Any]) -> dict[str, Any]:
        return {
            **self._bot_user(),
            "can_join_groups": True,
            "can_read_all_group_messages": True,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _m_get_updates(self, args: Mapping[str, Any]) -> list[dict[str, Any]]:
        if self._webhook is not None:
            raise ApiError(409, CONFLICT_WEBHOOK)
        limit = args.get("limit", 100)
        if not 1 <= limit <= 100:
            raise bad_request("limit must be between 1 and 100")
        timeout = max(0, args.get("timeout", 0))
        if "allowed_updates" in args:
            self._allowed_updates = list(args["allowed_updates"]) or None
        # Telegram lets the newest request win and answers the older one with 409.
        self._poll_generation += 1
        generation = self._poll_generation
        self._notify()
        offset = args.get("offset")
        if offset:
            self._confirm(offset)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        self._polls_active += 1
        self._notify()
        try:
            while True:
                if generation != self._poll_generation:
                    raise ApiError(409, CONFLICT_POLLING)
                if self._webhook is not None:
                    raise ApiError(409, CONFLICT_WEBHOOK)
                batch = [] if self._held else self._take_batch(limit)
                remaining = deadline - loop.time()
                if batch or remaining <= 0 or self._stopping:
                    return batch
                await self._wait_change(remaining)
        finally:
            self._polls_active -= 1

    def _confirm(self, offset: int) -> None:
        if offset < 0:
            keep = -offset
            forgotten = self._queue[:-keep] if keep < len(self._queue) else []
            self._drop_queued(forgotten)
            self._queue = self._queue[len(forgotten) :]
        else:
            while self._queue and self._queue[0].update_id < offset:
                update = self._queue.pop(0)
                state = self._update_state[update.update_id]
                if state == "handled":
                    continue
                if state != "delivered":
                    self._set_state(update.update_id, "dropped")
                elif not self._handling_reported or update.update_id in self._reported:
                    self._set_state(update.update_id, "handled")
                else:
                    self._set_state(update.update_id, "confirmed")
        self._notify()

    def _take_batch(self, limit: int) -> list[dict[str, Any]]:
        batch: list[dict[str, Any]] = []
        for update in list(self._queue):
            if len(batch) >= limit:
                break
            if not self._is_allowed(update.kind):
                self._queue.remove(update)
                self._set_state(update.update_id, "filtered")
                self._notify()
                continue
            if self._update_state[update.update_id] != "handled":
                self._set_state(update.update_id, "delivered")
            batch.append(copy.deepcopy(update.payload))
        return batch

    def _m_set_webhook(self, args: Mapping[str, Any]) -> bool:
        url = args["url"]
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        secret = args.get("secret_token")
        if secret is not None and not _SECRET_RE.fullmatch(secret):
            raise bad_request("bad webhook: Secret token contains unallowed characters")
        max_connections = args.get("max_connections", 40)
        if not 1 <= max_connections <= 100:
            raise bad_request("bad webhook: max_connections must be between 1 and 100")
        if args.get("drop_pending_updates"):
            self._drop_queued(self._queue)
            self._queue.clear()
        if "allowed_updates" in args:
            self._allowed_updates = list(args["allowed_updates"]) or None
        if self._webhook is None or self._webhook.url != url:
            self._last_error_date = self._last_error_message = None
        self._webhook = _Webhook(url, secret, max_connections, args.get("ip_address"))
        if self._webhook_task is None or self._webhook_task.done():
            self._webhook_task = asyncio.get_running_loop().create_task(self._webhook_loop())
        self._notify()
        return True

    def _m_delete_webhook(self, args: Mapping[str, Any]) -> bool:
        if args.get("drop_pending_updates"):
            self._drop_queued(self._queue)
            self._queue.clear()
        self._webhook = None
        self._last_error_date = self._last_error_message = None
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            self._webhook_task = None
        for update in self._queue:
            if self._update_state[update.update_id] == "delivered":
                self._set_state(update.update_id, "queued")
        self._notify()
        return True

    def _m_get_webhook_info(self, _args: Mapping[str, Any]) -> dict[str, Any]:
        info: dict[str, Any] = {
            "url": self._webhook.url if self._webhook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._queue),
        }
        if self._webhook is not None:
            info["max_connections"] = self._webhook.max_connections
            info["ip_address"] = self._webhook.ip_address or "127.0.0.1"
            if self._allowed_updates:
                info["allowed_updates"] = list(self._allowed_updates)
        if self._last_error_date is not None:
            info["last_error_date"] = self._last_error_date
            info["last_error_message"] = self._last_error_message
        return info

    def _m_send_message(self, args: Mapping[str, Any]) -> dict[str, Any]:
        chat = self._target_chat(args["chat_id"])
        text, entities = self._message_text(args)
        content: dict[str, Any] = {"text": text}
        if entities:
            content["entities"] = entities
        return self._deliver(chat, args, content)

    def _media_file(self, args: Mapping[str, Any], kind: str) -> _File:
        value = args[kind]
        if isinstance(value, UploadedFile):
            if not value.content:
                raise bad_request("file must be non-empty")
            limit = _PHOTO_LIMIT if kind == "photo" else _DOCUMENT_LIMIT
            if value.size > limit:
                raise ApiError(413, "Request Entity Too Large")
            size = (0, 0)
            if kind == "photo":
                found = _image_size(value.content)
                if found is None:
                    raise bad_request("IMAGE_PROCESS_FAILED")
                size = found
            mime = value.content_type
            if not mime or mime == "application/octet-stream":
                mime = None
            return self._store_file(kind, value.content, value.filename, mime, size)
        known = self._files.get(value)
        if known is not None:
            if known.kind != kind:
                raise bad_request(f"can't use file of type {known.kind.title()} as {kind.title()}")
            return known
        if value.startswith(("http://", "https://")):
            # No internet in the sandbox: a URL becomes an empty placeholder file.
            name = urlsplit(value).path.rsplit("/", 1)[-1] or None
            return self._store_file(kind, b"", name, None)
        raise bad_request("wrong file identifier/HTTP URL specified")

    def _m_send_document(self, args: Mapping[str, Any]) -> dict[str, Any]:
        chat = self._target_chat(args["chat_id"])
        caption, entities = self._caption(args)
        stored = self._media_file(args, "document")
        content: dict[str, Any] = {"document": self._document_json(stored)}
        _add_caption(content, caption, entities)
        return self._deliver(chat, args, content)

    def _m_send_photo(self, args: Mapping[str, Any]) -> dict[str, Any]:
        chat = self._target_chat(args["chat_id"])
        caption, entities = self._caption(args)
        stored = self._media_file(args, "photo")
        photo = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "width": stored.width,
            "height": stored.height,
            "file_size": stored.size,
        }
        content: dict[str, Any] = {"photo": [photo]}
        _add_caption(content, caption, entities)
        if args.get("has_spoiler"):
            content["has_media_spoiler"] = True
        return self._deliver(chat, args, content)

    def _m_send_chat_action(self, args: Mapping[str, Any]) -> bool:
        chat = self._target_chat(args["chat_id"])
        if args["action"] not in _CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        self._record("chat_action", chat.id, None, None, {"action": args["action"]})
        return True

    def _m_edit_message_text(self, args: Mapping[str, Any]) -> dict[str, Any]:
        msg = self._editable(args, "message to edit not found")
        self._own(msg)
        if "text" not in msg.json:
            raise bad_request("there is no text in the message to edit")
        text, entities = self._message_text(args)
        return self._apply_edit(msg, {"text": text, "entities": entities}, args.get("reply_markup"))

    def _m_edit_message_caption(self, args: Mapping[str, Any]) -> dict[str, Any]:
        msg = self._editable(args, "message to edit not found")
        self._own(msg)
        if "document" not in msg.json and "photo" not in msg.json:
            raise bad_request("there is no caption in the message to edit")
        caption, entities = self._caption(args)
        return self._apply_edit(msg, {"caption": caption, "caption_entities": entities}, args.get("reply_markup"))

    def _m_edit_message_reply_markup(self, args: Mapping[str, Any]) -> dict[str, Any]:
        msg = self._editable(args, "message to edit not found")
        self._own(msg)
        return self._apply_edit(msg, {}, args.get("reply_markup"))

    def _m_delete_message(self, args: Mapping[str, Any]) -> bool:
        chat = self._chats.get(args["chat_id"]) if isinstance(args["chat_id"], int) else None
        if chat is None:
            raise bad_request("chat not found")
        msg = self._messages.get((chat.id, args["message_id"]))
        if msg is None or msg.deleted:
            raise bad_request("message to delete not found")
        if not msg.from_bot and chat.type != "private" and chat.bot_status != "administrator":
            raise bad_request("message can't be deleted")
        msg.deleted = True
        self._record("deleted", chat.id, msg.message_id, msg.state())
        return True

    def _m_answer_callback_query(self, args: Mapping[str, Any]) -> bool:
        callback = self._callbacks.get(args["callback_query_id"])
        if callback is None or callback.answer is not None:
            raise bad_request(QUERY_TOO_OLD)
        text = args.get("text")
        if text is not None and len(text) > 200:
            raise bad_request("MESSAGE_TOO_LONG")
        callback.answer = {
            "callback_query_id": callback.id,
            "user_id": callback.user_id,
            "text": text,
            "show_alert": bool(args.get("show_alert", False)),
            "url": args.get("url"),
        }
        self._record("callback_answer", callback.chat_id, callback.message_id, None, callback.answer)
        return True

    def _m_set_my_commands(self, args: Mapping[str, Any]) -> bool:
        commands = args["commands"]
        if len(commands) > 100:
            raise bad_request("too many commands")
        for command in commands:
            if not _BOT_COMMAND_RE.fullmatch(command["command"]):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(command["description"]) <= 256:
                raise bad_request("command description must be 1-256 characters long")
        key = (_scope_key(args.get("scope")), args.get("language_code", ""))
        self._commands[key] = [{"command": c["command"], "description": c["description"]} for c in commands]
        return True

    def _m_get_my_commands(self, args: Mapping[str, Any]) -> list[dict[str, Any]]:
        key = (_scope_key(args.get("scope")), args.get("language_code", ""))
        return copy.deepcopy(self._commands.get(key, []))

    def _m_delete_my_commands(self, args: Mapping[str, Any]) -> bool:
        self._commands.pop((_scope_key(args.get("scope")), args.get("language_code", "")), None)
        return True

    def _set_description(self, args: Mapping[str, Any], field_name: str, limit: int) -> bool:
        text = args.get(field_name, "")
        if len(text) > limit:
            raise bad_request(f"{field_name} is too long")
        kind = "short" if field_name == "short_description" else "long"
        self._descriptions[(kind, args.get("language_code", ""))] = text
        return True

    def _m_set_my_description(self, args: Mapping[str, Any]) -> bool:
        return self._set_description(args, "description", 512)

    def _m_set_my_short_description(self, args: Mapping[str, Any]) -> bool:
        return self._set_description(args, "short_description", 120)

    def _m_get_my_description(self, args: Mapping[str, Any]) -> dict[str, Any]:
        return {"description": self.my_description(args.get("language_code", ""))}

    def _m_get_my_short_description(self, args: Mapping[str, Any]) -> dict[str, Any]:
        text = self.my_description(args.get("language_code", ""), short=True)
        return {"short_description": text}

    def _m_set_chat_menu_button(self, args: Mapping[str, Any]) -> bool:
        button = args.get("menu_button") or {"type": "default"}
        if "chat_id" in args:
            chat = self._target_chat(args["chat_id"])
            if chat.type != "private":
                raise bad_request("menu button can be set only in private chats")
            chat.menu_button = button
        else:
            self._default_menu_button = button
        return True

    def _m_get_chat_menu_button(self, args: Mapping[str, Any]) -> dict[str, Any]:
        if "chat_id" in args:
            self._target_chat(args["chat_id"])
        return self.menu_button(args.get("chat_id"))

    def _m_get_chat(self, args: Mapping[str, Any]) -> dict[str, Any]:
        chat = self._chats.get(args["chat_id"]) if isinstance(args["chat_id"], int) else None
        if chat is None:
            raise bad_request("chat not found")
        return {
            **self._chat_json(chat),
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }

    def _m_get_chat_member(self, args: Mapping[str, Any]) -> dict[str, Any]:
        chat = self._chats.get(args["chat_id"]) if isinstance(args["chat_id"], int) else None
        if chat is None:
            raise bad_request("chat not found")
        user_id = args["user_id"]
        if user_id == self._bot_id:
            if chat.type == "private":
                status = "kicked" if chat.id in self._blocked else "member"
            else:
                status = chat.bot_status
            return self._member_json(chat, self._bot_user(), status)
        user = self._users.get(user_id)
        if user is None or (chat.type == "private" and chat.id != user_id):
            raise bad_request("user not found")
        status = "member" if chat.type == "private" else chat.members.get(user_id, "left")
        return self._member_json(chat, user, status)

    def _m_get_file(self, args: Mapping[str, Any]) -> dict[str, Any]:
        stored = self._files.get(args["file_id"])
        if stored is None:
            raise bad_request("invalid file_id")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.size,
            "file_path": stored.file_path,
        }

    # ------------------------------------------------------------------ webhook delivery

    async def _webhook_loop(self) -> None:
        while self._webhook is not None and not self._stopping:
            hook = self._webhook
            update = self._next_webhook_update()
            if update is None:
                await self._wait_change(None)
                continue
            self._set_state(update.update_id, "delivered")
            error, reply = await self._post_update(hook, update)
            if error is not None:
                self.stats.webhook_failures += 1
                self._last_error_date = _now()
                self._last_error_message = error
                self._notify()
                await asyncio.sleep(self.webhook_retry_delay)
                continue
            if update in self._queue:
                self._queue.remove(update)
            if reply is not None:
                await self._run_webhook_reply(*reply)
            if self._update_state[update.update_id] == "delivered":
                self._set_state(update.update_id, "handled")
            self._notify()

    def _next_webhook_update(self) -> _Update | None:
        while self._queue:
            update = self._queue[0]
            if self._is_allowed(update.kind):
                return update
            self._queue.pop(0)
            self._set_state(update.update_id, "filtered")
            self._notify()
        return None

    async def _post_update(
        self, hook: _Webhook, update: _Update
    ) -> tuple[str | None, tuple[dict[str, Any], dict[str, UploadedFile]] | None]:
        """POST one update; return (error message, reply method call)."""
        assert self._http is not None
        headers = {"Content-Type": "application/json"}
        if hook.secret_token:
            headers["X-Telegram-Bot-Api-Secret-Token"] = hook.secret_token
        self.stats.webhook_posts += 1
        try:
            async with self._http.post(
                hook.url,
                data=json.dumps(update.payload),
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=_WEBHOOK_TIMEOUT),
            ) as resp:
                if not 200 <= resp.status < 300:
                    return f"Wrong response from the webhook: {resp.status} {resp.reason}", None
                return None, await _read_reply(resp)
        except TimeoutError:
            return "Read timeout expired", None
        except aiohttp.ClientConnectorError:
            return "Connection refused", None
        except (aiohttp.ClientError, OSError) as exc:
            return f"Connection error: {type(exc).__name__}", None

    async def _run_webhook_reply(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> None:
        method_name = str(params.pop("method", ""))
        method = self._spec.canonical_method(method_name)
        if method is None:
            self.webhook_reply_errors.append(f"{method_name}: Not Found")
            return
        self.stats.calls[method] += 1
        try:
            await self._execute(method, params, files)
        except ApiError as exc:
            log.warning("webhook reply %s failed: %s", method, exc.description)
            self.webhook_reply_errors.append(f"{method}: {exc.description}")


async def _read_reply(
    resp: aiohttp.ClientResponse,
) -> tuple[dict[str, Any], dict[str, UploadedFile]] | None:
    """A method call in a webhook answer, sent as JSON or (aiogram's way) as multipart."""
    content_type = resp.content_type
    params: dict[str, Any] = {}
    files: dict[str, UploadedFile] = {}
    if content_type == "application/json":
        try:
            body = await resp.json()
        except ValueError:
            return None
        if not isinstance(body, dict):
            return None
        params = body
    elif content_type.startswith("multipart/"):
        await _read_multipart(aiohttp.MultipartReader.from_response(resp), params, files)
    return (params, files) if params.get("method") else None


async def _read_multipart(
    reader: aiohttp.MultipartReader | MultipartResponseWrapper,
    params: dict[str, Any],
    files: dict[str, UploadedFile],
) -> bool:
    """Split a form into text fields and file parts; False if a part has no usable name."""
    well_formed = True
    while (part := await reader.next()) is not None:
        if not isinstance(part, aiohttp.BodyPartReader) or not part.name:
            well_formed = False
            continue
        if part.filename is not None:
            files[part.name] = UploadedFile(part.filename, bytes(await part.read()), part.headers.get("Content-Type"))
        else:
            params[part.name] = await part.text()
    return well_formed


def _json(body: Mapping[str, Any], status: int) -> web.Response:
    return web.json_response(body, status=status)


def _drop(request: web.Request) -> web.Response:
    transport = request.transport
    if transport is not None:
        transport.abort()
    return web.Response(status=500)


def _now() -> int:
    return int(time.time())


def _is_flood_limited(method: str) -> bool:
    # Chat actions do not count as messages towards Telegram's flood limits.
    return method.startswith(("send", "copy", "forward")) and method != "sendChatAction"


def _scope_key(scope: Mapping[str, Any] | None) -> str:
    return json.dumps(dict(scope or {"type": "default"}), sort_keys=True)


def _without_reply(message: Mapping[str, Any]) -> dict[str, Any]:
    # Telegram does not nest reply_to_message more than one level deep.
    body = copy.deepcopy(dict(message))
    body.pop("reply_to_message", None)
    return body


def _add_caption(content: dict[str, Any], caption: str | None, entities: list[dict[str, Any]]) -> None:
    if caption:
        content["caption"] = caption
        if entities:
            content["caption_entities"] = entities


def _detect_commands(text: str) -> list[dict[str, Any]]:
    return [
        {
            "type": "bot_command",
            "offset": utf16_len(text[: m.start()]),
            "length": utf16_len(m.group(0)),
        }
        for m in _COMMAND_RE.finditer(text)
    ]


_JPEG_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})


def _image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a PNG, GIF, JPEG or WebP image; None when it is not one."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return int(width), int(height)
    if data.startswith(b"\xff\xd8"):
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                i += 1
                continue
            marker = data[i + 1]
            if marker in _JPEG_SOF:
                height, width = struct.unpack(">HH", data[i + 5 : i + 9])
                return int(width), int(height)
            if marker == 0xFF:
                i += 1
                continue
            (length,) = struct.unpack(">H", data[i + 2 : i + 4])
            i += 2 + int(length)
        return None
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and len(data) >= 30:
        chunk = data[12:16]
        if chunk == b"VP8X":
            width = 1 + int.from_bytes(data[24:27], "little")
            height = 1 + int.from_bytes(data[27:30], "little")
            return width, height
        if chunk == b"VP8 ":
            width, height = struct.unpack("<HH", data[26:30])
            return int(width) & 0x3FFF, int(height) & 0x3FFF
        if chunk == b"VP8L":
            bits = int.from_bytes(data[21:25], "little")
            return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None

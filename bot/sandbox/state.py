"""The sandbox's world in memory: the bot, users, chats, messages, files, the update queue and the recorded events.

:class:`SandboxState` is the bookkeeping that the Bot API methods (``methods.py``) and the test-facing controls
(``server.py``) share, with the JSON builders both need (users, chats, chat members). Nothing here speaks HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import json
import mimetypes
import re
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from bot.sandbox.spec import ApiError, BotApiSpec

EventKind = Literal["sent", "edited", "deleted", "callback_answer", "chat_action"]
UpdateState = Literal["queued", "delivered", "confirmed", "handled", "filtered", "dropped"]
FINAL_STATES = ("handled", "filtered", "dropped")
FIRST_UPDATE_ID = 100_000_001

_TOKEN_RE = re.compile(r"(\d+):([A-Za-z0-9_-]+)")


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
class StoredMessage:
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
class Chat:
    id: int
    type: str
    title: str | None = None
    user_id: int | None = None
    next_message_id: int = 1
    members: dict[int, str] = field(default_factory=dict)
    bot_status: str = "left"
    menu_button: dict[str, Any] | None = None


@dataclass
class QueuedUpdate:
    update_id: int
    kind: str
    payload: dict[str, Any]


@dataclass
class Callback:
    id: str
    user_id: int
    chat_id: int
    message_id: int
    data: str
    answer: dict[str, Any] | None = None


@dataclass
class StoredFile:
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


class SandboxState:
    """Everything the sandbox remembers, plus the change notification that its waiters sleep on."""

    def __init__(self, spec: BotApiSpec, *, bot_username: str, bot_first_name: str) -> None:
        self.spec = spec
        self.bot_username = bot_username
        self.bot_first_name = bot_first_name
        self.stats = SandboxStats()
        self.token: str | None = None
        self.bot_id = 0

        self.users: dict[int, dict[str, Any]] = {}
        self.chats: dict[int, Chat] = {}
        self.groups: dict[int, Chat] = {}
        self.blocked: set[int] = set()
        self.messages: dict[tuple[int, int], StoredMessage] = {}
        # The same messages by chat, for `chat_messages`: a scan of every chat's cost 2 s in a 500-person test.
        self.by_chat: dict[int, dict[int, StoredMessage]] = {}
        self.recorded: list[SandboxEvent] = []
        self.callbacks: dict[str, Callback] = {}
        self.files: dict[str, StoredFile] = {}
        self.files_by_path: dict[str, StoredFile] = {}
        self.commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.descriptions: dict[tuple[str, str], str] = {}
        self.default_menu_button: dict[str, Any] = {"type": "default"}

        self.queue: list[QueuedUpdate] = []
        self.update_state: dict[int, UpdateState] = {}
        self.update_kind: dict[int, str] = {}
        self.next_update_id = FIRST_UPDATE_ID
        # With the bot handling updates as tasks, only the bot can say when one is finished (report_handled).
        self.handling_reported = False
        self.reported: set[int] = set()
        self.state_waiters: dict[int, list[asyncio.Future[None]]] = {}

        self.stopping = False
        self._changed = asyncio.Event()
        self._counter = 0

    # ------------------------------------------------------------------ the bot

    def claim_token(self, token: str) -> None:
        match = _TOKEN_RE.fullmatch(token)
        if match is None:
            raise ApiError(401, "Unauthorized")
        if self.token is None:
            self.token = token
            self.bot_id = int(match.group(1))
        elif token != self.token:
            # One bot per world: a second token is almost certainly a wiring mistake.
            raise ApiError(401, "Unauthorized")

    def bot_user(self) -> dict[str, Any]:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.bot_first_name,
            "username": self.bot_username,
        }

    # ------------------------------------------------------------------ changes and updates

    def notify(self) -> None:
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    async def wait_change(self, seconds: float | None) -> None:
        event = self._changed
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), seconds)

    def next_serial(self) -> int:
        """A fresh number for callback query ids and file ids."""
        self._counter += 1
        return self._counter

    def set_state(self, update_id: int, state: UpdateState) -> None:
        self.update_state[update_id] = state
        if state in FINAL_STATES:
            # Each waiter is woken once, when its own update is done, not at every change of the sandbox.
            for waiter in self.state_waiters.pop(update_id, ()):
                if not waiter.done():
                    waiter.set_result(None)

    def enqueue(self, kind: str, body: dict[str, Any]) -> int:
        update_id = self.next_update_id
        self.next_update_id += 1
        self.queue.append(QueuedUpdate(update_id, kind, {"update_id": update_id, kind: body}))
        self.set_state(update_id, "queued")
        self.update_kind[update_id] = kind
        self.notify()
        return update_id

    def drop_queued(self, updates: Sequence[QueuedUpdate]) -> None:
        for update in updates:
            if self.update_state[update.update_id] in ("queued", "delivered"):
                self.set_state(update.update_id, "dropped")

    @property
    def last_seq(self) -> int:
        return self.recorded[-1].seq if self.recorded else 0

    def record(
        self,
        kind: EventKind,
        chat_id: int,
        message_id: int | None,
        state: MessageState | None,
        data: Mapping[str, Any] | None = None,
    ) -> SandboxEvent:
        event = SandboxEvent(self.last_seq + 1, kind, chat_id, message_id, state, dict(data or {}), time.time())
        self.recorded.append(event)
        self.notify()
        return event

    # ------------------------------------------------------------------ users, chats and members

    def known_user(self, user_id: int) -> dict[str, Any]:
        try:
            return self.users[user_id]
        except KeyError:
            raise SandboxUsageError(f"unknown user {user_id}; call add_user first") from None

    def known_group(self, chat_id: int) -> Chat:
        try:
            return self.groups[chat_id]
        except KeyError:
            raise SandboxUsageError(f"unknown group {chat_id}; call add_group first") from None

    def chat_json(self, chat: Chat) -> dict[str, Any]:
        if chat.type == "private":
            user = self.users[chat.id]
            body = {"id": chat.id, "type": "private", "first_name": user["first_name"]}
            for key in ("last_name", "username"):
                if key in user:
                    body[key] = user[key]
            return body
        return {"id": chat.id, "type": chat.type, "title": chat.title}

    def member_json(self, chat: Chat, user: Mapping[str, Any], status: str) -> dict[str, Any]:
        """A ChatMember object of the right subtype, every required field filled in."""
        subtype = next(
            self.spec.types[name]
            for name in self.spec.types["ChatMember"].subtypes
            if self.spec.types[name].discriminator == ("status", status)
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

    def member_update(
        self,
        kind: str,
        chat: Chat,
        actor: Mapping[str, Any],
        subject: Mapping[str, Any],
        old: str,
        new: str,
    ) -> int:
        """Enqueue a ChatMemberUpdated: ``actor`` changed ``subject`` from ``old`` to ``new``."""
        return self.enqueue(
            kind,
            {
                "chat": self.chat_json(chat),
                "from": dict(actor),
                "date": now(),
                "old_chat_member": self.member_json(chat, subject, old),
                "new_chat_member": self.member_json(chat, subject, new),
            },
        )

    def private_member_update(self, user: Mapping[str, Any], old: str, new: str) -> int | None:
        chat = self.chats.get(user["id"])
        if chat is None:
            return None
        return self.member_update("my_chat_member", chat, user, self.bot_user(), old, new)

    def user_message(
        self,
        user_id: int,
        chat_id: int | None,
        content: dict[str, Any],
        reply_to_message_id: int | None,
    ) -> int:
        """Store a message a user sent and enqueue its update; returns the update id."""
        user = self.known_user(user_id)
        if chat_id is None or chat_id == user_id:
            if user_id in self.blocked:
                raise SandboxUsageError(f"user {user_id} blocked the bot; unblock it first")
            chat = self.chats.get(user_id)
            if chat is None:
                chat = Chat(user_id, "private", user_id=user_id, bot_status="member")
                self.chats[user_id] = chat
        else:
            chat = self.known_group(chat_id)
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
            "chat": self.chat_json(chat),
            "date": now(),
        }
        if reply_to_message_id is not None:
            replied = self.messages.get((chat.id, reply_to_message_id))
            if replied is None or replied.deleted:
                raise SandboxUsageError(f"message {reply_to_message_id} does not exist")
            body["reply_to_message"] = without_reply(replied.json)
        body.update(content)
        self.add_message(StoredMessage(chat.id, message_id, False, body))
        return self.enqueue("message", copy.deepcopy(body))

    def add_message(self, message: StoredMessage) -> None:
        self.messages[(message.chat_id, message.message_id)] = message
        self.by_chat.setdefault(message.chat_id, {})[message.message_id] = message

    def chat_messages(self, chat_id: int) -> list[StoredMessage]:
        """Every message of one chat, oldest first."""
        return [message for _id, message in sorted(self.by_chat.get(chat_id, {}).items())]

    # ------------------------------------------------------------------ files

    def store_file(
        self,
        kind: str,
        content: bytes,
        filename: str | None,
        mime_type: str | None,
        size: tuple[int, int] = (0, 0),
    ) -> StoredFile:
        serial = self.next_serial()
        digest = hashlib.sha256(f"{kind}:{serial}:{len(content)}".encode()).hexdigest()
        prefix = "AgAC" if kind == "photo" else "BQAC"
        if mime_type is None and filename:
            mime_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        extension = ""
        if filename and "." in filename:
            extension = "." + filename.rsplit(".", 1)[1]
        elif kind == "photo":
            extension = ".jpg"
        stored = StoredFile(
            file_id=f"{prefix}AgIAAxkBAAI{digest[:40]}",
            file_unique_id=f"AQAD{digest[40:52]}",
            kind=kind,
            content=content,
            file_name=filename,
            mime_type=mime_type,
            file_path=f"{kind}s/file_{serial}{extension}",
            width=size[0],
            height=size[1],
        )
        self.files[stored.file_id] = stored
        self.files_by_path[stored.file_path] = stored
        return stored

    def document_json(self, stored: StoredFile) -> dict[str, Any]:
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

    # ------------------------------------------------------------------ the bot's settings

    def my_commands(self, scope: Mapping[str, Any] | None, language_code: str) -> list[dict[str, Any]]:
        return copy.deepcopy(self.commands.get((scope_key(scope), language_code), []))

    def my_description(self, language_code: str = "", *, short: bool = False) -> str:
        return self.descriptions.get(("short" if short else "long", language_code), "")

    def menu_button(self, chat_id: int | None = None) -> dict[str, Any]:
        chat = self.chats.get(chat_id) if chat_id is not None else None
        if chat is not None and chat.menu_button is not None:
            return dict(chat.menu_button)
        return dict(self.default_menu_button)


def now() -> int:
    return int(time.time())


def scope_key(scope: Mapping[str, Any] | None) -> str:
    return json.dumps(dict(scope or {"type": "default"}), sort_keys=True)


def without_reply(message: Mapping[str, Any]) -> dict[str, Any]:
    # Telegram does not nest reply_to_message more than one level deep.
    body = copy.deepcopy(dict(message))
    body.pop("reply_to_message", None)
    return body

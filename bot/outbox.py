"""The outbox: one row per recipient, queued in the caller's transaction, and the rules its messages must meet.

`queue` writes the rows together with the business change that causes them, so the messages exist if and only
if that change committed; `validate_content` refuses first what Telegram would refuse; `batch_report` tells
how a batch is doing. Services use this module; the sender that drains the outbox is `bot.delivery`. No
aiogram here, so that services never import it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from bot.i18n import SUPPORTED_LOCALES
from bot.telegram_text import (
    CALLBACK_DATA_LIMIT,
    CAPTION_LIMIT,
    INLINE_BUTTON_ACTIONS,
    TEXT_LIMIT,
    EntityParseError,
    UnsupportedParseMode,
    parse_formatted,
    utf16_len,
)
from storage.models import OutboxStatus
from storage.repositories import Repositories

BATCH_MAX = 64
_KINDS = ("text", "photo", "document")
_MESSAGE_KEYS = frozenset({*_KINDS, "caption", "parse_mode", "reply_markup", "disable_notification"})


# The shape aiogram's `InlineKeyboardMarkup` validates (field names and types as in aiogram 3.31, extra fields
# allowed like aiogram's), written out here so that services need no aiogram; a test compares the two.
class _Shape(BaseModel):
    model_config = ConfigDict(extra="allow")


class _WebAppInfo(_Shape):
    url: str


class _LoginUrl(_Shape):
    url: str
    forward_text: str | None = None
    bot_username: str | None = None
    request_write_access: bool | None = None


class _SwitchInlineQueryChosenChat(_Shape):
    query: str | None = None
    allow_user_chats: bool | None = None
    allow_bot_chats: bool | None = None
    allow_group_chats: bool | None = None
    allow_channel_chats: bool | None = None


class _CopyTextButton(_Shape):
    text: str


class _NoFields(_Shape):
    """`CallbackGame`, `DisabledButton`: objects with no fields of their own."""


class _InlineKeyboardButton(_Shape):
    text: str
    icon_custom_emoji_id: str | None = None
    style: str | None = None
    url: str | None = None
    callback_data: str | None = None
    web_app: _WebAppInfo | None = None
    login_url: _LoginUrl | None = None
    switch_inline_query: str | None = None
    switch_inline_query_current_chat: str | None = None
    switch_inline_query_chosen_chat: _SwitchInlineQueryChosenChat | None = None
    copy_text: _CopyTextButton | None = None
    callback_game: _NoFields | None = None
    pay: bool | None = None
    disabled: _NoFields | None = None


class _InlineKeyboard(_Shape):
    inline_keyboard: list[list[_InlineKeyboardButton]]
    force_reply: bool | None = None


# ---------------------------------------------------------------------------------------------- content


class InvalidContent(ValueError):
    """A message Telegram would refuse; `reason` says why (and in which language)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def validate_content(content: Mapping[str, Any]) -> None:
    """Check a message in every language as Telegram will; raise `InvalidContent` with the first problem.

    Each language maps to {"text": ...} or {"photo" | "document": file_id, "caption": ...}, with optional
    "parse_mode" (HTML only: the sandbox's parser mirrors Telegram's for HTML), "reply_markup" (an inline
    keyboard as Bot API JSON) and "disable_notification".
    """
    if not isinstance(content, Mapping) or not content:
        raise InvalidContent("the message has no language")
    for locale, message in content.items():
        if not isinstance(locale, str) or not 1 <= len(locale) <= 8:
            raise InvalidContent(f"{locale!r} is not a language code")
        _validate_message(locale, message)
    try:
        json.dumps(content)
    except (TypeError, ValueError) as error:
        raise InvalidContent(f"the message cannot be stored: {error}") from None


def _validate_message(locale: str, message: Any) -> None:
    if not isinstance(message, Mapping):
        raise InvalidContent(f"{locale}: a message is an object")
    unknown = sorted(set(message) - _MESSAGE_KEYS)
    if unknown:
        raise InvalidContent(f"{locale}: unknown field {unknown[0]!r}")
    kinds = [kind for kind in _KINDS if kind in message]
    if len(kinds) != 1:
        raise InvalidContent(f"{locale}: a message has exactly one of text, photo, document")
    parse_mode = message.get("parse_mode")
    if parse_mode is not None and (not isinstance(parse_mode, str) or parse_mode.lower() != "html"):
        raise InvalidContent(f"{locale}: parse_mode must be HTML or absent")
    if kinds[0] == "text":
        length = _formatted_length(locale, "text", message["text"], parse_mode)
        if length == 0:
            raise InvalidContent(f"{locale}: the text is empty")
        if length > TEXT_LIMIT:
            raise InvalidContent(f"{locale}: the text has {length} characters, Telegram takes at most {TEXT_LIMIT}")
        if "caption" in message:
            raise InvalidContent(f"{locale}: a text message has no caption")
    else:
        file_id = message[kinds[0]]
        if not isinstance(file_id, str) or not file_id.strip():
            raise InvalidContent(f"{locale}: {kinds[0]} must be a file_id")
        if message.get("caption") is not None:
            length = _formatted_length(locale, "caption", message["caption"], parse_mode)
            if length > CAPTION_LIMIT:
                raise InvalidContent(
                    f"{locale}: the caption has {length} characters, Telegram takes at most {CAPTION_LIMIT}"
                )
    if "disable_notification" in message and not isinstance(message["disable_notification"], bool):
        raise InvalidContent(f"{locale}: disable_notification is true or false")
    if message.get("reply_markup") is not None:
        _validate_keyboard(locale, message["reply_markup"])


def _formatted_length(locale: str, what: str, value: Any, parse_mode: str | None) -> int:
    if not isinstance(value, str):
        raise InvalidContent(f"{locale}: the {what} must be a string")
    try:
        plain, _entities = parse_formatted(value, parse_mode)
    except (EntityParseError, UnsupportedParseMode) as error:
        raise InvalidContent(f"{locale}: the {what} is not HTML Telegram accepts: {error}") from None
    return utf16_len(plain)


def _validate_keyboard(locale: str, markup: Any) -> None:
    if not isinstance(markup, Mapping) or set(markup) != {"inline_keyboard"}:
        raise InvalidContent(f"{locale}: reply_markup must be an inline keyboard")
    try:
        _InlineKeyboard.model_validate(markup)
    except ValidationError as error:
        raise InvalidContent(f"{locale}: reply_markup is not an inline keyboard: {error.errors()[0]['msg']}") from None
    for row in markup["inline_keyboard"]:
        for button in row:
            if not str(button.get("text", "")).strip():
                raise InvalidContent(f"{locale}: a button has no label")
            if sum(1 for action in INLINE_BUTTON_ACTIONS if action in button) != 1:
                raise InvalidContent(f"{locale}: button {button['text']!r} needs exactly one action")
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= CALLBACK_DATA_LIMIT:
                raise InvalidContent(f"{locale}: callback_data of {button['text']!r} must be 1-64 bytes")


def pick_language(content: Mapping[str, Any], locale: str) -> tuple[str, Mapping[str, Any]]:
    """The recipient's version of the message, else the other supported language, else any."""
    for candidate in (locale, *SUPPORTED_LOCALES, *content):
        message = content.get(candidate)
        if isinstance(message, Mapping):
            return candidate, message
    raise InvalidContent("the message has no language")


# ---------------------------------------------------------------------------------------------- queueing


@dataclass(frozen=True)
class Recipient:
    chat_id: int
    person_id: int | None
    # The language the message is meant in; at send time the person's current choice wins.
    locale: str


async def queue(repos: Repositories, batch: str, recipients: Iterable[Recipient], content: Mapping[str, Any]) -> int:
    """Queue `content` for every recipient in the caller's transaction (never commits); returns how many rows
    were written. A chat that already has `batch` is left alone, so queueing again is harmless.

    Refuses content Telegram would refuse (`InvalidContent`) before anything is written. Call
    `bot.delivery.Sender.notify()` after the commit to start at once rather than at the sender's next poll.
    """
    if not 1 <= len(batch) <= BATCH_MAX:
        raise ValueError(f"a batch name has 1-{BATCH_MAX} characters")
    validate_content(content)
    return await repos.outbox.add_many(
        batch,
        ((r.chat_id, r.person_id, r.locale) for r in recipients),
        content,
        now=datetime.now(UTC),
    )


@dataclass(frozen=True)
class Undelivered:
    chat_id: int
    person_id: int | None
    status: str
    error: str | None


@dataclass(frozen=True)
class BatchReport:
    batch: str
    counts: dict[str, int]
    undelivered: list[Undelivered]

    def count(self, status: OutboxStatus) -> int:
        return self.counts.get(status.value, 0)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def sent(self) -> int:
        return self.count(OutboxStatus.SENT)

    @property
    def waiting(self) -> int:
        """Not finished yet: pending, or being sent."""
        return self.count(OutboxStatus.PENDING) + self.count(OutboxStatus.SENDING)

    @property
    def failed(self) -> int:
        return self.count(OutboxStatus.FAILED)

    @property
    def blocked(self) -> int:
        return self.count(OutboxStatus.BLOCKED)

    @property
    def invalid(self) -> int:
        return self.count(OutboxStatus.INVALID)

    @property
    def done(self) -> bool:
        return self.waiting == 0


async def batch_report(repos: Repositories, batch: str, *, limit: int | None = None) -> BatchReport:
    """Counts per status and the rows that did not reach their chat (up to `limit` of them)."""
    counts = await repos.outbox.batch_counts(batch)
    problems = await repos.outbox.batch_problems(batch, limit)
    return BatchReport(
        batch=batch,
        counts=counts,
        undelivered=[Undelivered(p["chat_id"], p["person_id"], p["status"], p["error"]) for p in problems],
    )


__all__ = [
    "BATCH_MAX",
    "CAPTION_LIMIT",
    "TEXT_LIMIT",
    "BatchReport",
    "InvalidContent",
    "Recipient",
    "Undelivered",
    "batch_report",
    "pick_language",
    "queue",
    "validate_content",
]

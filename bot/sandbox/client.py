"""User-side sandbox client: test code acts as a Telegram user and reads what the bot did."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.sandbox.server import MessageState, SandboxEvent, SandboxServer, SandboxUsageError
from bot.telegram_text import INLINE_BUTTON_ACTIONS

_MESSAGE_EVENTS = ("sent", "edited")
# Inline button kinds the sandbox cannot act on; a tap on one is a test mistake.
_UNTAPPABLE = tuple(action for action in INLINE_BUTTON_ACTIONS if action not in ("url", "callback_data"))
_REQUEST_BUTTONS = (
    "request_users",
    "request_chat",
    "request_contact",
    "request_location",
    "request_poll",
    "request_managed_bot",
    "web_app",
)


class ButtonNotFound(LookupError):
    """No button matched; ``labels`` lists the ones that were available."""

    def __init__(self, message: str, labels: Sequence[str]) -> None:
        super().__init__(message)
        self.labels = list(labels)


class CannotTap(RuntimeError):
    """The button exists but pressing it would not send anything to the bot."""


@dataclass(frozen=True)
class BotMessage:
    """A snapshot of one bot message as the user sees it."""

    message_id: int
    chat_id: int
    text: str | None = None
    caption: str | None = None
    # Rows of labels; a list as users of the sandbox compare it with list literals.
    buttons: list[list[str]] = field(default_factory=list, hash=False)
    inline: bool = False
    has_document: bool = False
    has_photo: bool = False
    document_name: str | None = None
    edited: bool = False
    deleted: bool = False
    seq: int = field(default=0, compare=False)

    @property
    def content(self) -> str:
        """The text, or the caption of a media message ("" when there is neither)."""
        if self.text is not None:
            return self.text
        return self.caption or ""

    @property
    def labels(self) -> list[str]:
        """Button labels in reading order (the order used by ``tap(n)``)."""
        return [label for row in self.buttons for label in row]

    @classmethod
    def from_state(cls, state: MessageState, *, seq: int = 0, edited: bool | None = None) -> BotMessage:
        document = state.document or {}
        return cls(
            message_id=state.message_id,
            chat_id=state.chat_id,
            text=state.text,
            caption=state.caption,
            buttons=[[str(b.get("text", "")) for b in row] for row in state.buttons],
            inline=state.inline,
            has_document=state.document is not None,
            has_photo=state.photo is not None,
            document_name=document.get("file_name"),
            edited=state.edited if edited is None else edited,
            deleted=state.deleted,
            seq=seq,
        )


def render(message: BotMessage) -> str:
    """A readable transcript block: marks, text or caption, attachments, numbered buttons."""
    marks = [mark for flag, mark in ((message.edited, "(edited)"), (message.deleted, "(deleted)")) if flag]
    lines = [" ".join([*marks, message.content]) if marks else message.content]
    if message.has_document:
        lines.append(f"[document: {message.document_name or 'file'}]")
    if message.has_photo:
        lines.append("[photo]")
    number = 0
    for row in message.buttons:
        cells = []
        for label in row:
            number += 1
            cells.append(f"[{number} {label}]")
        lines.append(" ".join(cells))
    return "\n".join(lines)


class SandboxUser:
    """A Telegram user in the sandbox; every action waits until the bot has handled it."""

    def __init__(
        self,
        sandbox: SandboxServer,
        user_id: int,
        first_name: str,
        *,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
        timeout: float = 10.0,
    ) -> None:
        self.sandbox = sandbox
        self.user_id = user_id
        self.timeout = timeout
        self.info = sandbox.add_user(
            user_id,
            first_name,
            last_name=last_name,
            username=username,
            language_code=language_code,
        )
        self._action_seq = sandbox.last_seq
        self._last_callback_id: str | None = None

    @property
    def chat_id(self) -> int:
        """The id of the user's private chat with the bot."""
        return self.user_id

    # ------------------------------------------------------------------ actions

    async def send(
        self,
        text: str,
        *,
        chat_id: int | None = None,
        reply_to: int | BotMessage | None = None,
    ) -> list[BotMessage]:
        """Send a text message; returns the bot messages sent or edited in reaction."""
        since = self._begin_action()
        reply_id = reply_to.message_id if isinstance(reply_to, BotMessage) else reply_to
        update_id = await self.sandbox.user_sends(self.user_id, text, chat_id=chat_id, reply_to_message_id=reply_id)
        await self.sandbox.wait_handled(update_id, timeout=self.timeout)
        return self._produced(self._chat(chat_id), since)

    async def send_document(
        self,
        filename: str,
        content: bytes,
        *,
        caption: str | None = None,
        chat_id: int | None = None,
        mime_type: str | None = None,
    ) -> list[BotMessage]:
        since = self._begin_action()
        update_id = await self.sandbox.user_sends_document(
            self.user_id, filename, content, caption, chat_id=chat_id, mime_type=mime_type
        )
        await self.sandbox.wait_handled(update_id, timeout=self.timeout)
        return self._produced(self._chat(chat_id), since)

    async def send_photo(
        self, content: bytes, *, caption: str | None = None, chat_id: int | None = None
    ) -> list[BotMessage]:
        since = self._begin_action()
        update_id = await self.sandbox.user_sends_photo(self.user_id, content, caption, chat_id=chat_id)
        await self.sandbox.wait_handled(update_id, timeout=self.timeout)
        return self._produced(self._chat(chat_id), since)

    async def tap(
        self,
        button: str | int,
        *,
        message: BotMessage | int | None = None,
        chat_id: int | None = None,
    ) -> list[BotMessage]:
        """Press a button of the newest bot message that has buttons (or of ``message``).

        ``button`` is a 1-based number in reading order, or text contained in the label
        (case-insensitive; an exact label wins over partial matches).
        """
        chat = self._chat(chat_id)
        state = self._message_with_buttons(chat, message)
        flat = [b for row in state.buttons for b in row]
        labels = [str(b.get("text", "")) for b in flat]
        chosen = flat[_pick(button, labels, state.message_id)]
        label = str(chosen.get("text", ""))
        if not state.inline:
            if any(key in chosen for key in _REQUEST_BUTTONS):
                raise CannotTap(f"button {label!r} asks for data the sandbox cannot share")
            return await self.send(label, chat_id=chat_id)
        if "url" in chosen:
            raise CannotTap(f"button {label!r} opens {chosen['url']}; the bot is not involved")
        if "callback_data" not in chosen:
            kind = next((k for k in _UNTAPPABLE if k in chosen), "unknown")
            raise CannotTap(f"button {label!r} is a {kind} button; the sandbox cannot press it")
        since = self._begin_action()
        update_id, query_id = await self.sandbox.user_taps(
            self.user_id, chat, state.message_id, str(chosen["callback_data"])
        )
        self._last_callback_id = query_id
        await self.sandbox.wait_handled(update_id, timeout=self.timeout)
        return self._produced(chat, since)

    async def forge(self, callback_data: str) -> tuple[str | None, bool]:
        """Press, on the newest bot message, a button with callback data the bot never showed, as a modified
        client can; returns (text, shown as an alert) of the bot's answer."""
        message = self.last_message
        if message is None:
            raise SandboxUsageError("the bot has sent this user nothing to press")
        self._begin_action()
        update_id, query_id = await self.sandbox.user_taps(
            self.user_id, self.chat_id, message.message_id, callback_data, forged=True
        )
        self._last_callback_id = query_id
        await self.sandbox.wait_handled(update_id, timeout=self.timeout)
        answer = self.sandbox.callback_answer(query_id) or {}
        return answer.get("text"), bool(answer.get("show_alert"))

    async def block_bot(self) -> None:
        update_id = self.sandbox.block(self.user_id)
        if update_id is not None:
            await self.sandbox.wait_handled(update_id, timeout=self.timeout)

    async def unblock_bot(self) -> None:
        update_id = self.sandbox.unblock(self.user_id)
        if update_id is not None:
            await self.sandbox.wait_handled(update_id, timeout=self.timeout)

    # ------------------------------------------------------------------ observation

    @property
    def messages(self) -> list[BotMessage]:
        """Current (not deleted) bot messages in the private chat, oldest first."""
        return [BotMessage.from_state(s) for s in self.sandbox.bot_messages(self.chat_id)]

    @property
    def last_message(self) -> BotMessage | None:
        """Current state of the message the bot most recently sent or edited here."""
        return self.last_message_in(self.chat_id)

    def last_message_in(self, chat_id: int) -> BotMessage | None:
        for event in reversed(self.sandbox.events(chat_id, kinds=_MESSAGE_EVENTS)):
            assert event.message_id is not None
            state = self.sandbox.message(chat_id, event.message_id)
            if not state.deleted:
                return BotMessage.from_state(state, seq=event.seq)
        return None

    @property
    def last_text(self) -> str | None:
        message = self.last_message
        return None if message is None else message.content

    @property
    def since_last_action(self) -> list[BotMessage]:
        """Bot messages sent or edited in the private chat since this user's last action."""
        return _snapshots(self.sandbox.events(self.chat_id, since=self._action_seq, kinds=_MESSAGE_EVENTS))

    @property
    def last_callback_answer(self) -> tuple[str | None, bool] | None:
        """(text, show_alert) of the answer to the last inline tap; None if unanswered."""
        if self._last_callback_id is None:
            return None
        answer = self.sandbox.callback_answer(self._last_callback_id)
        if answer is None:
            return None
        return answer.get("text"), bool(answer.get("show_alert"))

    # ------------------------------------------------------------------ internals

    def _chat(self, chat_id: int | None) -> int:
        return self.chat_id if chat_id is None else chat_id

    def _begin_action(self) -> int:
        self._action_seq = self.sandbox.last_seq
        self._last_callback_id = None
        return self._action_seq

    def _produced(self, chat_id: int, since: int) -> list[BotMessage]:
        return _snapshots(self.sandbox.events(chat_id, since=since, kinds=_MESSAGE_EVENTS))

    def _message_with_buttons(self, chat_id: int, message: BotMessage | int | None) -> MessageState:
        if message is not None:
            message_id = message.message_id if isinstance(message, BotMessage) else message
            state = self.sandbox.message(chat_id, message_id)
            if state.deleted or not state.buttons:
                raise ButtonNotFound(f"message {message_id} has no buttons", [])
            return state
        # ReplyKeyboardRemove hides older reply keyboards; inline keyboards stay tappable.
        reply_keyboard_removed = False
        for state in reversed(self.sandbox.bot_messages(chat_id)):
            if state.buttons and (state.inline or not reply_keyboard_removed):
                return state
            if state.reply_markup and state.reply_markup.get("remove_keyboard"):
                reply_keyboard_removed = True
        raise ButtonNotFound(f"no bot message with buttons in chat {chat_id}", [])


def _pick(button: str | int, labels: Sequence[str], message_id: int) -> int:
    listing = ", ".join(f"{i} {label!r}" for i, label in enumerate(labels, 1))
    if isinstance(button, int):
        if 1 <= button <= len(labels):
            return button - 1
        raise ButtonNotFound(f"message {message_id} has no button number {button}; buttons: {listing}", labels)
    wanted = button.casefold()
    exact = [i for i, label in enumerate(labels) if label.casefold() == wanted]
    partial = [i for i, label in enumerate(labels) if wanted in label.casefold()]
    matches = exact or partial
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise ButtonNotFound(f"message {message_id} has no button matching {button!r}; buttons: {listing}", labels)
    raise ButtonNotFound(
        f"{button!r} matches several buttons of message {message_id}: " + ", ".join(repr(labels[i]) for i in matches),
        labels,
    )


def _snapshots(events: Sequence[SandboxEvent]) -> list[BotMessage]:
    return [BotMessage.from_state(e.state, seq=e.seq, edited=e.kind == "edited") for e in events if e.state is not None]


def describe_chat(sandbox: SandboxServer, chat_id: int) -> str:
    """Transcript of every current bot message in a chat, separated by blank lines."""
    return "\n\n".join(render(BotMessage.from_state(s)) for s in sandbox.bot_messages(chat_id))


__all__ = [
    "BotMessage",
    "ButtonNotFound",
    "CannotTap",
    "SandboxUser",
    "describe_chat",
    "render",
]

"""The Bot API methods the sandbox implements (sendMessage, editMessageText, answerCallbackQuery, ...).

:class:`BotApi` validates a call against the spec, applies the flood limits, and carries it out on the
:class:`~bot.sandbox.state.SandboxState` with Telegram's errors. It also hands updates to the bot, both ways
Telegram does: getUpdates long polling, and the webhook delivery loop that setWebhook starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import re
import struct
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from bot.sandbox.faults import FaultControls
from bot.sandbox.spec import ApiError, UploadedFile, bad_request
from bot.sandbox.state import (
    Chat,
    QueuedUpdate,
    SandboxState,
    StoredFile,
    StoredMessage,
    now,
    scope_key,
    without_reply,
)
from bot.sandbox.transport import DOCUMENT_LIMIT, WebhookClient
from bot.telegram_text import (
    CAPTION_LIMIT,
    TEXT_LIMIT,
    EntityParseError,
    UnsupportedParseMode,
    parse_formatted,
    utf16_len,
)

log = logging.getLogger(__name__)

_SECRET_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")
_BOT_COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")

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

_PHOTO_LIMIT = 10 * 1024 * 1024


@dataclass
class _Webhook:
    url: str
    secret_token: str | None
    max_connections: int
    ip_address: str | None


class BotApi:
    """The bot's side of the sandbox: one handler per supported method, and update delivery."""

    def __init__(
        self,
        state: SandboxState,
        faults: FaultControls,
        webhooks: WebhookClient,
        *,
        webhook_retry_delay: float,
    ) -> None:
        self._state = state
        self._faults = faults
        self._webhooks = webhooks
        self.webhook_retry_delay = webhook_retry_delay
        # Reply methods returned in webhook answers have no caller to report to.
        self.webhook_reply_errors: list[str] = []

        self._allowed_updates: list[str] | None = None
        self._poll_generation = 0
        self._polls_active = 0
        self._webhook: _Webhook | None = None
        self._webhook_task: asyncio.Task[None] | None = None
        self._last_error_date: int | None = None
        self._last_error_message: str | None = None

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

    @property
    def listening(self) -> bool:
        """Whether the bot can receive updates: a getUpdates is pending or a webhook is set."""
        return bool(self._polls_active or self._webhook is not None)

    async def execute(self, method: str, params: Mapping[str, Any], files: Mapping[str, UploadedFile]) -> Any:
        handler = self._handlers.get(method)
        if handler is None:
            raise bad_request(f"method {method} is not supported by the sandbox")
        args = self._state.spec.validate_call(method, params, files)
        self._faults.check_rate(method, args)
        result = handler(args)
        if isinstance(result, Awaitable):
            result = await result
        return result

    async def stop_webhook_delivery(self) -> None:
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._webhook_task
            self._webhook_task = None

    # ------------------------------------------------------------------ bot-side helpers

    def _is_allowed(self, kind: str) -> bool:
        if not self._allowed_updates:
            return kind not in _DEFAULT_EXCLUDED_UPDATES
        return kind in self._allowed_updates

    def _target_chat(self, chat_id: Any) -> Chat:
        """The chat a bot call addresses, with Telegram's errors for unusable chats."""
        chat = self._state.chats.get(chat_id) if isinstance(chat_id, int) else None
        if chat is None:
            raise bad_request("chat not found")
        if chat.type == "private":
            if chat.id in self._state.blocked:
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

    def _deliver(self, chat: Chat, args: Mapping[str, Any], content: dict[str, Any]) -> dict[str, Any]:
        """Create a bot message in ``chat`` from the send* arguments and the content fields."""
        reply_to = (args.get("reply_parameters") or {}).get("message_id")
        if reply_to is None:
            reply_to = args.get("reply_to_message_id")
        allow_missing = (args.get("reply_parameters") or {}).get(
            "allow_sending_without_reply", args.get("allow_sending_without_reply", False)
        )
        replied: StoredMessage | None = None
        if reply_to is not None:
            replied = self._state.messages.get((chat.id, reply_to))
            if (replied is None or replied.deleted) and not allow_missing:
                raise bad_request("message to be replied not found")
        message_id = chat.next_message_id
        chat.next_message_id += 1
        body: dict[str, Any] = {
            "message_id": message_id,
            "from": self._state.bot_user(),
            "chat": self._state.chat_json(chat),
            "date": now(),
        }
        if replied is not None and not replied.deleted:
            body["reply_to_message"] = without_reply(replied.json)
        body.update(content)
        if args.get("protect_content"):
            body["has_protected_content"] = True
        markup = args.get("reply_markup")
        if markup and "inline_keyboard" in markup:
            body["reply_markup"] = markup
        stored = StoredMessage(chat.id, message_id, True, body, markup=markup)
        self._state.add_message(stored)
        self._state.stats.delivered[chat.id] += 1
        self._state.record("sent", chat.id, message_id, stored.state())
        return copy.deepcopy(body)

    def _editable(self, args: Mapping[str, Any], missing: str) -> StoredMessage:
        if "inline_message_id" in args:
            raise bad_request("inline messages are not supported by the sandbox")
        if "chat_id" not in args:
            raise bad_request("chat_id is empty")
        if "message_id" not in args:
            raise bad_request("message identifier is not specified")
        chat = self._target_chat(args["chat_id"])
        msg = self._state.messages.get((chat.id, args["message_id"]))
        if msg is None or msg.deleted:
            raise bad_request(missing)
        return msg

    def _apply_edit(
        self,
        msg: StoredMessage,
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
        msg.json["edit_date"] = now()
        msg.edited = True
        self._state.record("edited", msg.chat_id, msg.message_id, msg.state())
        return copy.deepcopy(msg.json)

    def _own(self, msg: StoredMessage) -> None:
        if not msg.from_bot:
            raise bad_request("message can't be edited")

    # ------------------------------------------------------------------ methods

    def _m_get_me(self, _args: Mapping[str, Any]) -> dict[str, Any]:
        return {
            **self._state.bot_user(),
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
        self._state.notify()
        offset = args.get("offset")
        if offset:
            self._confirm(offset)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        self._polls_active += 1
        self._state.notify()
        try:
            while True:
                if generation != self._poll_generation:
                    raise ApiError(409, CONFLICT_POLLING)
                if self._webhook is not None:
                    raise ApiError(409, CONFLICT_WEBHOOK)
                batch = [] if self._faults.holding else self._take_batch(limit)
                remaining = deadline - loop.time()
                if batch or remaining <= 0 or self._state.stopping:
                    return batch
                await self._state.wait_change(remaining)
        finally:
            self._polls_active -= 1

    def _confirm(self, offset: int) -> None:
        state = self._state
        if offset < 0:
            keep = -offset
            forgotten = state.queue[:-keep] if keep < len(state.queue) else []
            state.drop_queued(forgotten)
            state.queue = state.queue[len(forgotten) :]
        else:
            while state.queue and state.queue[0].update_id < offset:
                update = state.queue.pop(0)
                update_state = state.update_state[update.update_id]
                if update_state == "handled":
                    continue
                if update_state != "delivered":
                    state.set_state(update.update_id, "dropped")
                elif not state.handling_reported or update.update_id in state.reported:
                    state.set_state(update.update_id, "handled")
                else:
                    state.set_state(update.update_id, "confirmed")
        state.notify()

    def _take_batch(self, limit: int) -> list[dict[str, Any]]:
        batch: list[dict[str, Any]] = []
        for update in list(self._state.queue):
            if len(batch) >= limit:
                break
            if not self._is_allowed(update.kind):
                self._state.queue.remove(update)
                self._state.set_state(update.update_id, "filtered")
                self._state.notify()
                continue
            if self._state.update_state[update.update_id] != "handled":
                self._state.set_state(update.update_id, "delivered")
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
            self._state.drop_queued(self._state.queue)
            self._state.queue.clear()
        if "allowed_updates" in args:
            self._allowed_updates = list(args["allowed_updates"]) or None
        if self._webhook is None or self._webhook.url != url:
            self._last_error_date = self._last_error_message = None
        self._webhook = _Webhook(url, secret, max_connections, args.get("ip_address"))
        if self._webhook_task is None or self._webhook_task.done():
            self._webhook_task = asyncio.get_running_loop().create_task(self._webhook_loop())
        self._state.notify()
        return True

    def _m_delete_webhook(self, args: Mapping[str, Any]) -> bool:
        if args.get("drop_pending_updates"):
            self._state.drop_queued(self._state.queue)
            self._state.queue.clear()
        self._webhook = None
        self._last_error_date = self._last_error_message = None
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            self._webhook_task = None
        for update in self._state.queue:
            if self._state.update_state[update.update_id] == "delivered":
                self._state.set_state(update.update_id, "queued")
        self._state.notify()
        return True

    def _m_get_webhook_info(self, _args: Mapping[str, Any]) -> dict[str, Any]:
        info: dict[str, Any] = {
            "url": self._webhook.url if self._webhook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._state.queue),
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

    def _media_file(self, args: Mapping[str, Any], kind: str) -> StoredFile:
        value = args[kind]
        if isinstance(value, UploadedFile):
            if not value.content:
                raise bad_request("file must be non-empty")
            limit = _PHOTO_LIMIT if kind == "photo" else DOCUMENT_LIMIT
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
            return self._state.store_file(kind, value.content, value.filename, mime, size)
        known = self._state.files.get(value)
        if known is not None:
            if known.kind != kind:
                raise bad_request(f"can't use file of type {known.kind.title()} as {kind.title()}")
            return known
        if value.startswith(("http://", "https://")):
            # No internet in the sandbox: a URL becomes an empty placeholder file.
            name = urlsplit(value).path.rsplit("/", 1)[-1] or None
            return self._state.store_file(kind, b"", name, None)
        raise bad_request("wrong file identifier/HTTP URL specified")

    def _m_send_document(self, args: Mapping[str, Any]) -> dict[str, Any]:
        chat = self._target_chat(args["chat_id"])
        caption, entities = self._caption(args)
        stored = self._media_file(args, "document")
        content: dict[str, Any] = {"document": self._state.document_json(stored)}
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
        self._state.record("chat_action", chat.id, None, None, {"action": args["action"]})
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
        chat = self._state.chats.get(args["chat_id"]) if isinstance(args["chat_id"], int) else None
        if chat is None:
            raise bad_request("chat not found")
        msg = self._state.messages.get((chat.id, args["message_id"]))
        if msg is None or msg.deleted:
            raise bad_request("message to delete not found")
        if not msg.from_bot and chat.type != "private" and chat.bot_status != "administrator":
            raise bad_request("message can't be deleted")
        msg.deleted = True
        self._state.record("deleted", chat.id, msg.message_id, msg.state())
        return True

    def _m_answer_callback_query(self, args: Mapping[str, Any]) -> bool:
        callback = self._state.callbacks.get(args["callback_query_id"])
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
        self._state.record("callback_answer", callback.chat_id, callback.message_id, None, callback.answer)
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
        key = (scope_key(args.get("scope")), args.get("language_code", ""))
        self._state.commands[key] = [{"command": c["command"], "description": c["description"]} for c in commands]
        return True

    def _m_get_my_commands(self, args: Mapping[str, Any]) -> list[dict[str, Any]]:
        return self._state.my_commands(args.get("scope"), args.get("language_code", ""))

    def _m_delete_my_commands(self, args: Mapping[str, Any]) -> bool:
        self._state.commands.pop((scope_key(args.get("scope")), args.get("language_code", "")), None)
        return True

    def _set_description(self, args: Mapping[str, Any], field_name: str, limit: int) -> bool:
        text = args.get(field_name, "")
        if len(text) > limit:
            raise bad_request(f"{field_name} is too long")
        kind = "short" if field_name == "short_description" else "long"
        self._state.descriptions[(kind, args.get("language_code", ""))] = text
        return True

    def _m_set_my_description(self, args: Mapping[str, Any]) -> bool:
        return self._set_description(args, "description", 512)

    def _m_set_my_short_description(self, args: Mapping[str, Any]) -> bool:
        return self._set_description(args, "short_description", 120)

    def _m_get_my_description(self, args: Mapping[str, Any]) -> dict[str, Any]:
        return {"description": self._state.my_description(args.get("language_code", ""))}

    def _m_get_my_short_description(self, args: Mapping[str, Any]) -> dict[str, Any]:
        text = self._state.my_description(args.get("language_code", ""), short=True)
        return {"short_description": text}

    def _m_set_chat_menu_button(self, args: Mapping[str, Any]) -> bool:
        button = args.get("menu_button") or {"type": "default"}
        if "chat_id" in args:
            chat = self._target_chat(args["chat_id"])
            if chat.type != "private":
                raise bad_request("menu button can be set only in private chats")
            chat.menu_button = button
        else:
            self._state.default_menu_button = button
        return True

    def _m_get_chat_menu_button(self, args: Mapping[str, Any]) -> dict[str, Any]:
        if "chat_id" in args:
            self._target_chat(args["chat_id"])
        return self._state.menu_button(args.get("chat_id"))

    def _m_get_chat(self, args: Mapping[str, Any]) -> dict[str, Any]:
        chat = self._state.chats.get(args["chat_id"]) if isinstance(args["chat_id"], int) else None
        if chat is None:
            raise bad_request("chat not found")
        return {
            **self._state.chat_json(chat),
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
        chat = self._state.chats.get(args["chat_id"]) if isinstance(args["chat_id"], int) else None
        if chat is None:
            raise bad_request("chat not found")
        user_id = args["user_id"]
        if user_id == self._state.bot_id:
            if chat.type == "private":
                status = "kicked" if chat.id in self._state.blocked else "member"
            else:
                status = chat.bot_status
            return self._state.member_json(chat, self._state.bot_user(), status)
        user = self._state.users.get(user_id)
        if user is None or (chat.type == "private" and chat.id != user_id):
            raise bad_request("user not found")
        status = "member" if chat.type == "private" else chat.members.get(user_id, "left")
        return self._state.member_json(chat, user, status)

    def _m_get_file(self, args: Mapping[str, Any]) -> dict[str, Any]:
        stored = self._state.files.get(args["file_id"])
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
        while self._webhook is not None and not self._state.stopping:
            hook = self._webhook
            update = self._next_webhook_update()
            if update is None:
                await self._state.wait_change(None)
                continue
            self._state.set_state(update.update_id, "delivered")
            error, reply = await self._webhooks.post_update(hook.url, hook.secret_token, update.payload)
            if error is not None:
                self._state.stats.webhook_failures += 1
                self._last_error_date = now()
                self._last_error_message = error
                self._state.notify()
                await asyncio.sleep(self.webhook_retry_delay)
                continue
            if update in self._state.queue:
                self._state.queue.remove(update)
            if reply is not None:
                await self._run_webhook_reply(*reply)
            if self._state.update_state[update.update_id] == "delivered":
                self._state.set_state(update.update_id, "handled")
            self._state.notify()

    def _next_webhook_update(self) -> QueuedUpdate | None:
        while self._state.queue:
            update = self._state.queue[0]
            if self._is_allowed(update.kind):
                return update
            self._state.queue.pop(0)
            self._state.set_state(update.update_id, "filtered")
            self._state.notify()
        return None

    async def _run_webhook_reply(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> None:
        method_name = str(params.pop("method", ""))
        method = self._state.spec.canonical_method(method_name)
        if method is None:
            self.webhook_reply_errors.append(f"{method_name}: Not Found")
            return
        self._state.stats.calls[method] += 1
        try:
            await self.execute(method, params, files)
        except ApiError as exc:
            log.warning("webhook reply %s failed: %s", method, exc.description)
            self.webhook_reply_errors.append(f"{method}: {exc.description}")


def _add_caption(content: dict[str, Any], caption: str | None, entities: list[dict[str, Any]]) -> None:
    if caption:
        content["caption"] = caption
        if entities:
            content["caption_entities"] = entities


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

"""Tests of the sandbox Bot API server: real aiogram bots over HTTP, strictness, faults, HTML parsing."""

from __future__ import annotations

import asyncio
import re
import struct
import time
import zlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.filters import Command, CommandStart
from aiogram.methods import EditMessageText, SendMessage, TelegramMethod
from aiogram.types import (
    BotCommand,
    BotCommandScopeAllPrivateChats,
    BufferedInputFile,
    CallbackQuery,
    ChatFullInfo,
    ChatMemberAdministrator,
    ChatMemberMember,
    File,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    MenuButtonCommands,
    Message,
    ReplyKeyboardMarkup,
    ReplyParameters,
    Update,
    User,
    WebhookInfo,
)
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from bot.sandbox.client import BotMessage, ButtonNotFound, CannotTap, SandboxUser, render
from bot.sandbox.server import NOT_MODIFIED, QUERY_TOO_OLD, SandboxServer, SandboxUsageError
from bot.sandbox.spec import ApiError, load_spec
from bot.telegram_text import EntityParseError, parse_formatted, parse_html, utf16_len

TOKEN = "123456:TEST"
BOT_ID = 123456
ANA = 1001
BOB = 1002
GROUP = -1001234567890

LANGUAGES = InlineKeyboardMarkup(
    inline_keyboard=[
        [
            InlineKeyboardButton(text="English", callback_data="lang:en"),
            InlineKeyboardButton(text="Română", callback_data="lang:ro"),
        ],
        [InlineKeyboardButton(text="About", callback_data="about")],
    ]
)


# ---------------------------------------------------------------- helpers


class SendMesage(TelegramMethod[Message]):
    """A misspelt method name, to see the sandbox answer 404 like Telegram."""

    __returning__ = Message
    __api_method__ = "sendMesage"

    chat_id: int
    text: str


class PlainHttpSession(AiohttpSession):
    """AiohttpSession without the 250 ms pause close() takes to let TLS connections wind down."""

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()


def make_bot(sandbox: SandboxServer) -> Bot:
    return Bot(TOKEN, session=PlainHttpSession(api=TelegramAPIServer.from_base(sandbox.base_url)))


def build_dispatcher() -> Dispatcher:
    router = Router()

    @router.message(CommandStart())
    async def start(message: Message) -> None:
        await message.answer("<b>Welcome!</b> Choose a language:", parse_mode="HTML", reply_markup=LANGUAGES)

    @router.message(Command("menu"))
    async def menu(message: Message) -> None:
        keyboard = ReplyKeyboardMarkup(
            keyboard=[[KeyboardButton(text="Members"), KeyboardButton(text="Events")]], resize_keyboard=True
        )
        await message.answer("Menu", reply_markup=keyboard)

    @router.message(Command("links"))
    async def links(message: Message) -> None:
        site = InlineKeyboardButton(text="Site", url="https://example.org")
        await message.answer("Links", reply_markup=InlineKeyboardMarkup(inline_keyboard=[[site]]))

    @router.message(Command("help"))
    async def help_(message: Message) -> None:
        await message.answer(f"Help for a {message.chat.type} chat")

    @router.message(Command("ping"))
    async def ping(message: Message) -> SendMessage:
        # Returned, not awaited: in webhook mode aiogram puts it in the HTTP answer.
        return message.answer("pong")

    @router.message(F.document)
    async def document(message: Message, bot: Bot) -> None:
        assert message.document is not None
        file = await bot.get_file(message.document.file_id)
        assert file.file_path is not None
        data = await bot.download_file(file.file_path)
        assert data is not None
        lines = data.read().decode().splitlines()
        await message.answer(f"Got {message.document.file_name}: {len(lines)} lines")

    @router.message(F.text)
    async def echo(message: Message) -> None:
        await message.answer(f"echo: {message.text}")

    @router.callback_query(F.data.startswith("lang:"))
    async def choose_language(query: CallbackQuery) -> None:
        assert isinstance(query.message, Message) and query.data is not None
        await query.message.edit_text(f"Language: {query.data.removeprefix('lang:')}")
        await query.answer("Saved")

    @router.callback_query(F.data == "about")
    async def about(query: CallbackQuery) -> None:
        await query.answer("Clusterbot v1", show_alert=True)

    dispatcher = Dispatcher()
    dispatcher.include_router(router)
    return dispatcher


async def raw_call(
    sandbox: SandboxServer, method: str, token: str = TOKEN, **params: Any
) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{sandbox.base_url}/bot{token}/{method}", json=params) as resp,
    ):
        return resp.status, await resp.json()


def tiny_png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\xff\xff\xff" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


async def greet(sandbox: SandboxServer, user_id: int = ANA, name: str = "Ana") -> None:
    """Make the private chat exist, as it does once a user has written to the bot."""
    sandbox.add_user(user_id, name)
    await sandbox.user_sends(user_id, "hi")


# ---------------------------------------------------------------- fixtures


@pytest_asyncio.fixture
async def sandbox() -> AsyncIterator[SandboxServer]:
    async with SandboxServer(webhook_retry_delay=0.05) as server:
        yield server


@pytest_asyncio.fixture
async def bot(sandbox: SandboxServer) -> AsyncIterator[Bot]:
    client = make_bot(sandbox)
    yield client
    await client.session.close()


@pytest_asyncio.fixture
async def polling(sandbox: SandboxServer) -> AsyncIterator[SandboxServer]:
    """The demo bot running with long polling against the sandbox."""
    dispatcher = build_dispatcher()
    task = asyncio.create_task(
        dispatcher.start_polling(make_bot(sandbox), handle_as_tasks=False, polling_timeout=1, handle_signals=False)
    )
    await sandbox.wait_for_bot()
    yield sandbox
    await dispatcher.stop_polling()
    await task


# ---------------------------------------------------------------- user stories (polling)


@pytest.mark.asyncio
async def test_start_then_tap_by_label_and_by_number(polling: SandboxServer) -> None:
    ana = SandboxUser(polling, ANA, "Ana", language_code="ro")

    produced = await ana.send("/start")
    assert [m.text for m in produced] == ["Welcome! Choose a language:"]
    assert produced[0].buttons == [["English", "Română"], ["About"]]
    assert produced[0].inline and not produced[0].edited
    welcome = polling.message(ANA, produced[0].message_id)
    assert welcome.entities == ({"offset": 0, "length": 8, "type": "bold"},)

    produced = await ana.tap("english")
    assert ana.last_text == "Language: en"
    assert ana.last_message is not None and ana.last_message.edited
    assert ana.last_message.buttons == []
    assert [(m.text, m.edited) for m in produced] == [("Language: en", True)]
    assert ana.since_last_action == produced
    assert ana.last_callback_answer == ("Saved", False)

    await ana.send("/start")
    await ana.tap(2)
    assert ana.last_text == "Language: ro"

    await ana.send("/start")
    assert await ana.tap("ABOUT") == []
    assert ana.last_callback_answer == ("Clusterbot v1", True)

    with pytest.raises(ButtonNotFound, match="English") as missing:
        await ana.tap("Deutsch")
    assert missing.value.labels == ["English", "Română", "About"]
    with pytest.raises(ButtonNotFound, match="number 9"):
        await ana.tap(9)

    assert [m.text for m in ana.messages] == [
        "Language: en",
        "Language: ro",
        "Welcome! Choose a language:",
    ]
    assert render(ana.messages[-1]) == "Welcome! Choose a language:\n[1 English] [2 Română]\n[3 About]"
    assert render(ana.messages[0]) == "(edited) Language: en"


@pytest.mark.asyncio
async def test_reply_keyboard_text_and_url_buttons(polling: SandboxServer) -> None:
    ana = SandboxUser(polling, ANA, "Ana")
    await ana.send("/menu")
    assert ana.last_message is not None and not ana.last_message.inline
    assert ana.last_message.buttons == [["Members", "Events"]]

    produced = await ana.tap("members")
    assert [m.text for m in produced] == ["echo: Members"]
    assert ana.last_callback_answer is None

    await ana.send("/links")
    with pytest.raises(CannotTap, match=re.escape("example.org")):
        await ana.tap("Site")

    produced = await ana.send("plain words")
    assert ana.last_text == "echo: plain words" == produced[0].text


@pytest.mark.asyncio
async def test_document_upload_is_downloadable_by_the_bot(polling: SandboxServer) -> None:
    ana = SandboxUser(polling, ANA, "Ana")
    produced = await ana.send_document("members.csv", b"name\nAna\nBob\n")
    assert [m.text for m in produced] == ["Got members.csv: 3 lines"]
    assert polling.stats.calls["getFile"] == 1


@pytest.mark.asyncio
async def test_group_command_addressed_to_the_bot(polling: SandboxServer) -> None:
    ana = SandboxUser(polling, ANA, "Ana")
    polling.add_group(GROUP, "Cluster members", supergroup=True)
    # The demo bot has no my_chat_member handler, so aiogram filters that update out.
    update_id = polling.add_bot_to_group(GROUP, ANA)
    await polling.wait_handled(update_id)
    assert polling.update_state(update_id) == "filtered"

    produced = await ana.send("/help@clusterbot_sandbox_bot", chat_id=GROUP)
    assert [m.text for m in produced] == ["Help for a supergroup chat"]
    user_message = polling.message(GROUP, 1).message
    assert user_message["entities"] == [{"type": "bot_command", "offset": 0, "length": 28}]
    assert ana.messages == []


@pytest.mark.asyncio
async def test_block_and_unblock_through_the_client(polling: SandboxServer, bot: Bot) -> None:
    ana = SandboxUser(polling, ANA, "Ana")
    await ana.send("hello")
    await ana.block_bot()
    assert polling.is_blocked(ANA)
    with pytest.raises(SandboxUsageError):
        await ana.send("still there?")
    await ana.unblock_bot()
    await ana.send("back")
    assert ana.last_text == "echo: back"


# ---------------------------------------------------------------- handled detection


@pytest.mark.asyncio
async def test_wait_handled_times_out_with_a_clear_message(sandbox: SandboxServer) -> None:
    sandbox.add_user(ANA, "Ana")
    update_id = await sandbox.user_sends(ANA, "nobody listens")
    with pytest.raises(TimeoutError, match=rf"update {update_id} \(message\).*state=queued"):
        await sandbox.wait_handled(update_id, timeout=0.05)
    with pytest.raises(KeyError):
        await sandbox.wait_handled(1, timeout=0.05)


@pytest.mark.asyncio
async def test_polling_confirmation_marks_updates_handled(sandbox: SandboxServer) -> None:
    sandbox.add_user(ANA, "Ana")
    first = await sandbox.user_sends(ANA, "one")
    second = await sandbox.user_sends(ANA, "two")

    status, body = await raw_call(sandbox, "getUpdates", timeout=0)
    assert status == 200 and [u["update_id"] for u in body["result"]] == [first, second]
    assert sandbox.update_state(first) == "delivered"

    status, body = await raw_call(sandbox, "getUpdates", offset=second, timeout=0)
    assert [u["update_id"] for u in body["result"]] == [second]
    await sandbox.wait_handled(first, timeout=0.1)
    assert sandbox.update_state(second) == "delivered"

    third = await sandbox.user_sends(ANA, "three")
    status, body = await raw_call(sandbox, "getUpdates", offset=-1, timeout=0)
    assert [u["update_id"] for u in body["result"]] == [third]
    assert sandbox.update_state(second) == "dropped"
    with pytest.raises(SandboxUsageError, match="dropped"):
        await sandbox.wait_handled(second, timeout=0.1)

    status, body = await raw_call(sandbox, "getUpdates", limit=0)
    assert status == 400
    status, body = await raw_call(sandbox, "getUpdates", offset=third + 1, timeout=0)
    assert body == {"ok": True, "result": []}
    assert sandbox.pending_update_count == 0


@pytest.mark.asyncio
async def test_long_poll_returns_when_an_update_arrives(sandbox: SandboxServer) -> None:
    sandbox.add_user(ANA, "Ana")
    started = time.monotonic()
    poll = asyncio.create_task(raw_call(sandbox, "getUpdates", timeout=5))
    await sandbox.wait_for_bot()
    await sandbox.user_sends(ANA, "wake up")
    status, body = await poll
    assert status == 200 and body["result"][0]["message"]["text"] == "wake up"
    assert time.monotonic() - started < 2


@pytest.mark.asyncio
async def test_concurrent_get_updates_conflict(sandbox: SandboxServer, bot: Bot) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=5))
    await sandbox.wait_for_bot()
    assert await bot.get_updates(timeout=0) == []
    with pytest.raises(TelegramConflictError, match="terminated by other getUpdates request"):
        await first


@pytest.mark.asyncio
async def test_get_updates_while_webhook_is_set(sandbox: SandboxServer, bot: Bot) -> None:
    assert await bot.set_webhook("http://127.0.0.1:9/hook", secret_token="abc_DEF-1")
    with pytest.raises(TelegramConflictError, match="can't use getUpdates method while webhook is active"):
        await bot.get_updates()
    with pytest.raises(TelegramBadRequest, match="Secret token contains unallowed characters"):
        await bot.set_webhook("http://127.0.0.1:9/hook", secret_token="no spaces")
    assert await bot.delete_webhook()
    assert await bot.get_updates() == []


# ---------------------------------------------------------------- webhook mode


@pytest.mark.asyncio
async def test_webhook_mode_with_secret_retry_and_reply_method(sandbox: SandboxServer) -> None:
    bot = make_bot(sandbox)
    dispatcher = build_dispatcher()
    app = web.Application()
    handler = SimpleRequestHandler(dispatcher, bot, handle_in_background=False, secret_token="right-secret")
    handler.register(app, path="/hook")
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    try:
        await bot.set_webhook(url, secret_token="wrong-secret")
        ana = SandboxUser(sandbox, ANA, "Ana")
        update_id = await sandbox.user_sends(ANA, "/start")

        # The first failure and at least one retry.
        await sandbox.wait_until(lambda: sandbox.stats.webhook_failures >= 2, what="a webhook retry")
        info = await bot.get_webhook_info()
        assert isinstance(info, WebhookInfo)
        assert info.url == url and info.pending_update_count == 1
        assert info.last_error_message == "Wrong response from the webhook: 401 Unauthorized"
        assert info.last_error_date is not None
        assert sandbox.update_state(update_id) == "delivered"

        await bot.set_webhook(url, secret_token="right-secret")
        await sandbox.wait_handled(update_id)
        assert ana.last_text == "Welcome! Choose a language:"

        await ana.tap("English")
        assert ana.last_text == "Language: en"
        assert ana.last_callback_answer == ("Saved", False)

        calls_before = sandbox.stats.calls["sendMessage"]
        produced = await ana.send("/ping")
        assert [m.text for m in produced] == ["pong"]
        assert sandbox.stats.calls["sendMessage"] == calls_before + 1
        assert sandbox.webhook_reply_errors == []
        assert (await bot.get_webhook_info()).pending_update_count == 0
    finally:
        await bot.delete_webhook()
        await runner.cleanup()
        await bot.session.close()


# ---------------------------------------------------------------- strictness through aiogram


@pytest.mark.asyncio
async def test_method_and_parameter_strictness(sandbox: SandboxServer, bot: Bot) -> None:
    await greet(sandbox)

    with pytest.raises(TelegramNotFound, match="Not Found"):
        await bot(SendMesage(chat_id=ANA, text="x"))
    with pytest.raises(TelegramBadRequest, match="chat_id is empty"):
        await bot(SendMessage.model_construct(text="no chat"))
    with pytest.raises(TelegramBadRequest, match='unknown parameter "parse_mod"'):
        await bot(SendMessage(chat_id=ANA, text="x", parse_mod="HTML"))
    with pytest.raises(TelegramBadRequest, match='parameter "message_id" must be Integer'):
        await bot(EditMessageText.model_construct(chat_id=ANA, message_id="abc", text="x"))
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message("abc", "x")
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(BOB, "never started the bot")
    sandbox.add_user(BOB, "Bob")
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(BOB, "still never started the bot")


@pytest.mark.asyncio
async def test_text_rules(sandbox: SandboxServer, bot: Bot) -> None:
    await greet(sandbox)
    await bot.send_message(ANA, "x" * 4096)
    assert sandbox.bot_messages(ANA)[-1].text == "x" * 4096
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(ANA, "x" * 4097)
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(ANA, "😀" * 2049)  # 4098 UTF-16 units
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot.send_message(ANA, "")
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot.send_message(ANA, "  \n ")
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot.send_message(ANA, "<b></b>", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match=r"can't parse entities: Unsupported start tag \"foo\""):
        await bot.send_message(ANA, "<foo>bar</foo>", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await bot.send_message(ANA, "Tom & Jerry", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="not supported by the sandbox"):
        await bot.send_message(ANA, "*bold*", parse_mode="MarkdownV2")

    sent = await bot.send_message(ANA, "  <i>Salut</i>, 👋 <b>Ana</b> &amp; co  ", parse_mode="HTML")
    assert sent.text == "Salut, 👋 Ana & co"
    assert [(e.type, e.offset, e.length) for e in sent.entities or []] == [("italic", 0, 5), ("bold", 10, 3)]


@pytest.mark.asyncio
async def test_keyboard_rules(sandbox: SandboxServer, bot: Bot) -> None:
    await greet(sandbox)

    def keyboard(**button: Any) -> InlineKeyboardMarkup:
        return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="B", **button)]])

    await bot.send_message(ANA, "ok", reply_markup=keyboard(callback_data="ă" * 32))  # 64 bytes
    assert sandbox.bot_messages(ANA)[-1].buttons == [[{"text": "B", "callback_data": "ă" * 32}]]
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(ANA, "x", reply_markup=keyboard(callback_data="x" * 65))
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(ANA, "x", reply_markup=keyboard(callback_data="ă" * 33))
    with pytest.raises(TelegramBadRequest, match="text buttons are unallowed"):
        await bot.send_message(ANA, "x", reply_markup=keyboard())
    with pytest.raises(TelegramBadRequest, match="exactly one action"):
        await bot.send_message(ANA, "x", reply_markup=keyboard(callback_data="a", url="https://x.org"))


@pytest.mark.asyncio
async def test_edit_delete_and_callback_rules(sandbox: SandboxServer, bot: Bot) -> None:
    await greet(sandbox)
    sent = await bot.send_message(ANA, "Pick", reply_markup=LANGUAGES)

    with pytest.raises(TelegramBadRequest, match=re.escape(NOT_MODIFIED)):
        await bot.edit_message_text("Pick", chat_id=ANA, message_id=sent.message_id, reply_markup=LANGUAGES)
    edited = await bot.edit_message_text("Pick", chat_id=ANA, message_id=sent.message_id)
    assert isinstance(edited, Message) and edited.reply_markup is None and edited.edit_date
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_reply_markup(chat_id=ANA, message_id=sent.message_id)
    await bot.edit_message_reply_markup(chat_id=ANA, message_id=sent.message_id, reply_markup=LANGUAGES)
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("x", chat_id=ANA, message_id=999)
    with pytest.raises(TelegramBadRequest, match="message can't be edited"):
        await bot.edit_message_text("x", chat_id=ANA, message_id=1)  # Ana's own "hi"
    with pytest.raises(TelegramBadRequest, match="there is no caption in the message to edit"):
        await bot.edit_message_caption(chat_id=ANA, message_id=sent.message_id, caption="c")

    _, query_id = await sandbox.user_taps(ANA, ANA, sent.message_id, "lang:en")
    assert await bot.answer_callback_query(query_id, text="Saved")
    with pytest.raises(TelegramBadRequest, match=re.escape(QUERY_TOO_OLD)):
        await bot.answer_callback_query(query_id, text="again")
    with pytest.raises(TelegramBadRequest, match=re.escape(QUERY_TOO_OLD)):
        await bot.answer_callback_query("12345")
    with pytest.raises(SandboxUsageError, match="no inline button"):
        await sandbox.user_taps(ANA, ANA, sent.message_id, "lang:de")

    assert await bot.send_chat_action(ANA, "typing")
    with pytest.raises(TelegramBadRequest, match="wrong parameter action"):
        await bot.send_chat_action(ANA, "dancing")
    assert await bot.delete_message(ANA, sent.message_id)
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await bot.delete_message(ANA, sent.message_id)
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("gone", chat_id=ANA, message_id=sent.message_id)

    events = sandbox.events(ANA)
    assert [e.kind for e in events] == ["sent", "edited", "edited", "callback_answer", "chat_action", "deleted"]
    assert [e.seq for e in events] == sorted(e.seq for e in events)
    assert sandbox.events(ANA, since=events[3].seq, kinds=["deleted"])[0].message_id == sent.message_id
    assert sandbox.bot_messages(ANA) == []
    assert sandbox.bot_messages(ANA, include_deleted=True)[0].deleted


@pytest.mark.asyncio
async def test_blocked_user_gives_forbidden(sandbox: SandboxServer, bot: Bot) -> None:
    await greet(sandbox)
    update_id = sandbox.block(ANA)
    assert update_id is not None
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(ANA, "news")
    member = await bot.get_chat_member(ANA, BOT_ID)
    assert member.status == "kicked"
    sandbox.unblock(ANA)
    await bot.send_message(ANA, "news")
    updates = await bot.get_updates()
    kinds = [u.event_type for u in updates]
    assert kinds == ["message", "my_chat_member", "my_chat_member"]
    assert updates[1].my_chat_member is not None
    assert updates[1].my_chat_member.new_chat_member.status == "kicked"


@pytest.mark.asyncio
async def test_group_membership_rules(sandbox: SandboxServer, bot: Bot) -> None:
    sandbox.add_user(ANA, "Ana")
    sandbox.add_group(GROUP, "Cluster", supergroup=True)
    with pytest.raises(TelegramForbiddenError, match="bot is not a member of the supergroup chat"):
        await bot.send_message(GROUP, "hello")
    sandbox.add_bot_to_group(GROUP, ANA, as_admin=True)
    sandbox.set_member_status(GROUP, ANA, "administrator")
    await sandbox.user_sends(ANA, "hi all", chat_id=GROUP)
    assert await bot.delete_message(GROUP, 1)
    me = await bot.get_chat_member(GROUP, BOT_ID)
    assert isinstance(me, ChatMemberAdministrator) and me.can_delete_messages
    ana = await bot.get_chat_member(GROUP, ANA)
    assert isinstance(ana, ChatMemberAdministrator)
    chat = await bot.get_chat(GROUP)
    assert isinstance(chat, ChatFullInfo) and chat.title == "Cluster" and chat.type == "supergroup"


# ---------------------------------------------------------------- limits and faults


@pytest.mark.asyncio
async def test_per_chat_rate_limit_gives_retry_after(sandbox: SandboxServer, bot: Bot) -> None:
    await greet(sandbox)
    sandbox.set_rate_limits(global_per_second=None, per_chat_per_second=1, per_chat_burst=1, group_per_minute=None)
    await bot.send_message(ANA, "one")
    with pytest.raises(TelegramRetryAfter) as excinfo:
        await bot.send_message(ANA, "two")
    assert excinfo.value.retry_after == 1
    assert "Too Many Requests: retry after 1" in str(excinfo.value)
    assert await bot.send_chat_action(ANA, "typing")  # chat actions are not flood-limited
    assert sandbox.stats.rate_limited == 1
    assert sandbox.stats.delivered[ANA] == 1


@pytest.mark.asyncio
async def test_group_and_global_rate_limits(sandbox: SandboxServer, bot: Bot) -> None:
    for user_id in (ANA, BOB, 1003):
        await greet(sandbox, user_id, f"User{user_id}")
    sandbox.add_group(GROUP, "Cluster", supergroup=True)
    sandbox.add_bot_to_group(GROUP, ANA)

    sandbox.set_rate_limits(global_per_second=None, per_chat_per_second=None, group_per_minute=20)
    for i in range(20):
        await bot.send_message(GROUP, f"news {i}")
    with pytest.raises(TelegramRetryAfter) as excinfo:
        await bot.send_message(GROUP, "one too many")
    assert excinfo.value.retry_after == 3

    sandbox.set_rate_limits(global_per_second=2, per_chat_per_second=None, group_per_minute=None)
    await bot.send_message(ANA, "a")
    await bot.send_message(BOB, "b")
    with pytest.raises(TelegramRetryAfter):
        await bot.send_message(1003, "c")
    await bot.send_message(1003, "paid", allow_paid_broadcast=True)
    sandbox.clear_rate_limits()
    await bot.send_message(1003, "c")


@pytest.mark.asyncio
async def test_server_errors_and_dropped_connections(sandbox: SandboxServer, bot: Bot) -> None:
    await greet(sandbox)

    sandbox.set_faults(error_5xx_rate=1.0)
    with pytest.raises(TelegramServerError, match=r"Bad Gateway|Internal Server Error"):
        await bot.send_message(ANA, "x")
    assert (await bot.get_me()).id == BOT_ID  # exempt from faults
    assert sandbox.stats.errors_5xx == 1

    sandbox.set_faults(drop_before_rate=1.0)
    with pytest.raises(TelegramNetworkError):
        await bot.send_message(ANA, "lost before")
    assert sandbox.bot_messages(ANA) == []

    sandbox.set_faults(drop_after_rate=1.0)
    with pytest.raises(TelegramNetworkError):
        await bot.send_message(ANA, "lost answer")
    assert [m.text for m in sandbox.bot_messages(ANA)] == ["lost answer"]
    assert sandbox.stats.delivered[ANA] == 1
    assert (sandbox.stats.dropped_before, sandbox.stats.dropped_after) == (1, 1)

    sandbox.set_faults()
    await bot.send_message(ANA, "fine again")
    assert sandbox.stats.calls["sendMessage"] == 4


@pytest.mark.asyncio
async def test_faults_are_deterministic_for_a_seed() -> None:
    async def outcomes(seed: int) -> list[str]:
        async with SandboxServer(seed=seed) as server:
            await greet(server)
            server.set_faults(error_5xx_rate=0.3, drop_before_rate=0.2, drop_after_rate=0.2)
            client = make_bot(server)
            results = []
            for i in range(12):
                try:
                    await client.send_message(ANA, f"m{i}")
                    results.append("ok")
                except TelegramServerError:
                    results.append("5xx")
                except TelegramNetworkError:
                    results.append("drop")
            await client.session.close()
            return results

    first = await outcomes(7)
    assert first == await outcomes(7)
    assert {"ok", "5xx", "drop"} <= set(first)


@pytest.mark.asyncio
async def test_latency_is_added_to_calls(sandbox: SandboxServer, bot: Bot) -> None:
    await bot.get_me()
    sandbox.set_latency(0.2)
    started = time.monotonic()
    await bot.get_me()
    elapsed = time.monotonic() - started
    assert 0.19 <= elapsed < 1.0


# ---------------------------------------------------------------- wire format


@pytest.mark.asyncio
async def test_results_parse_as_aiogram_types(sandbox: SandboxServer) -> None:
    sandbox.add_user(ANA, "Ana", last_name="Pop", username="ana_pop", language_code="ro")
    await sandbox.user_sends(ANA, "/start now")
    await sandbox.user_sends_document(ANA, "list.csv", b"a,b\n1,2\n", caption="members")

    status, body = await raw_call(sandbox, "getMe")
    assert status == 200
    me = User.model_validate(body["result"])
    assert me.is_bot and me.id == BOT_ID and me.username == "clusterbot_sandbox_bot"

    status, body = await raw_call(
        sandbox,
        "sendMessage",
        chat_id=ANA,
        text="Hi <b>Ana</b> 🎉 <a href='https://x.org'>site</a>",
        parse_mode="HTML",
        reply_markup={"inline_keyboard": [[{"text": "Go", "callback_data": "go"}]]},
        reply_parameters={"message_id": 1},
        protect_content=True,
    )
    assert status == 200, body
    message = Message.model_validate(body["result"])
    assert message.reply_to_message is not None and message.reply_to_message.text == "/start now"
    assert message.reply_markup is not None and message.has_protected_content
    assert message.entities is not None and message.entities[1].url == "https://x.org"

    await sandbox.user_taps(ANA, ANA, message.message_id, "go")
    status, body = await raw_call(sandbox, "getUpdates")
    updates = [Update.model_validate(u) for u in body["result"]]
    assert [u.event_type for u in updates] == ["message", "message", "callback_query"]
    assert updates[0].message is not None and updates[0].message.entities is not None
    assert updates[0].message.entities[0].type == "bot_command"
    document = updates[1].message.document if updates[1].message else None
    assert document is not None and document.file_name == "list.csv" and document.file_size == 8
    assert updates[2].callback_query is not None and updates[2].callback_query.data == "go"

    status, body = await raw_call(sandbox, "getFile", file_id=document.file_id)
    file = File.model_validate(body["result"])
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{sandbox.base_url}/file/bot{TOKEN}/{file.file_path}") as resp:
            assert await resp.read() == b"a,b\n1,2\n"
        async with http.get(f"{sandbox.base_url}/file/bot{TOKEN}/documents/nope") as resp:
            assert resp.status == 404

    status, body = await raw_call(sandbox, "getWebhookInfo")
    info = WebhookInfo.model_validate(body["result"])
    assert info.url == "" and info.pending_update_count == 3

    form = aiohttp.FormData()
    form.add_field("chat_id", str(ANA))
    form.add_field("caption", "<i>chart</i>")
    form.add_field("parse_mode", "HTML")
    form.add_field("photo", tiny_png(3, 2), filename="chart.png", content_type="image/png")
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{sandbox.base_url}/bot{TOKEN}/sendPhoto", data=form) as resp:
            body = await resp.json()
    photo_message = Message.model_validate(body["result"])
    assert photo_message.photo is not None
    assert (photo_message.photo[-1].width, photo_message.photo[-1].height) == (3, 2)
    assert photo_message.caption == "chart" and photo_message.caption_entities is not None


@pytest.mark.asyncio
async def test_files_commands_and_settings_through_aiogram(sandbox: SandboxServer, bot: Bot) -> None:
    await greet(sandbox)
    sent = await bot.send_document(ANA, BufferedInputFile(b"id,name\n1,Ana\n", filename="export.csv"), caption="Export")
    assert sent.document is not None and sent.document.file_name == "export.csv"
    assert sent.document.mime_type == "text/csv" and sent.caption == "Export"
    again = await bot.send_document(ANA, sent.document.file_id)
    assert again.document is not None and again.document.file_id == sent.document.file_id
    with pytest.raises(TelegramBadRequest, match="wrong file identifier"):
        await bot.send_document(ANA, "no-such-file-id")
    with pytest.raises(TelegramBadRequest, match="IMAGE_PROCESS_FAILED"):
        await bot.send_photo(ANA, BufferedInputFile(b"not an image", filename="x.png"))
    with pytest.raises(TelegramBadRequest, match="message caption is too long"):
        await bot.send_document(ANA, sent.document.file_id, caption="c" * 1025)
    recaptioned = await bot.edit_message_caption(chat_id=ANA, message_id=sent.message_id, caption="New")
    assert isinstance(recaptioned, Message) and recaptioned.caption == "New"
    photo = await bot.send_photo(
        ANA,
        BufferedInputFile(tiny_png(4, 4), filename="p.png"),
        reply_parameters=(ReplyParameters(message_id=sent.message_id)),
    )
    assert photo.photo is not None and photo.reply_to_message is not None

    scope = BotCommandScopeAllPrivateChats()
    commands = [BotCommand(command="start", description="Start"), BotCommand(command="help", description="Help")]
    assert await bot.set_my_commands(commands, scope=scope, language_code="ro")
    listed = await bot.get_my_commands(scope=scope, language_code="ro")
    assert [(c.command, c.description) for c in listed] == [("start", "Start"), ("help", "Help")]
    assert await bot.get_my_commands() == []
    assert sandbox.my_commands({"type": "all_private_chats"}, "ro")[0]["command"] == "start"
    with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand(command="Bad-Command", description="x")])
    assert await bot.delete_my_commands(scope=scope, language_code="ro")
    assert await bot.get_my_commands(scope=scope, language_code="ro") == []

    assert await bot.set_my_description("Long description")
    assert await bot.set_my_short_description("Short")
    assert sandbox.my_description() == "Long description"
    assert sandbox.my_description(short=True) == "Short"
    assert await bot.set_chat_menu_button(chat_id=ANA, menu_button=MenuButtonCommands())
    assert sandbox.menu_button(ANA) == {"type": "commands"}

    chat = await bot.get_chat(ANA)
    assert chat.type == "private" and chat.first_name == "Ana"
    member = await bot.get_chat_member(ANA, ANA)
    assert isinstance(member, ChatMemberMember)


@pytest.mark.asyncio
async def test_tokens_routes_and_unsupported_methods(sandbox: SandboxServer) -> None:
    status, body = await raw_call(sandbox, "getMe", token="not-a-token")
    assert (status, body) == (401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
    status, body = await raw_call(sandbox, "noSuchMethod")
    assert (status, body) == (404, {"ok": False, "error_code": 404, "description": "Not Found"})
    status, body = await raw_call(sandbox, "sendPoll", chat_id=1, question="q", options=[])
    assert status == 400 and body["description"] == "Bad Request: method sendPoll is not supported by the sandbox"
    status, body = await raw_call(sandbox, "getme")
    assert status == 200 and body["result"]["id"] == BOT_ID
    status, body = await raw_call(sandbox, "getMe", token="999:OTHER")
    assert status == 401
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{sandbox.base_url}/bot{TOKEN}/getUpdates?timeout=0&limit=5") as resp:
            assert await resp.json() == {"ok": True, "result": []}
        async with http.post(
            f"{sandbox.base_url}/bot{TOKEN}/sendMessage", data={"chat_id": "1", "text": "x", "reply_markup": "{"}
        ) as resp:
            assert resp.status == 400
            assert (await resp.json())["description"] == "Bad Request: can't parse reply_markup JSON object"


# ---------------------------------------------------------------- spec validation


def test_spec_validation_coerces_form_values() -> None:
    spec = load_spec()
    args = spec.validate_call(
        "sendMessage",
        {
            "chat_id": "-100123",
            "text": "hi",
            "disable_notification": "true",
            "reply_markup": '{"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}',
            "link_preview_options": {"is_disabled": True},
        },
    )
    assert args["chat_id"] == -100123 and args["disable_notification"] is True
    assert args["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "a"
    assert spec.validate_call("sendMessage", {"chat_id": "@channel", "text": "x"})["chat_id"] == "@channel"
    scope = spec.validate_call("setMyCommands", {"commands": "[]", "scope": '{"type": "chat", "chat_id": 5}'})
    assert scope["scope"] == {"type": "chat", "chat_id": 5}
    # aiogram sends these deprecated names when DefaultBotProperties ask for them.
    assert spec.validate_call("sendMessage", {"chat_id": 1, "text": "x", "disable_web_page_preview": "true"})


@pytest.mark.parametrize(
    ("method", "params", "status", "description"),
    [
        ("sendMesage", {}, 404, "Not Found"),
        ("sendMessage", {"text": "x"}, 400, "Bad Request: chat_id is empty"),
        ("sendMessage", {"chat_id": 1}, 400, "Bad Request: message text is empty"),
        ("sendMessage", {"chat_id": 1, "text": "x", "colour": "red"}, 400, 'Bad Request: unknown parameter "colour"'),
        (
            "sendMessage",
            {"chat_id": 1, "text": "x", "disable_notification": "maybe"},
            400,
            'Bad Request: parameter "disable_notification" must be Boolean',
        ),
        (
            "sendMessage",
            {"chat_id": 1, "text": "x", "reply_markup": '{"inline_keyboard": [[{"txt": "A"}]]}'},
            400,
            'Bad Request: can\'t parse reply_markup: unknown field "reply_markup.inline_keyboard[0][0].txt" '
            "in InlineKeyboardButton",
        ),
        (
            "setMyCommands",
            {"commands": "[]", "scope": '{"type": "galaxy"}'},
            400,
            'Bad Request: can\'t parse scope: field "scope" is not a valid BotCommandScope',
        ),
    ],
)
def test_spec_validation_errors(method: str, params: dict[str, Any], status: int, description: str) -> None:
    with pytest.raises(ApiError) as excinfo:
        load_spec().validate_call(method, params)
    assert (excinfo.value.status, excinfo.value.description) == (status, description)


# ---------------------------------------------------------------- HTML parser


def test_html_entities_and_utf16_offsets() -> None:
    text, entities = parse_html("👍 <b>bold <i>both</i></b> <u>u</u><s>s</s><tg-spoiler>x</tg-spoiler>")
    assert text == "👍 bold both usx"
    assert entities == [
        {"offset": 3, "length": 9, "type": "bold"},
        {"offset": 8, "length": 4, "type": "italic"},
        {"offset": 13, "length": 1, "type": "underline"},
        {"offset": 14, "length": 1, "type": "strikethrough"},
        {"offset": 15, "length": 1, "type": "spoiler"},
    ]
    assert utf16_len("👍") == 2 and utf16_len("ă") == 1


def test_html_links_code_quotes_and_emoji() -> None:
    text, entities = parse_html(
        '<a href="https://x.org/?a=1&amp;b=2">link</a> <code>c</code> '
        '<pre><code class="language-python">print(1)</code></pre>'
        "<pre>raw</pre><blockquote>q</blockquote><blockquote expandable>e</blockquote>"
        '<span class="tg-spoiler">s</span><tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>'
        "<strong>B</strong><em>I</em><ins>U</ins><del>D</del><strike>S</strike>"
    )
    assert text == "link c print(1)rawqes👍BIUDS"
    types = [(e["type"], e["offset"], e["length"]) for e in entities]
    assert types == [
        ("text_link", 0, 4),
        ("code", 5, 1),
        ("pre", 7, 8),
        ("pre", 15, 3),
        ("blockquote", 18, 1),
        ("expandable_blockquote", 19, 1),
        ("spoiler", 20, 1),
        ("custom_emoji", 21, 2),
        ("bold", 23, 1),
        ("italic", 24, 1),
        ("underline", 25, 1),
        ("strikethrough", 26, 1),
        ("strikethrough", 27, 1),
    ]
    assert entities[0]["url"] == "https://x.org/?a=1&b=2"
    assert entities[2]["language"] == "python" and "language" not in entities[3]
    assert entities[7]["custom_emoji_id"] == "5368324170671202286"


def test_html_character_references() -> None:
    assert parse_html("&lt;b&gt; &amp; &quot; &#128077; &#x1F44D; &#97;")[0] == '<b> & " 👍 👍 a'
    _, entities = parse_html("&#x1F44D;<b>x</b>")
    assert entities == [{"offset": 2, "length": 1, "type": "bold"}]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("<foo>x</foo>", 'Unsupported start tag "foo" at byte offset 0'),
        ("ă<br>", 'Unsupported start tag "br" at byte offset 2'),
        ("<b>x", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ("1 < 2", 'Unsupported start tag "" at byte offset 2'),
        ("Tom & Jerry", 'Character "&" at byte offset 4 does not start a supported HTML entity'),
        ("&nbsp;", 'Character "&" at byte offset 0'),
        ("<span>x</span>", 'Tag "span" must have class "tg-spoiler"'),
        ("<b", "Unclosed start tag at byte offset 0"),
        ('<a href="x"', "Unclosed start tag"),
        ('<tg-emoji emoji-id="abc">x</tg-emoji>', "Invalid custom emoji identifier specified"),
    ],
)
def test_html_errors_mimic_telegram(source: str, message: str) -> None:
    with pytest.raises(EntityParseError) as excinfo:
        parse_html(source)
    assert str(excinfo.value).startswith("can't parse entities: ")
    assert message in str(excinfo.value)


def test_plain_text_keeps_caller_entities_and_trims() -> None:
    text, entities = parse_formatted("  hi there \n", None, [{"type": "bold", "offset": 2, "length": 2}])
    assert text == "hi there"
    assert entities == [{"type": "bold", "offset": 0, "length": 2}]
    assert parse_formatted("<b> x </b>", "html") == ("x", [{"offset": 0, "length": 1, "type": "bold"}])


def test_render_marks_edits_documents_and_numbers_buttons() -> None:
    message = BotMessage(
        message_id=3,
        chat_id=ANA,
        caption="Report",
        buttons=[["Yes", "No"], ["Later"]],
        inline=True,
        has_document=True,
        document_name="r.csv",
        edited=True,
    )
    assert render(message) == "(edited) Report\n[document: r.csv]\n[1 Yes] [2 No]\n[3 Later]"
    assert message.labels == ["Yes", "No", "Later"]

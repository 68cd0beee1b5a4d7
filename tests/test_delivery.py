"""Delivery engine: the outbox and the sender against the sandbox over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramMigrateToChat
from aiogram.methods import SendMessage
from aiohttp import web
from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.bulk_send import BulkSender
from bot.delivery import Sender, run_sender, send_content
from bot.outbox import InvalidContent, Recipient, batch_report, queue, validate_content
from bot.sandbox.server import SandboxServer
from storage.db import create_session_factory, unit_of_work
from storage.models import OutboxMessage, OutboxStatus, Person, PersonStatus
from storage.repositories import Repositories

TOKEN = "7000000001:sandbox-not-a-secret"
FIRST_USER = 500_000_001
PROJECT_ROOT = Path(__file__).resolve().parent.parent

ANNOUNCEMENT = {
    "ro": {"text": "<b>Anunț</b>: ședința membrilor e joi", "parse_mode": "HTML"},
    "en": {"text": "<b>Announcement</b>: the members' meeting is on Thursday", "parse_mode": "HTML"},
}
RO_TEXT = "Anunț: ședința membrilor e joi"
EN_TEXT = "Announcement: the members' meeting is on Thursday"

Factory = async_sessionmaker[AsyncSession]


@pytest.fixture
def sqlite_factory(sqlite_engine: AsyncEngine) -> Factory:
    """For what does not depend on the database (rendering, pacing, flood control): SQLite only, to keep the
    suite short."""
    return create_session_factory(sqlite_engine)


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxServer]:
    async with SandboxServer() as server:
        yield server


@pytest.fixture
async def bot(sandbox: SandboxServer) -> AsyncIterator[Bot]:
    session = AiohttpSession(api=TelegramAPIServer.from_base(sandbox.base_url))
    created = Bot(TOKEN, session=session)
    try:
        yield created
    finally:
        await close_session(session)


async def close_session(session: AiohttpSession) -> None:
    # Not session.close(): it waits 250 ms for TLS connections to wind down, and these servers speak HTTP.
    if session._session is not None:
        await session._session.close()


def _sent(chat_id: int) -> tuple[int, dict[str, Any]]:
    return 200, {"ok": True, "result": {"message_id": 77, "date": 0, "chat": {"id": chat_id, "type": "private"}}}


@dataclass
class StubApi:
    """A Bot API of a few lines, for answers the sandbox never gives: it records each request's method and
    form, and answers with `answer(chat_id)`, a status and a body (by default: sent, as message 77)."""

    url: str = ""
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    answer: Callable[[int], tuple[int, dict[str, Any]]] = _sent


@pytest.fixture
async def stub_api() -> AsyncIterator[StubApi]:
    stub = StubApi()

    async def handle(request: web.Request) -> web.Response:
        form = {key: str(value) for key, value in (await request.post()).items()}
        stub.requests.append((request.match_info["method"], form))
        status, body = stub.answer(int(form["chat_id"]))
        return web.json_response(body, status=status)

    app = web.Application()
    app.router.add_post("/bot{token}/{method}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    stub.url = f"http://{host}:{port}"
    try:
        yield stub
    finally:
        await runner.cleanup()


def fast_sender(factory: Factory, bot: Bot, **options: Any) -> Sender:
    """A sender for tests: paid broadcast (no global ceiling in the sandbox), quick polls and retries."""
    settings: dict[str, Any] = {
        "rate": 1000.0,
        "paid_broadcast": True,
        "poll_interval": 0.02,
        "retry_base": 0.05,
        "max_attempts": 8,
    }
    settings.update(options)
    return Sender(factory, bot, **settings)


async def add_people(
    factory: Factory,
    sandbox: SandboxServer,
    count: int,
    *,
    first: int = FIRST_USER,
    language: Any = lambda i: "ro" if i % 2 else "en",
) -> list[Recipient]:
    """People who started the bot, in the database and in the sandbox; their recipients, in order."""
    rows = []
    for i in range(count):
        telegram_id = first + i
        sandbox.add_user(telegram_id, f"Member {i}", language_code=None)
        sandbox.open_private_chat(telegram_id)
        rows.append({"telegram_id": telegram_id, "first_name": f"Member {i}", "language": language(i)})
    async with unit_of_work(factory) as session:
        result = await session.execute(insert(Person).returning(Person.id, Person.telegram_id), rows)
        ids = {telegram_id: person_id for person_id, telegram_id in result.all()}
    return [Recipient(row["telegram_id"], ids[row["telegram_id"]], row["language"] or "ro") for row in rows]


def open_chats(sandbox: SandboxServer, count: int, first: int = FIRST_USER) -> list[Recipient]:
    """Private chats with nobody in the database behind them (the recipients of the bulk tests)."""
    recipients = []
    for i in range(count):
        sandbox.add_user(first + i, f"User {i}")
        sandbox.open_private_chat(first + i)
        recipients.append(Recipient(first + i, None, "en"))
    return recipients


async def queue_all(factory: Factory, batch: str, recipients: Sequence[Recipient], content: Any = None) -> int:
    async with unit_of_work(factory) as session:
        return await queue(Repositories(session), batch, recipients, content or ANNOUNCEMENT)


async def statuses(factory: Factory) -> dict[str, int]:
    async with factory() as session:
        rows = await session.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status))
        return {status: count for status, count in rows.all()}


def texts(sandbox: SandboxServer, chat_id: int) -> list[str | None]:
    return [message.content for message in sandbox.bot_messages(chat_id)]


def duplicates(sandbox: SandboxServer) -> int:
    return sum(count - 1 for count in sandbox.stats.delivered.values() if count > 1)


# ---------------------------------------------------------------------------------------------- content


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ({"en": {"text": "x" * 5000}}, "5000 characters"),
        ({"en": {"text": "<b>" + "x" * 4095 + "</b>!!", "parse_mode": "HTML"}}, "4097 characters"),
        ({"ro": {"text": "ok"}, "en": {"text": "<b>unclosed", "parse_mode": "HTML"}}, "en: the text is not HTML"),
        ({"en": {"text": "Tom & Jerry", "parse_mode": "HTML"}}, "not HTML"),
        ({"en": {"text": "<blink>no</blink>", "parse_mode": "HTML"}}, "not HTML"),
        ({"en": {"text": "   "}}, "empty"),
        ({"en": {"text": "*bold*", "parse_mode": "MarkdownV2"}}, "parse_mode"),
        ({"en": {"photo": "AgACxyz", "caption": "c" * 1025}}, "caption has 1025"),
        ({"en": {"text": "hi", "photo": "AgACxyz"}}, "exactly one of"),
        ({"en": {"text": "hi", "colour": "red"}}, "unknown field"),
        ({"en": {"text": "hi", "reply_markup": {"keyboard": [[{"text": "A"}]]}}}, "inline keyboard"),
        (
            {"en": {"text": "hi", "reply_markup": {"inline_keyboard": [[{"text": "A", "callback_data": "x" * 65}]]}}},
            "1-64 bytes",
        ),
        ({"en": {"text": "hi", "reply_markup": {"inline_keyboard": [[{"text": "A"}]]}}}, "exactly one action"),
        ({}, "no language"),
    ],
)
def test_content_telegram_would_refuse_is_refused(content: Any, reason: str) -> None:
    with pytest.raises(InvalidContent, match=reason):
        validate_content(content)


async def test_content_at_the_limits_is_accepted_and_arrives_whole(
    sqlite_factory: Factory, sandbox: SandboxServer, bot: Bot
) -> None:
    # Telegram counts a text's 4,096 characters after its HTML tags are gone, a caption's 1,024 likewise.
    long_text = {"en": {"text": "<b>" + "é" * 4096 + "</b>", "parse_mode": "HTML"}}
    media = {
        "en": {"document": "https://example.org/programme.pdf", "caption": "x" * 1024},
        "ro": {"photo": "https://example.org/plan.jpg"},
    }
    vote = {"en": {"text": "Vote", "reply_markup": {"inline_keyboard": [[{"text": "Yes", "callback_data": "v:1"}]]}}}
    # File ids Telegram handed out pass as URLs do (the sandbox knows only the ids it handed out itself).
    validate_content({"en": {"document": "BQACabc", "caption": "x" * 1024}, "ro": {"photo": "AgACabc"}})
    reader, english, romanian, voter = open_chats(sandbox, 4)
    for batch, recipients, content in (
        ("long", [reader], long_text),
        ("media", [english, Recipient(romanian.chat_id, None, "ro")], media),
        ("vote", [voter], vote),
    ):
        assert await queue_all(sqlite_factory, batch, recipients, content) == len(recipients)
    await fast_sender(sqlite_factory, bot).drain()

    (text,) = sandbox.bot_messages(reader.chat_id)
    assert text.text == "é" * 4096
    assert [(e["type"], e["offset"], e["length"]) for e in text.entities] == [("bold", 0, 4096)]
    (document,) = sandbox.bot_messages(english.chat_id)
    assert document.document is not None and document.caption == "x" * 1024
    (photo,) = sandbox.bot_messages(romanian.chat_id)
    assert photo.photo and photo.caption is None
    (ballot,) = sandbox.bot_messages(voter.chat_id)
    assert ballot.text == "Vote" and ballot.reply_markup == vote["en"]["reply_markup"]
    assert await statuses(sqlite_factory) == {"sent": 4}


KEYBOARDS: list[Any] = [
    {"inline_keyboard": [[{"text": "Yes", "callback_data": "v:1"}, {"text": "Site", "url": "https://e.ro"}]]},
    {"inline_keyboard": [[{"text": "App", "web_app": {"url": "https://e.ro/app"}}]]},
    {"inline_keyboard": [[{"text": "App", "web_app": {}}]]},
    {"inline_keyboard": [[{"text": "In", "login_url": {"url": "https://e.ro", "request_write_access": "maybe"}}]]},
    {"inline_keyboard": [[{"text": "Ask", "switch_inline_query_chosen_chat": {"allow_user_chats": True}}]]},
    {"inline_keyboard": [[{"text": "Copy", "copy_text": {"text": 5}}]]},
    {"inline_keyboard": [[{"text": "Play", "callback_game": {}}], [{"text": "Pay", "pay": "often"}]]},
    {"inline_keyboard": [[{"text": 7, "callback_data": "x"}]]},
    {"inline_keyboard": [[{"text": "A", "callback_data": ["x"]}]]},
    {"inline_keyboard": [{"text": "A", "callback_data": "x"}]},
    {"inline_keyboard": "buttons"},
    {"inline_keyboard": [[{"text": "A", "callback_data": "x", "style": "primary", "disabled": {}}]]},
    {"inline_keyboard": [[{"text": "A", "callback_data": "x", "something_new": 1}]]},
]


@pytest.mark.parametrize("keyboard", KEYBOARDS)
def test_the_outbox_checks_a_keyboard_as_aiogram_parses_it(keyboard: Any) -> None:
    # bot.outbox writes aiogram's keyboard shape out (services import no aiogram): both must agree.
    from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
    from pydantic import ValidationError

    from bot.outbox import _InlineKeyboard, _InlineKeyboardButton

    assert set(_InlineKeyboardButton.model_fields) == set(InlineKeyboardButton.model_fields)
    assert set(_InlineKeyboard.model_fields) == set(InlineKeyboardMarkup.model_fields)
    try:
        InlineKeyboardMarkup.model_validate(keyboard)
    except ValidationError as error:
        with pytest.raises(ValidationError) as ours:
            _InlineKeyboard.model_validate(keyboard)
        assert ours.value.errors()[0]["msg"] == error.errors()[0]["msg"]
    else:
        _InlineKeyboard.model_validate(keyboard)


async def test_invalid_content_is_refused_at_queue_time_and_nothing_is_written(
    sqlite_factory: Factory, sandbox: SandboxServer
) -> None:
    recipients = open_chats(sandbox, 3)
    for content in ({"en": {"text": "x" * 5000}}, {"en": {"text": "<i>oops</b>", "parse_mode": "HTML"}}):
        with pytest.raises(InvalidContent):
            await queue_all(sqlite_factory, "announcement:1", recipients, content)
    assert await statuses(sqlite_factory) == {}


# ---------------------------------------------------------------------------------------------- delivery


async def test_announcement_reaches_everyone_once_in_their_language(
    session_factory: Factory, sandbox: SandboxServer, bot: Bot
) -> None:
    recipients = await add_people(session_factory, sandbox, 200)
    assert await queue_all(session_factory, "announcement:1", recipients) == 200
    # Queueing again (a retried request, a double click) adds nothing.
    assert await queue_all(session_factory, "announcement:1", recipients) == 0
    # Ten people switch language after the announcement was queued: they get it in the new one.
    switched = recipients[:10]
    async with unit_of_work(session_factory) as session:
        for r in switched:
            await session.execute(
                update(Person).where(Person.id == r.person_id).values(language="ro" if r.locale == "en" else "en")
            )

    sender = fast_sender(session_factory, bot)
    await sender.drain()

    for r in recipients:
        wanted = r.locale if r not in switched else ("ro" if r.locale == "en" else "en")
        assert texts(sandbox, r.chat_id) == [RO_TEXT if wanted == "ro" else EN_TEXT], r
    assert await statuses(session_factory) == {"sent": 200}
    assert sender.stats.sent == 200
    async with unit_of_work(session_factory) as session:
        report = await batch_report(Repositories(session), "announcement:1")
        missing_ids = await session.scalar(
            select(func.count()).where(OutboxMessage.telegram_message_id.is_(None) | OutboxMessage.sent_at.is_(None))
        )
    assert (report.total, report.sent, report.done, report.undelivered) == (200, 200, True, [])
    assert missing_ids == 0


async def test_photos_documents_and_buttons(sqlite_factory: Factory, sandbox: SandboxServer, bot: Bot) -> None:
    photo, document, buttons = open_chats(sandbox, 3)
    keyboard = {"inline_keyboard": [[{"text": "Details", "callback_data": "announcement:7"}]]}
    await queue_all(
        sqlite_factory,
        "photo",
        [photo],
        {"en": {"photo": "https://example.org/plan.jpg", "caption": "<i>Site plan</i>", "parse_mode": "HTML"}},
    )
    await queue_all(sqlite_factory, "document", [document], {"en": {"document": "https://example.org/a.pdf"}})
    await queue_all(sqlite_factory, "buttons", [buttons], {"en": {"text": "Tap & see", "reply_markup": keyboard}})
    await fast_sender(sqlite_factory, bot).drain()

    (photo_message,) = sandbox.bot_messages(photo.chat_id)
    assert photo_message.photo and photo_message.caption == "Site plan"
    (document_message,) = sandbox.bot_messages(document.chat_id)
    assert document_message.document is not None
    (button_message,) = sandbox.bot_messages(buttons.chat_id)
    # Plain text (no parse_mode) is sent as such: the "&" is not read as HTML.
    assert button_message.text == "Tap & see"
    assert button_message.reply_markup == keyboard


async def test_blocked_people_become_unreachable_and_are_reported(
    session_factory: Factory, sandbox: SandboxServer, bot: Bot
) -> None:
    recipients = await add_people(session_factory, sandbox, 20)
    blocked = recipients[3], recipients[11]
    for r in blocked:
        sandbox.block(r.chat_id)
    # A chat Telegram does not know (an id typed by hand, a deleted account).
    nowhere = Recipient(999_999_999, None, "en")
    await queue_all(session_factory, "announcement:1", [*recipients, nowhere])

    sender = fast_sender(session_factory, bot)
    await sender.drain()

    assert (sender.stats.sent, sender.stats.blocked, sender.stats.invalid) == (18, 2, 1)
    for r in recipients:
        assert len(texts(sandbox, r.chat_id)) == (0 if r in blocked else 1)
    async with unit_of_work(session_factory) as session:
        repos = Repositories(session)
        report = await batch_report(repos, "announcement:1")
        people = {p.id: p.status for p in (await session.scalars(select(Person))).all()}
    assert (report.sent, report.blocked, report.invalid, report.done) == (18, 2, 1, True)
    assert {(u.person_id, u.status) for u in report.undelivered} == {
        (blocked[0].person_id, "blocked"),
        (blocked[1].person_id, "blocked"),
        (None, "invalid"),
    }
    assert any("chat not found" in (u.error or "") for u in report.undelivered)
    assert {pid for pid, status in people.items() if status == PersonStatus.UNREACHABLE.value} == {
        r.person_id for r in blocked
    }

    # The next announcement is not even attempted for them, until they write to the bot again.
    calls = sandbox.stats.calls["sendMessage"]
    await queue_all(session_factory, "announcement:2", recipients)
    await sender.drain()
    assert sandbox.stats.calls["sendMessage"] - calls == 18
    async with unit_of_work(session_factory) as session:
        second = await batch_report(Repositories(session), "announcement:2")
    assert (second.sent, second.blocked) == (18, 2)


async def test_a_group_that_became_a_supergroup_is_followed(session_factory: Factory) -> None:
    class MigratingBot:
        """The sandbox has no group migration: this stands in for Telegram's answer to the old group id."""

        def __init__(self) -> None:
            self.calls: list[int] = []

        async def send_message(self, *, chat_id: int, text: str, **_options: Any) -> Any:
            self.calls.append(chat_id)
            if chat_id == -4001:
                raise TelegramMigrateToChat(
                    method=SendMessage(chat_id=chat_id, text=text),
                    message="Bad Request: group chat was upgraded to a supergroup chat",
                    migrate_to_chat_id=-1004001,
                )
            return type("Sent", (), {"message_id": 77})()

    stand_in = MigratingBot()
    await queue_all(session_factory, "group:1", [Recipient(-4001, None, "ro")])
    sender = fast_sender(session_factory, stand_in, paid_broadcast=False)  # type: ignore[arg-type]
    await sender.drain()

    assert stand_in.calls == [-4001, -1004001]
    async with session_factory() as session:
        row = (await session.scalars(select(OutboxMessage))).one()
    assert (row.chat_id, row.status, row.telegram_message_id, row.attempts) == (-1004001, "sent", 77, 0)
    assert sender.stats.migrated == 1


async def test_a_group_that_became_a_supergroup_is_followed_over_http(
    session_factory: Factory, stub_api: StubApi
) -> None:
    """The same through the sender's own requests: the stand-in above is called through aiogram's methods."""

    def answer(chat_id: int) -> tuple[int, dict[str, Any]]:
        if chat_id == -4001:
            return 400, {
                "ok": False,
                "error_code": 400,
                "description": "Bad Request: group chat was upgraded to a supergroup chat",
                "parameters": {"migrate_to_chat_id": -1004001},
            }
        return _sent(chat_id)

    stub_api.answer = answer
    await queue_all(session_factory, "group:1", [Recipient(-4001, None, "ro")])
    session = AiohttpSession(api=TelegramAPIServer.from_base(stub_api.url))
    try:
        sender = fast_sender(session_factory, Bot(TOKEN, session=session), paid_broadcast=False)
        await sender.drain()
    finally:
        await close_session(session)

    assert [int(form["chat_id"]) for _method, form in stub_api.requests] == [-4001, -1004001]
    async with session_factory() as db:
        row = (await db.scalars(select(OutboxMessage))).one()
    assert (row.chat_id, row.status, row.telegram_message_id, row.attempts) == (-1004001, "sent", 77, 0)
    assert sender.stats.migrated == 1


@pytest.mark.parametrize("paid_broadcast", [True, False])
async def test_the_sender_posts_what_aiogram_would(stub_api: StubApi, paid_broadcast: bool) -> None:
    """The sender builds each message version's request once and posts it to every chat: the same method and
    form as aiogram's own call, bot-wide defaults included."""
    keyboard = {"inline_keyboard": [[{"text": "Details", "url": "https://example.org/a?b=1&c=ă"}]]}
    messages = [
        {"text": "<b>Anunț</b> &amp; co", "parse_mode": "HTML", "reply_markup": keyboard, "disable_notification": True},
        {"text": "plain <not html> & more"},
        {"photo": "AgACphoto", "caption": "<i>Plan</i>", "parse_mode": "HTML"},
        {"document": "BQACdoc"},
    ]
    session = AiohttpSession(api=TelegramAPIServer.from_base(stub_api.url))
    defaults = DefaultBotProperties(parse_mode="HTML", link_preview_is_disabled=True, protect_content=True)
    bot = Bot(TOKEN, session=session, default=defaults)
    bulk = BulkSender.for_bot(bot, paid_broadcast=paid_broadcast)
    assert bulk is not None
    try:
        for number, message in enumerate(messages):
            assert await send_content(bot, 500 + number, message, paid_broadcast=paid_broadcast) == 77
            request = bulk.request(("batch", number), message)
            assert request is not None
            assert await bulk.send(request, 500 + number, timeout=5.0) == 77
    finally:
        await close_session(session)

    assert len(stub_api.requests) == 2 * len(messages)
    for through_aiogram, direct in zip(stub_api.requests[::2], stub_api.requests[1::2], strict=True):
        assert direct == through_aiogram
    first = stub_api.requests[0][1]
    assert ("allow_paid_broadcast" in first) is paid_broadcast
    assert json.loads(first["reply_markup"]) == keyboard and first["protect_content"] == "true"
    assert "parse_mode" not in stub_api.requests[2][1]


async def test_no_error_the_sender_stores_holds_the_token(sqlite_factory: Factory, sandbox: SandboxServer) -> None:
    """aiohttp quotes the request URL, and so the token, in some of its errors: here a malformed answer."""

    async def garbled(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: nope\r\n\r\n{}")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(garbled, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    (recipient,) = open_chats(sandbox, 1)
    await queue_all(sqlite_factory, "announcement:1", [recipient])
    session = AiohttpSession(api=TelegramAPIServer.from_base(f"http://127.0.0.1:{port}"))
    try:
        await fast_sender(sqlite_factory, Bot(TOKEN, session=session), max_attempts=1).drain()
    finally:
        await close_session(session)
        server.close()
        await server.wait_closed()

    async with unit_of_work(sqlite_factory) as db:
        report = await batch_report(Repositories(db), "announcement:1")
    (failed,) = report.undelivered
    assert failed.status == "failed" and "ClientResponseError" in (failed.error or "")
    assert TOKEN.split(":", 1)[1] not in (failed.error or "")


# ---------------------------------------------------------------------------------------------- limits


async def test_over_the_limit_429s_pause_everything_and_nobody_is_skipped(
    sqlite_factory: Factory, sandbox: SandboxServer, bot: Bot
) -> None:
    factory = sqlite_factory
    sandbox.set_rate_limits(global_per_second=30, per_chat_per_second=1)
    recipients = open_chats(sandbox, 90)
    await queue_all(factory, "announcement:1", recipients)

    sender = fast_sender(factory, bot, rate=60.0, paid_broadcast=False)
    await sender.drain()

    assert all(sandbox.stats.delivered[r.chat_id] == 1 for r in recipients)
    assert sender.stats.rate_limited > 0
    assert sender.stats.rate_limited == sandbox.stats.rate_limited
    assert await statuses(factory) == {"sent": 90}


async def test_below_the_limit_there_is_no_429_and_the_rate_is_kept(
    sqlite_factory: Factory, sandbox: SandboxServer, bot: Bot
) -> None:
    factory = sqlite_factory
    sandbox.set_rate_limits(global_per_second=30, per_chat_per_second=1)
    recipients = open_chats(sandbox, 30)
    await queue_all(factory, "announcement:1", recipients)

    sender = fast_sender(factory, bot, rate=25.0, paid_broadcast=False)
    started = time.monotonic()
    await sender.drain()
    elapsed = time.monotonic() - started

    assert sandbox.stats.rate_limited == 0 and sender.stats.rate_limited == 0
    assert all(sandbox.stats.delivered[r.chat_id] == 1 for r in recipients)
    # 30 messages at 25/s: never faster than the rate allows (one message of burst), and not much slower.
    assert 28 / 25 <= elapsed < 30 / 25 * 1.3


async def test_one_chat_gets_at_most_one_message_a_second(
    sqlite_factory: Factory, sandbox: SandboxServer, bot: Bot
) -> None:
    factory = sqlite_factory
    sandbox.set_rate_limits(global_per_second=30, per_chat_per_second=1)
    (member,) = open_chats(sandbox, 1)
    for number in range(2):
        await queue_all(factory, f"notice:{number}", [member])
    await fast_sender(factory, bot).drain()

    events = sandbox.events(member.chat_id, kinds=["sent"])
    assert len(events) == 2 and sandbox.stats.rate_limited == 0
    assert all(later.time - earlier.time >= 0.99 for earlier, later in itertools.pairwise(events))


async def test_a_group_gets_at_most_its_messages_a_minute(sqlite_factory: Factory) -> None:
    class RecordingBot:
        def __init__(self) -> None:
            self.sent: list[int] = []

        async def send_message(self, *, chat_id: int, **_options: Any) -> Any:
            self.sent.append(chat_id)
            return type("Sent", (), {"message_id": len(self.sent)})()

    stand_in = RecordingBot()
    for number in range(3):
        await queue_all(sqlite_factory, f"group-notice:{number}", [Recipient(-1001234567890, None, "ro")])
    # Two a minute, for the test's sake: the third has to wait a minute after the first.
    sender = fast_sender(sqlite_factory, stand_in, per_chat_interval=0.1, group_per_minute=2)  # type: ignore[arg-type]
    stop = asyncio.Event()
    running = asyncio.create_task(sender.run(stop))
    await asyncio.sleep(1.0)
    stop.set()
    await asyncio.wait_for(running, 5)

    assert stand_in.sent == [-1001234567890] * 2
    assert await statuses(sqlite_factory) == {"sent": 2, "pending": 1}


# ---------------------------------------------------------------------------------------------- faults


async def test_server_errors_and_dropped_connections_are_retried(
    session_factory: Factory, sandbox: SandboxServer, bot: Bot
) -> None:
    recipients = open_chats(sandbox, 300)
    await queue_all(session_factory, "announcement:1", recipients)
    sandbox.set_faults(error_5xx_rate=0.05, drop_before_rate=0.05, drop_after_rate=0.0)

    # No flood limits in the sandbox here: a retry need not wait a second for its chat.
    sender = fast_sender(session_factory, bot, per_chat_interval=0.1)
    await sender.drain()

    assert sandbox.stats.errors_5xx > 0 and sandbox.stats.dropped_before > 0
    assert sender.stats.retried == sandbox.stats.errors_5xx + sandbox.stats.dropped_before
    assert all(sandbox.stats.delivered[r.chat_id] == 1 for r in recipients)
    assert await statuses(session_factory) == {"sent": 300}


async def test_only_answers_lost_after_acceptance_can_cause_duplicates(
    session_factory: Factory, sandbox: SandboxServer, bot: Bot
) -> None:
    recipients = open_chats(sandbox, 300)
    await queue_all(session_factory, "announcement:1", recipients)
    sandbox.set_faults(error_5xx_rate=0.03, drop_before_rate=0.03, drop_after_rate=0.03)

    await fast_sender(session_factory, bot, per_chat_interval=0.1).drain()

    assert sandbox.stats.dropped_after > 0
    assert all(sandbox.stats.delivered[r.chat_id] >= 1 for r in recipients)
    assert duplicates(sandbox) <= sandbox.stats.dropped_after
    assert await statuses(session_factory) == {"sent": 300}


async def test_a_row_failing_every_time_ends_failed_and_reported(
    sqlite_factory: Factory, sandbox: SandboxServer, bot: Bot
) -> None:
    recipients = open_chats(sandbox, 5)
    await queue_all(sqlite_factory, "announcement:1", recipients)
    sandbox.set_faults(error_5xx_rate=1.0)

    sender = fast_sender(sqlite_factory, bot, max_attempts=3, retry_base=0.01, per_chat_interval=0.05)
    await sender.drain()

    assert sandbox.stats.errors_5xx == 15 and sender.stats.retried == 10 and sender.stats.failed == 5
    async with unit_of_work(sqlite_factory) as session:
        report = await batch_report(Repositories(session), "announcement:1")
    assert report.failed == 5 and all(
        "Internal Server Error" in (u.error or "") or "Bad Gateway" in (u.error or "") for u in report.undelivered
    )


# ---------------------------------------------------------------------------------------------- leases


async def test_a_lapsed_lease_is_taken_over_and_a_live_one_is_not(
    session_factory: Factory, sandbox: SandboxServer, bot: Bot
) -> None:
    lapsed, live, mine = open_chats(sandbox, 3)
    await queue_all(session_factory, "announcement:1", [lapsed, live, mine])
    now = datetime.now(UTC)
    # What a crashed sender leaves behind, one lease run out, one still running; and a row of a sender
    # restarting under its own name.
    async with unit_of_work(session_factory) as session:
        for chat, holder, until in (
            (lapsed, "crashed", now - timedelta(seconds=1)),
            (live, "alive", now + timedelta(minutes=5)),
            (mine, "replica-1", now + timedelta(minutes=5)),
        ):
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.chat_id == chat.chat_id)
                .values(status="sending", leased_by=holder, lease_until=until)
            )

    await fast_sender(session_factory, bot).drain(until_empty=False)
    assert [sandbox.stats.delivered[c.chat_id] for c in (lapsed, live, mine)] == [1, 0, 0]

    await fast_sender(session_factory, bot, name="replica-1").drain(until_empty=False)
    assert [sandbox.stats.delivered[c.chat_id] for c in (lapsed, live, mine)] == [1, 0, 1]
    async with session_factory() as session:
        rows = {row.chat_id: row for row in (await session.scalars(select(OutboxMessage))).all()}
    assert rows[live.chat_id].status == "sending" and rows[live.chat_id].leased_by == "alive"
    assert rows[lapsed.chat_id].status == rows[mine.chat_id].status == "sent"


async def test_a_restart_under_its_own_name_resends_at_once_and_no_other_sender_does(
    session_factory: Factory, sandbox: SandboxServer, bot: Bot
) -> None:
    recipients = open_chats(sandbox, 20)
    await queue_all(session_factory, "announcement:1", recipients)
    # A sender named "replica-1" claims every row, as it does before sending, and dies: 30 s leases remain.
    now = datetime.now(UTC)
    async with unit_of_work(session_factory) as session:
        held = await Repositories(session).outbox.claim(
            limit=100, now=now, lease_until=now + timedelta(seconds=30), leased_by="replica-1"
        )
    assert len(held) == 20

    await fast_sender(session_factory, bot, name="replica-2").drain(until_empty=False)
    assert sandbox.last_seq == 0
    assert await statuses(session_factory) == {"sending": 20}

    restarted = fast_sender(session_factory, bot, name="replica-1", lease_seconds=30.0)
    stop = asyncio.Event()
    started = time.time()
    running = asyncio.create_task(restarted.run(stop))
    try:
        await sandbox.wait_until(lambda: sandbox.last_seq >= 20, timeout=10)
    finally:
        stop.set()
        await asyncio.wait_for(running, 5)
    first_send = min(event.time for event in sandbox.events())
    assert first_send - started < 1.0
    assert all(sandbox.stats.delivered[r.chat_id] == 1 for r in recipients)
    assert await statuses(session_factory) == {"sent": 20}


def test_the_sender_name_is_stable_per_host_and_database_and_never_shows_the_url(
    make_settings: Callable[..., Any],
) -> None:
    url = "postgresql://clusterbot:s3cret-pass@db.internal:5432/cluster"
    name = make_settings(url).delivery.effective_sender_name
    assert name.startswith(f"{socket.gethostname()[:40]}:") and len(name) <= 64
    assert "s3cret" not in name and "db.internal" not in name and "cluster" not in name.split(":", 1)[1]
    # The same database however it is written, and after a password change: the same name.
    same = make_settings("postgresql+asyncpg://clusterbot:other@db.internal:5432/cluster")
    assert same.delivery.effective_sender_name == name
    assert make_settings(url.replace("/cluster", "/staging")).delivery.effective_sender_name != name
    assert make_settings(url, sender_name="replica-2").delivery.effective_sender_name == "replica-2"
    assert make_settings().delivery.effective_sender_name == make_settings().delivery.effective_sender_name


async def test_the_bot_sender_uses_the_configured_name(make_settings: Callable[..., Any], bot: Bot) -> None:
    from bot.app import create_sender

    factory: Any = None
    assert create_sender(make_settings(sender_name="replica-7"), factory, bot).name == "replica-7"
    settings = make_settings()
    assert create_sender(settings, factory, bot).name == settings.delivery.effective_sender_name


async def test_stopping_gives_back_what_was_not_sent(sqlite_factory: Factory, sandbox: SandboxServer, bot: Bot) -> None:
    recipients = open_chats(sandbox, 60)
    await queue_all(sqlite_factory, "announcement:1", recipients)
    sender = fast_sender(sqlite_factory, bot, rate=40.0, paid_broadcast=False)
    stop = asyncio.Event()
    running = asyncio.create_task(sender.run(stop))
    await sandbox.wait_until(lambda: sum(sandbox.stats.delivered.values()) >= 10)
    stop.set()
    await asyncio.wait_for(running, 5)

    counts = await statuses(sqlite_factory)
    delivered = sum(sandbox.stats.delivered.values())
    assert OutboxStatus.SENDING.value not in counts
    assert counts["sent"] == delivered == sender.stats.sent and counts["pending"] == 60 - delivered
    await fast_sender(sqlite_factory, bot).drain()
    assert all(sandbox.stats.delivered[r.chat_id] == 1 for r in recipients)


async def test_a_withdrawn_batch_stops_within_a_lease_renewal(
    sqlite_factory: Factory, sandbox: SandboxServer, bot: Bot
) -> None:
    recipients = open_chats(sandbox, 80)
    await queue_all(sqlite_factory, "announcement:1", recipients)
    # Leases renewed every half second: rows held by the sender are dropped by then once withdrawn.
    sender = fast_sender(sqlite_factory, bot, rate=20.0, paid_broadcast=False, lease_seconds=1.5)
    draining = asyncio.create_task(sender.drain())
    await sandbox.wait_until(lambda: sandbox.last_seq >= 10)
    async with unit_of_work(sqlite_factory) as session:
        withdrawn = await Repositories(session).outbox.cancel_pending("announcement:1")
    at_cancel = sandbox.last_seq
    await asyncio.wait_for(draining, 5)

    # After the withdrawal only what was in flight (at most `concurrency`) and half a second's worth at 20/s.
    assert sandbox.last_seq - at_cancel <= sender.concurrency + 10
    left = await statuses(sqlite_factory)
    assert set(left) == {"sent"} and left["sent"] + withdrawn == 80


async def test_a_claim_leases_at_most_its_limit_and_the_next_claim_the_next_rows(session_factory: Factory) -> None:
    await queue_all(session_factory, "announcement:1", [Recipient(FIRST_USER + i, None, "en") for i in range(400)])
    now = datetime.now(UTC)
    until = now + timedelta(seconds=30)
    claims = []
    for holder in ("replica-1", "replica-2"):
        async with unit_of_work(session_factory) as session:
            rows = await Repositories(session).outbox.claim(limit=50, now=now, lease_until=until, leased_by=holder)
        claims.append([row["chat_id"] for row in rows])

    # In order of due time then id, and the second holder gets the 50 after the first's.
    assert claims == [[FIRST_USER + i for i in range(50)], [FIRST_USER + i for i in range(50, 100)]]
    assert await statuses(session_factory) == {"sending": 100, "pending": 300}


async def test_two_senders_on_one_outbox_never_send_a_row_twice(
    session_factory: Factory, sandbox: SandboxServer, bot: Bot
) -> None:
    recipients = open_chats(sandbox, 400)
    await queue_all(session_factory, "announcement:1", recipients)
    # At 200/s each claims 100 rows at a time. The second starts once the first holds rows, with 300 still
    # pending, so both get a share however the machine schedules them. (When a PostgreSQL claim could lease
    # more than its limit, the first claim took all 400 and the second sender sent nothing.)
    first = fast_sender(session_factory, bot, name="replica-1", rate=200.0)
    second = fast_sender(session_factory, bot, name="replica-2", rate=200.0)

    draining = asyncio.create_task(first.drain())
    await sandbox.wait_until(lambda: first.stats.claimed > 0, what="the first sender claimed rows")
    await asyncio.gather(draining, second.drain())

    assert all(sandbox.stats.delivered[r.chat_id] == 1 for r in recipients)
    assert first.stats.sent + second.stats.sent == 400
    assert first.stats.sent > 0 and second.stats.sent > 0
    assert await statuses(session_factory) == {"sent": 400}


async def test_run_sender_delivers_until_stopped(
    sqlite_engine: AsyncEngine, sqlite_factory: Factory, sandbox: SandboxServer, bot: Bot, make_settings: Any
) -> None:
    settings = make_settings(
        database_url=sqlite_engine.url.render_as_string(hide_password=False), allow_paid_broadcast=True
    )
    recipients = open_chats(sandbox, 20)
    stop = asyncio.Event()
    running = asyncio.create_task(run_sender(settings, bot, stop))
    await queue_all(sqlite_factory, "announcement:1", recipients)
    await sandbox.wait_until(lambda: sandbox.last_seq >= 20)
    assert gc.get_freeze_count() > 0
    stop.set()
    await asyncio.wait_for(running, 5)
    assert await statuses(sqlite_factory) == {"sent": 20}
    # What it kept from the garbage collector while it ran is the collector's again.
    assert gc.get_freeze_count() == 0


# ---------------------------------------------------------------------------------------------- crashes

# Senders in processes of their own, killed with SIGKILL. Importing aiogram takes seconds, so one host process
# imports everything once (while the other tests run) and forks a fresh sender for each start.
SENDER_HOST = """
import asyncio, os, sys, traceback
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from bot.delivery import Sender
from storage.db import create_engine, create_session_factory

async def drain(database_url, api_url, token, name, concurrency):
    engine = create_engine(database_url)
    session = AiohttpSession(api=TelegramAPIServer.from_base(api_url))
    sender = Sender(create_session_factory(engine), Bot(token, session=session), rate=300, paid_broadcast=True,
                    concurrency=int(concurrency), lease_seconds=1.0, poll_interval=0.02,
                    name=None if name == "-" else name)
    try:
        await sender.drain()
    finally:
        await session.close()
        await engine.dispose()

print("ready", flush=True)
for line in sys.stdin:
    command, *args = line.split()
    if command == "start":
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                asyncio.run(drain(*args))
            except BaseException:
                traceback.print_exc()
                code = 1
            os._exit(code)
        print(pid, flush=True)
    elif command == "wait":
        print(os.waitstatus_to_exitcode(os.waitpid(int(args[0]), 0)[1]), flush=True)
"""


class SenderHost:
    """Talks to the host process; its answers are awaited in a thread, so the sandbox keeps serving meanwhile."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.children: set[int] = set()
        self.ready = False

    def _exchange(self, line: str | None) -> str:
        assert self.process.stdin is not None and self.process.stdout is not None
        if line is not None:
            self.process.stdin.write(line + "\n")
            self.process.stdin.flush()
        return self.process.stdout.readline().strip()

    async def _ask(self, line: str | None, timeout: float) -> str:
        return await asyncio.wait_for(asyncio.to_thread(self._exchange, line), timeout)

    async def start(self, database_url: str, api_url: str, *, name: str | None, concurrency: int) -> int:
        if not self.ready:
            assert await self._ask(None, 120) == "ready"
            self.ready = True
        pid = int(await self._ask(f"start {database_url} {api_url} {TOKEN} {name or '-'} {concurrency}", 10))
        self.children.add(pid)
        return pid

    async def wait(self, pid: int, timeout: float) -> int:
        code = int(await self._ask(f"wait {pid}", timeout))
        self.children.discard(pid)
        return code

    async def kill(self, pid: int) -> None:
        os.kill(pid, signal.SIGKILL)
        await self.wait(pid, 10)


@pytest.fixture(scope="module")
def sender_host() -> Iterator[SenderHost]:
    process = subprocess.Popen(
        [sys.executable, "-c", SENDER_HOST], cwd=PROJECT_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    host = SenderHost(process)
    try:
        yield host
    finally:
        for pid in host.children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        assert process.stdin is not None
        process.stdin.close()
        if not host.ready:
            # Never used (a run of some other tests only): no need to wait for its imports to finish.
            process.kill()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(autouse=True, scope="module")
def _start_sender_host_early(sender_host: SenderHost) -> None:
    """Have the host importing in the background from the first test of this module on."""


@pytest.mark.slow
async def test_a_sender_killed_three_times_skips_nobody(
    engine: AsyncEngine, session_factory: Factory, sandbox: SandboxServer, sender_host: SenderHost
) -> None:
    recipients = open_chats(sandbox, 2000)
    await queue_all(session_factory, "announcement:1", recipients)
    database_url = engine.url.render_as_string(hide_password=False)
    if engine.dialect.name == "postgresql":
        # What is under test is the sender dying, not the database: spare the children an fsync per commit.
        async with engine.begin() as connection:
            await connection.exec_driver_sql(f'ALTER DATABASE "{engine.url.database}" SET synchronous_commit = off')

    def delivered() -> int:
        # Every sandbox event here is a message sent; counting them is cheaper than summing the counters.
        return sandbox.last_seq

    kills = 0
    # The children send at 300/s, so that between one threshold and the next (500 messages, about 1.7 s) a
    # loaded machine still has time to see the threshold and kill. Restarts under the same name take their
    # rows back at once; the last one, under a new name, waits for the killed sender's leases to lapse.
    for threshold, name in ((300, "replica-1"), (800, "replica-1"), (1300, "replica-1"), (2000, None)):
        pid = await sender_host.start(database_url, sandbox.base_url, name=name, concurrency=1)
        if threshold == 2000:
            assert await sender_host.wait(pid, 60) == 0
            break
        await sandbox.wait_until(lambda t=threshold: delivered() >= t, timeout=60, what=f"{threshold} deliveries")
        await sender_host.kill(pid)
        kills += 1
        assert delivered() < 2000, "the sender finished before it could be killed"

    assert all(sandbox.stats.delivered[r.chat_id] >= 1 for r in recipients)
    # With one send in flight at a time, each kill can have cost at most that one message twice.
    assert duplicates(sandbox) <= kills
    assert await statuses(session_factory) == {"sent": 2000}


async def test_the_deployments_bot_sends_bulk_messages_the_cheap_way(make_settings: Callable[..., Any]) -> None:
    """The bot's session carries CommitBeforeTelegram (updates commit before they speak); it does nothing
    outside an update, so the sender's bulk path must not give way to it (it did: every message went through
    aiogram's full request path)."""
    from bot.app import create_bot
    from bot.middlewares import CommitBeforeTelegram

    bot = create_bot(make_settings(bot_token="123:abc"))
    try:
        assert any(isinstance(m, CommitBeforeTelegram) for m in bot.session.middleware)
        bulk = BulkSender.for_bot(bot, paid_broadcast=False)
        assert bulk is not None
        assert bulk.request(("announcement:1", "ro"), {"text": "Bună ziua"}) is not None

        class Logging:
            async def __call__(self, make_request: Any, bot: Bot, method: Any) -> Any:
                return await make_request(bot, method)

        # A middleware that may act on every call is honoured: aiogram's path then.
        bot.session.middleware(Logging())
        assert bulk.request(("announcement:2", "ro"), {"text": "Bună ziua"}) is None
    finally:
        await bot.session.close()

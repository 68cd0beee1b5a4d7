"""A manager announces from the chat: audience, two languages, preview, live progress, report, schedule, stop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.config import Settings
from bot.i18n import format_when
from bot.sandbox.client import SandboxUser
from bot.sandbox.harness import SandboxBot
from storage.db import unit_of_work
from storage.repositories import Repositories

TZ = ZoneInfo("Europe/Bucharest")


def tomorrow_at(hour: int) -> datetime:
    """Tomorrow at `hour` in the cluster's zone (the tests' settings keep the default, Europe/Bucharest)."""
    day = datetime.now(TZ).date() + timedelta(days=1)
    return datetime(day.year, day.month, day.day, hour, tzinfo=TZ)


@pytest.fixture
async def sandbox(migrated_url: str, make_settings: Callable[..., Settings]) -> AsyncIterator[SandboxBot]:
    async with SandboxBot(make_settings(migrated_url, progress_interval=0.05)) as running:
        yield running


async def eventually(check: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"never happened: {what}")
        await asyncio.sleep(0.05)


async def people(sandbox: SandboxBot) -> tuple[SandboxUser, SandboxUser, SandboxUser, SandboxUser]:
    maria = await sandbox.person("maria", 3001, "Maria", language_code="en", role="manager")
    ana = await sandbox.person("ana", 1001, "Ana", language_code="ro", role="member", organisation="EcoTech SRL")
    dan = await sandbox.person("dan", 1002, "Dan", language_code="en", role="member", organisation="Bio SRL")
    gigi = await sandbox.person("gigi", 1003, "Gigi", language_code="ro")
    for person in (maria, ana, dan, gigi):
        await person.send("/start")
    return maria, ana, dan, gigi


async def test_a_two_language_announcement_with_preview_progress_and_report(sandbox: SandboxBot) -> None:
    maria, ana, dan, gigi = await people(sandbox)
    await ana.send("/announce")
    assert (ana.last_text or "").startswith("Îmi pare rău, doar managerii clusterului")

    await maria.tap("Announcement")
    assert "Who should receive it?" in (maria.last_text or "")
    await maria.tap("All members")
    await maria.send("Adunarea generală are loc joi la ora 10.")
    assert "Now the same in English" in (maria.last_text or "")
    preview = await maria.send("The general assembly is on Thursday at 10.")
    # One message per language, the question and the buttons on the last.
    assert [message.content for message in preview] == [
        "👁 Preview: members who read Romanian see\n\nAdunarea generală are loc joi la ora 10.",
        "📣 Send it to all members?\n👁 Preview: members who read English see\n\n"
        "The general assembly is on Thursday at 10.",
    ]
    assert preview[0].labels == []
    assert preview[1].labels == [
        "🚀 Send now",
        "🕒 Schedule",
        "✏️ Audience",
        "✏️ Romanian text",
        "✏️ English text",
        "⬅️ Back",
        "✖️ Cancel",
    ]

    sandbox.server.block(dan.user_id)  # Dan blocked the bot in the meantime
    await maria.tap("Send now")
    assert "messages to send" in (maria.last_text or "")
    await sandbox.deliver()
    assert ana.last_text == "Adunarea generală are loc joi la ora 10."
    assert all("assembly" not in (m.content or "") for m in gigi.messages)  # guests are not members
    await eventually(lambda: "Done" in (maria.last_text or ""), "the progress message reports the end")
    report = maria.last_message
    assert report is not None and report.edited
    assert "2 sent" in report.content and "1 blocked the bot" in report.content
    await maria.tap("Who did not receive it")
    assert "Dan: blocked the bot" in (maria.last_text or "")
    # Forgotten since (privacy), Dan is "a former representative"; the reason stays plain.
    from bot.services import privacy

    assert sandbox.rt is not None
    async with unit_of_work(sandbox.rt.session_factory) as session:
        repos = Repositories(session)
        found = await repos.people.by_telegram_id(dan.user_id)
        assert found is not None
        await privacy.forget(repos, found.id, default_locale="ro")
    await maria.tap("Who did not receive it")
    assert "a former representative: blocked the bot" in (maria.last_text or "")
    assert "Dan" not in (maria.last_text or "")


async def test_scheduling_listing_and_cancelling_from_the_chat(sandbox: SandboxBot) -> None:
    maria, ana, _dan, _gigi = await people(sandbox)
    await maria.send("/announce")
    await maria.tap("read Romanian")
    await maria.send("Termen: vineri.")
    assert "Send it to members who read Romanian?" in (maria.last_text or "")
    await maria.tap("Schedule")
    assert "When should it be sent? Write the date and the hour (Romanian time)" in (maria.last_text or "")
    # Every refusal says why and keeps Back and Cancel.
    for typed, problem in (
        ("next week sometime", "I could not read a date and an hour in that"),
        ("tomorrow", "Please write the hour too"),
        ("2001-01-01 10:00", "That moment has passed"),
        ("2099-01-05 09:00", "more than a year ahead"),
    ):
        await maria.send(typed)
        assert problem in (maria.last_text or ""), typed
        assert maria.last_message is not None and maria.last_message.labels == ["⬅️ Back", "✖️ Cancel"]
    await maria.send("tomorrow 09:00")
    when = format_when(tomorrow_at(9), "en", TZ)
    assert f"will be sent on {when} (Romanian time)" in (maria.last_text or "")
    await maria.send("/announcements")
    assert f"to members who read Romanian, on {when}" in (maria.last_text or "")
    # Cancelling asks first; Back leaves it scheduled, with its Cancel button.
    await maria.tap("Cancel it")
    assert "Cancel this announcement? It will not be sent." in (maria.last_text or "")
    assert maria.last_message is not None and maria.last_message.labels == ["Yes, cancel it", "⬅️ Back"]
    await maria.tap("Back")
    assert maria.last_message is not None and maria.last_message.labels == ["✖️ Cancel it"]
    await maria.tap("Cancel it")
    await maria.tap("Yes, cancel it")
    assert maria.last_callback_answer == ("Cancelled.", False)
    assert "✖️ Cancelled: it will not be sent." in (maria.last_text or "")
    assert maria.last_message is not None and maria.last_message.labels == []
    await maria.send("/announcements")
    assert "No announcements are scheduled" in (maria.last_text or "")
    await sandbox.run_job("announcements")
    assert all("Termen" not in (m.content or "") for m in ana.messages)


async def test_forged_announcement_buttons_are_refused(sandbox: SandboxBot) -> None:
    _maria, _ana, dan, _gigi = await people(sandbox)
    menu = dan.last_message
    assert menu is not None
    server = sandbox.server
    for data, expected in (
        ("ann:send:", "This button is no longer valid. Open /menu for a fresh one."),
        ("ann:stop:1", "Sorry, only the cluster's managers can do that."),
        ("ann:unreached:1", "Sorry, only the cluster's managers can do that."),
        ("ann:stop:x", "This button is no longer valid. Open /menu for a fresh one."),
        ("menu:announce", "Sorry, only the cluster's managers can do that."),
    ):
        update_id, query_id = await server.user_taps(dan.user_id, dan.chat_id, menu.message_id, data, forged=True)
        await server.wait_handled(update_id)
        answer = server.callback_answer(query_id) or {}
        assert (answer.get("text"), answer.get("show_alert")) == (expected, True), data


async def test_a_scheduled_announcement_survives_a_restart(
    migrated_url: str, make_settings: Callable[..., Settings]
) -> None:
    from bot.sandbox.server import SandboxServer

    settings = make_settings(migrated_url, progress_interval=0.05)
    async with SandboxServer() as server:
        async with SandboxBot(settings, server=server) as first:
            maria, ana, _dan, _gigi = await people(first)
            await maria.send("/announce")
            await maria.tap("All members")
            await maria.send("Ședința consiliului: luni.")
            await maria.tap("Same text for everyone")
            await maria.tap("Schedule")
            await maria.send("tomorrow 08:00")
            assert "will be sent on" in (maria.last_text or "")
        # The bot stopped (a deploy, a crash); a new process starts on the same database and server.
        async with SandboxBot(settings, server=server) as second:
            await second.run_job("announcements", tomorrow_at(8) - timedelta(minutes=1))
            assert all("consiliului" not in (m.content or "") for m in ana.messages)
            await second.run_job("announcements", tomorrow_at(8))
            assert ana.last_text == "Ședința consiliului: luni."


async def test_a_running_sender_starts_as_soon_as_the_announcement_is_queued(sandbox: SandboxBot) -> None:
    maria, ana, _dan, _gigi = await people(sandbox)
    sender = sandbox.sender
    assert sender is not None
    # Without the wake-up after the commit, the sender would look at the outbox again only after an hour.
    sender.poll_interval = 3600
    stop = asyncio.Event()
    running = asyncio.create_task(sender.run(stop))
    try:
        await asyncio.sleep(0.2)  # the sender has looked once, found nothing and gone idle
        await maria.send("/announce")
        await maria.tap("All members")
        await maria.send("Vizită la laborator miercuri.")
        await maria.tap("Same text for everyone")
        await maria.tap("Send now")
        await eventually(lambda: ana.last_text == "Vizită la laborator miercuri.", "Ana gets it at once", timeout=5)
    finally:
        stop.set()
        await running


async def test_an_announcement_to_the_members_of_a_working_group(sandbox: SandboxBot) -> None:
    from bot.app import fill_empty_content

    assert sandbox.rt is not None
    await fill_empty_content(sandbox.rt.session_factory)
    maria, ana, dan, _gigi = await people(sandbox)
    await ana.send("/groups")
    await ana.tap("Tratarea nămolurilor")
    await ana.tap("Intrați în grup")

    await maria.send("/announce")
    await maria.tap("Members of a working group")
    assert "For the members of which working group?" in (maria.last_text or "")
    await maria.tap("Sludge treatment")
    await maria.send("Întâlnirea grupului: marți.")
    await maria.tap("Same text for everyone")
    assert 'Send it to the members of the working group "Advanced technologies for sludge treatment and recovery"?' in (
        maria.last_text or ""
    )
    await maria.tap("Send now")
    assert "1 message to send" in (maria.last_text or "")
    await sandbox.deliver()
    # The member reads which group it is for, in her language, above the text.
    assert ana.last_text == (
        "👥 Pentru membrii grupului de lucru „Tehnologii avansate de tratare și valorificare a nămolurilor”"
        "\n\nÎntâlnirea grupului: marți."
    )
    assert all("marți" not in (m.content or "") for m in dan.messages)  # a member, but not in the group


async def test_a_forged_group_audience_is_refused(sandbox: SandboxBot) -> None:
    maria, _ana, dan, _gigi = await people(sandbox)
    await maria.send("/announce")
    server = sandbox.server
    menu = maria.last_message
    assert menu is not None
    for data in ("ann:group:999", "ann:group:x", "ann:groups:x"):
        update_id, query_id = await server.user_taps(maria.user_id, maria.chat_id, menu.message_id, data, forged=True)
        await server.wait_handled(update_id)
        answer = server.callback_answer(query_id) or {}
        assert answer.get("text") == "This button is no longer valid. Open /menu for a fresh one.", data
    # A member is never shown the form; forging its buttons gets nothing either.
    dans = dan.last_message
    assert dans is not None
    update_id, query_id = await server.user_taps(dan.user_id, dan.chat_id, dans.message_id, "ann:groups:0", forged=True)
    await server.wait_handled(update_id)
    assert (server.callback_answer(query_id) or {}).get("show_alert") is True
    assert all("working group?" not in (m.content or "") for m in dan.messages)

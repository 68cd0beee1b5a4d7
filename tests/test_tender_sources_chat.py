"""/tenders_admin in the chat, as managers use it: each source's health, Fetch now (from the TED stand-in, in
each manager's language, a second fetch of a source already being fetched declined), the week's figures and
their CSV; a member, a demoted manager and a forged button refused; a broken source told to managers once."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Callable
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from bot.config import Settings
from bot.sandbox.client import BotMessage, SandboxUser
from bot.sandbox.harness import SandboxBot
from bot.sandbox.ted import Fault, TedStandIn, sandbox_notices
from storage.db import unit_of_work
from storage.models import AlertProfile, Person, Role
from storage.repositories import Repositories


@pytest.fixture
async def ted() -> AsyncIterator[TedStandIn]:
    async with TedStandIn(sandbox_notices(date.today())) as running:
        yield running


@pytest.fixture
async def sandbox(
    migrated_url: str, make_settings: Callable[..., Settings], ted: TedStandIn
) -> AsyncIterator[SandboxBot]:
    sources = [{"name": "ted", "kind": "ted", "url": ted.base_url, "rate": 50, "every_minutes": 60}]
    async with SandboxBot(make_settings(migrated_url, tender_sources=json.dumps(sources))) as running:
        yield running


async def cast(sandbox: SandboxBot) -> dict[str, SandboxUser]:
    people = {
        "maria": await sandbox.person("maria", 3001, "Maria", language_code="en", role="manager"),
        "ion": await sandbox.person("ion", 3002, "Ion", language_code="ro", role="manager"),
        "ana": await sandbox.person("ana", 1001, "Ana", language_code="ro", role="member", organisation="EcoTech SRL"),
    }
    for person in people.values():
        await person.send("/start")
    assert sandbox.rt is not None
    async with unit_of_work(sandbox.rt.session_factory) as session:
        ana = await session.scalar(select(Person).where(Person.telegram_id == 1001))
        assert ana is not None
        await Repositories(session).alert_profiles.add(
            AlertProfile(person_id=ana.id, name="Solar", cpv=["09332000"], include=["compostarea"], countries=["RO"])
        )
    return people


def seen(who: SandboxUser) -> str:
    return (who.last_text or "").replace("\u00a0", " ")


def screen(who: SandboxUser) -> BotMessage:
    """The newest /tenders_admin screen the person has."""
    return next(m for m in reversed(who.messages) if any("Fetch now" in label for label in m.labels))


def texts(who: SandboxUser) -> str:
    return "\n".join(message.content for message in who.since_last_action)


async def test_a_manager_sees_health_fetches_now_and_gets_the_weeks_figures(
    sandbox: SandboxBot, ted: TedStandIn
) -> None:
    people = await cast(sandbox)
    maria, ion = people["maria"], people["ion"]

    await maria.send("/tenders_admin")
    assert "🛰 Tender sources" in seen(maria) and "<b>ted</b>" not in seen(maria)
    assert "ted · TED · every 60 min" in seen(maria) and "Not run yet." in seen(maria)

    await maria.tap("Fetch now: ted")
    assert maria.last_callback_answer == ("🔄 Fetching…", False)
    # The Romanian solar panels and sludge composting notices (the Austrian one is not in Romania).
    assert "✅ ted: 2 notices fetched, 2 new, 0 changed." in texts(maria)
    assert "Last run: 2 notices fetched, 2 new, 0 changed · runs: 1, failures: 0" in seen(maria)
    query = ted.stats.bodies[-1]["query"]
    assert "buyer-country IN (ROU)" in query and "classification-cpv IN (09332000)" in query

    # Ion reads it in Romanian; fetching again stores nothing twice.
    await ion.send("/tenders_admin")
    await ion.tap("Preluați acum: ted")
    # (From the day the last fetch ended: today's notice only.)
    assert "✅ ted: 1 anunț preluat, 0 noi, 0 modificate." in texts(ion)

    await maria.tap("📊 This week")
    # Fetch now ran the alert job: Ana's profile matched both.
    assert "2 tenders stored" in seen(maria) and "2 alerts" in seen(maria)
    await maria.tap("⬅️ Tender sources")
    await maria.tap("📄 This week (CSV)")
    sent = [message for message in maria.messages if message.has_document]
    assert sent and (sent[-1].document_name or "").startswith("tender-alerts-week-")
    state = sandbox.server.message(maria.chat_id, sent[-1].message_id).document
    assert state is not None
    data = sandbox.server.file_content(str(state["file_id"]))
    assert data.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0] == ["Day", "Tenders stored", "Alerts", "Followed", "Not relevant"]
    assert len(rows) == 8 and rows[-1][0] == datetime.now(ZoneInfo("Europe/Bucharest")).date().isoformat()
    assert sum(int(row[1]) for row in rows[1:]) == 2 and sum(int(row[2]) for row in rows[1:]) == 2


async def test_a_second_fetch_of_a_source_being_fetched_is_declined(sandbox: SandboxBot, ted: TedStandIn) -> None:
    people = await cast(sandbox)
    maria, ion = people["maria"], people["ion"]
    await maria.send("/tenders_admin")
    await ion.send("/tenders_admin")
    ted.inject(ted.stats.calls + 1, Fault("slow", delay=1.0))
    await sandbox.at_once(maria.tap("Fetch now: ted"), ion.tap("Preluați acum: ted"))
    results = texts(maria) + "\n" + texts(ion)
    assert results.count("✅ ted: 2") == 1, results
    assert "is being fetched already" in results or "este preluată chiar acum" in results, results
    # One fetch: a page, then the empty page that ends it.
    assert ted.stats.calls == 2


async def test_members_demoted_managers_and_forged_buttons_are_refused(sandbox: SandboxBot, ted: TedStandIn) -> None:
    people = await cast(sandbox)
    maria, ana = people["maria"], people["ana"]
    await ana.send("/tenders_admin")
    assert "Tender" not in seen(ana) and "Surse" not in seen(ana)
    assert await ana.forge("tadm:fetch:1") == ("Îmi pare rău, doar managerii clusterului pot face acest lucru.", True)

    await maria.send("/tenders_admin")
    assert await maria.forge("tadm:fetch:7") == (
        "This source is no longer configured. Open /tenders_admin again.",
        True,
    )
    # Maria is demoted while the screen is open: every button of it is refused.
    assert sandbox.rt is not None
    async with unit_of_work(sandbox.rt.session_factory) as session:
        await session.execute(update(Person).where(Person.telegram_id == 3001).values(role=Role.MEMBER.value))
    screen = maria.last_message
    for label in ("Fetch now: ted", "📊 This week", "📄 This week (CSV)", "🔃 Refresh"):
        await maria.tap(label, message=screen)
        assert maria.last_callback_answer == ("Sorry, only the cluster's managers can do that.", True), label
    assert ted.stats.calls == 0


async def test_a_broken_source_is_told_to_managers_once_and_its_recovery_too(
    sandbox: SandboxBot, ted: TedStandIn
) -> None:
    people = await cast(sandbox)
    maria, ion = people["maria"], people["ion"]
    await maria.send("/tenders_admin")
    ted.inject(ted.stats.calls + 1, Fault("bad_json"))
    ted.inject(ted.stats.calls + 2, Fault("bad_json"))
    await maria.tap("Fetch now: ted", message=screen(maria))
    assert "⚠️ ted: the fetch failed: it answered something that cannot be read." in texts(maria)
    await sandbox.deliver()
    assert "stopped working" in seen(ion) or "nu mai funcționează" in seen(ion)
    assert "⚠️ Not working since" in (maria.messages[-1].content if maria.messages else "") or any(
        "⚠️ Not working since" in message.content for message in maria.messages
    )
    told = [m for m in ion.messages if "nu mai funcționează" in m.content]
    assert len(told) == 1

    # Failing again is not told again; working again is told once.
    await maria.tap("Fetch now: ted", message=screen(maria))
    await sandbox.deliver()
    assert len([m for m in ion.messages if "nu mai funcționează" in m.content]) == 1
    await maria.tap("Fetch now: ted", message=screen(maria))
    await sandbox.deliver()
    assert len([m for m in ion.messages if m.content.startswith("✅ Sursa de licitații ted funcționează din nou")]) == 1
    assert any("works again" in m.content for m in maria.messages)

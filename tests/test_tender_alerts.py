"""Tender alerts (issue 11): members hear of a new tender once whatever the profiles and sources that match it,
only when their profile existed before the tender, changes only if they got the original, nothing in quiet
hours, their digest at their hour in as few messages as fit, deadline reminders 7 and 2 days before, each once;
and a job run twice, or twice at once, sends nothing twice. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.app import build_i18n
from bot.config import Settings
from bot.jobs import Jobs
from bot.outbox import validate_content
from bot.services import members
from bot.services.tenders import alerts as tender_alerts
from bot.services.tenders.model import Tender, TenderKind
from bot.services.tenders.store import store_tenders
from bot.telegram_text import TEXT_LIMIT
from handlers.notices import renderer
from storage.db import unit_of_work
from storage.models import AlertProfile, OutboxMessage, Person, Role, TenderAlert, TenderRow
from storage.repositories import Repositories

BUCHAREST = timezone(timedelta(hours=2))
# Noon in Bucharest, outside the quiet hours (22-8).
NOON = datetime(2026, 12, 1, 12, 0, tzinfo=BUCHAREST)
PROCEDURE = "a8692d2e-d3f1-4fa3-875a-0bd56a31824e"
ODD = "Comuna <Florești> & Fiii"

SOLAR = Tender(
    source="ted",
    source_id="626569-2026",
    kind=TenderKind.COMPETITION,
    title={"ro": f"Panouri fotovoltaice pentru {ODD}", "en": f"Photovoltaic panels for {ODD}"},
    procedure_id=PROCEDURE,
    buyer=ODD,
    country="RO",
    cpv=("09331200", "45261215"),
    value=Decimal("498857.88"),
    currency="RON",
    deadline=datetime(2027, 1, 15, 17, 0, tzinfo=BUCHAREST),
    links={"ro": "https://ted.europa.eu/ro/notice/-/detail/626569-2026"},
    published_at=datetime(2026, 11, 30, tzinfo=UTC),
)
# The same procedure in the national system's CSV export.
SOLAR_CSV = replace(SOLAR, source="sicap", source_id="CN1012345", links={"ro": "https://example.org/cn/1012345"})


@pytest.fixture
def jobs(settings: Settings, session_factory: async_sessionmaker[AsyncSession]) -> Jobs:
    return Jobs(settings, session_factory, None)


async def person(
    factory: async_sessionmaker[AsyncSession],
    telegram_id: int,
    name: str,
    *,
    role: Role = Role.MEMBER,
    language: str = "ro",
    organisation: str | None = "EcoTech SRL",
) -> int:
    async with unit_of_work(factory) as session:
        view = await members.provision(
            Repositories(session),
            telegram_id=telegram_id,
            first_name=name,
            language_code=language,
            role=role,
            organisation=organisation,
        )
        return view.id


async def profile(
    factory: async_sessionmaker[AsyncSession],
    person_id: int,
    *,
    starts_at: datetime = NOON - timedelta(days=30),
    **fields: Any,
) -> int:
    values: dict[str, Any] = {"name": "Solar", "cpv": ["09330000"], "delivery": "instant", **fields}
    async with unit_of_work(factory) as session:
        row = await Repositories(session).alert_profiles.add(
            AlertProfile(person_id=person_id, starts_at=starts_at, **values)
        )
        return row.id


async def store(factory: async_sessionmaker[AsyncSession], tenders: Sequence[Tender], now: datetime = NOON) -> None:
    async with unit_of_work(factory) as session:
        await store_tenders(Repositories(session), tenders, now=now)


async def alerts_of(factory: async_sessionmaker[AsyncSession]) -> list[TenderAlert]:
    async with factory() as session:
        return list((await session.scalars(select(TenderAlert).order_by(TenderAlert.id))).all())


async def outbox(factory: async_sessionmaker[AsyncSession], kind: str | None = None) -> list[OutboxMessage]:
    async with factory() as session:
        query = select(OutboxMessage).order_by(OutboxMessage.id)
        if kind is not None:
            query = query.where(OutboxMessage.kind == kind)
        return list((await session.scalars(query)).all())


def worded(row: OutboxMessage) -> dict[str, Any]:
    """The row as the sender would send it, in both languages (checked as Telegram would)."""
    render = renderer(build_i18n("ro"))
    messages = {locale: dict(render(row.kind, row.content, locale)) for locale in ("ro", "en")}
    validate_content(messages)
    return messages


async def test_a_member_hears_of_a_procedure_once_whatever_the_profiles_and_sources_that_match_it(
    session_factory: async_sessionmaker[AsyncSession], jobs: Jobs
) -> None:
    ana = await person(session_factory, 1001, "Ana")
    dan = await person(session_factory, 1002, "Dan", language="en")
    guest = await person(session_factory, 1003, "Gigi", role=Role.GUEST, organisation=None)
    await profile(session_factory, ana, name="CPV")
    await profile(session_factory, ana, name="Words", cpv=[], include=["fotovoltaice"])
    await profile(session_factory, dan, include=["photovoltaic"], cpv=[])
    await profile(session_factory, guest)
    await store(session_factory, [SOLAR, SOLAR_CSV])

    done = await jobs.tender_alerts(NOON)
    assert (done["tenders"], done["alerts"], done["sent"]) == (2, 2, 2)
    alerts = await alerts_of(session_factory)
    async with session_factory() as session:
        canonical = await session.scalar(select(TenderRow.id).where(TenderRow.source == "ted"))
    assert sorted((alert.person_id, alert.tender_id) for alert in alerts) == [(ana, canonical), (dan, canonical)]
    rows = await outbox(session_factory, "tender.alert")
    assert sorted(row.person_id for row in rows) == sorted([ana, dan])
    ro = worded(next(row for row in rows if row.person_id == ana))["ro"]
    assert "Panouri fotovoltaice pentru Comuna &lt;Florești&gt; &amp; Fiii" in ro["text"]
    assert "România" in ro["text"] and "498.857,88\u00a0lei" in ro["text"]
    assert "Instalații solare" in ro["text"] or "solar" in ro["text"].lower()
    en = worded(next(row for row in rows if row.person_id == dan))["en"]
    assert "Photovoltaic panels" in en["text"] and "Romania" in en["text"] and "RON\u00a0498,857.88" in en["text"]
    assert [b["text"] for b in en["reply_markup"]["inline_keyboard"][0]] == ["⭐ Follow", "🚫 Not relevant"]

    # Again, and once more with a newer CSV row of the same procedure: nothing new.
    assert (await jobs.tender_alerts(NOON + timedelta(minutes=5)))["alerts"] == 0
    await store(session_factory, [replace(SOLAR_CSV, source_id="CN1012345-bis", version=1)])
    assert (await jobs.tender_alerts(NOON + timedelta(minutes=10)))["alerts"] == 0
    assert len(await outbox(session_factory)) == 2


async def test_a_profile_created_after_a_tender_does_not_get_it_and_a_paused_one_gets_nothing(
    session_factory: async_sessionmaker[AsyncSession], jobs: Jobs
) -> None:
    ana = await person(session_factory, 1001, "Ana")
    radu = await person(session_factory, 1004, "Radu")
    await store(session_factory, [SOLAR], now=NOON - timedelta(hours=2))
    await profile(session_factory, ana, starts_at=NOON - timedelta(hours=1))
    await profile(session_factory, radu, paused=True)
    assert (await jobs.tender_alerts(NOON))["alerts"] == 0

    later = replace(SOLAR, source_id="700000-2026", procedure_id="other-procedure")
    await store(session_factory, [later], now=NOON + timedelta(minutes=1))
    assert (await jobs.tender_alerts(NOON + timedelta(minutes=2)))["alerts"] == 1
    assert [alert.person_id for alert in await alerts_of(session_factory)] == [ana]


async def test_a_change_reaches_as_an_update_only_those_who_got_the_alert(
    session_factory: async_sessionmaker[AsyncSession], jobs: Jobs
) -> None:
    ana = await person(session_factory, 1001, "Ana")
    dan = await person(session_factory, 1002, "Dan", language="en")
    await profile(session_factory, ana)
    # Dan's digest is at 18:00: his alert is not sent yet when the change comes.
    await profile(session_factory, dan, delivery="digest", digest_hour=18)
    await store(session_factory, [SOLAR])
    await jobs.tender_alerts(NOON)
    # Someone whose profile begins after the tender: no alert, so no change either.
    late = await person(session_factory, 1005, "Late")
    await profile(session_factory, late, starts_at=NOON + timedelta(minutes=1))

    changed = replace(
        SOLAR, source_id="713002-2026", version=2, is_change=True, deadline=SOLAR.deadline + timedelta(days=7)
    )  # type: ignore[operator]
    await store(session_factory, [changed], now=NOON + timedelta(hours=1))
    done = await jobs.tender_alerts(NOON + timedelta(hours=1))
    assert done["changes"] == 1 and done["alerts"] == 0
    [row] = await outbox(session_factory, "tender.changed")
    assert row.person_id == ana
    text = worded(row)["en"]["text"]
    assert "Update" in text and "22 January 2027" in text
    assert (await jobs.tender_alerts(NOON + timedelta(hours=2)))["changes"] == 0
    assert len(await outbox(session_factory, "tender.changed")) == 1
    [ana_alert] = [alert for alert in await alerts_of(session_factory) if alert.person_id == ana]
    assert ana_alert.change_sent_at is not None


async def test_quiet_hours_hold_instant_alerts_until_the_morning(
    session_factory: async_sessionmaker[AsyncSession], jobs: Jobs
) -> None:
    ana = await person(session_factory, 1001, "Ana")
    await profile(session_factory, ana)
    night = datetime(2026, 12, 1, 23, 30, tzinfo=BUCHAREST)
    await store(session_factory, [SOLAR], now=night)
    assert (await jobs.tender_alerts(night))["alerts"] == 1
    assert await outbox(session_factory) == []
    assert (await jobs.tender_alerts(night + timedelta(hours=4)))["waiting_sent"] == 0
    assert await outbox(session_factory) == []
    morning = datetime(2026, 12, 2, 8, 0, tzinfo=BUCHAREST)
    assert (await jobs.tender_alerts(morning))["waiting_sent"] == 1
    assert (await jobs.tender_alerts(morning + timedelta(minutes=20)))["waiting_sent"] == 0
    [row] = await outbox(session_factory, "tender.alert")
    assert row.person_id == ana


async def test_the_digest_comes_at_the_chosen_hour_in_parts_that_fit_and_never_twice(
    session_factory: async_sessionmaker[AsyncSession], jobs: Jobs
) -> None:
    ana = await person(session_factory, 1001, "Ana")
    dan = await person(session_factory, 1002, "Dan", language="en")
    await profile(session_factory, ana, delivery="digest", digest_hour=9)
    # 23:00 is inside the quiet hours: Dan's digest comes at their end, 08:00.
    await profile(session_factory, dan, delivery="digest", digest_hour=23)
    long_title = "Furnizare și montare sisteme fotovoltaice " * 7  # cut to TITLE_MAX in the notice
    tenders = [
        replace(
            SOLAR,
            source_id=f"{900000 + n}-2026",
            procedure_id=f"procedure-{n}",
            title={"ro": f"{n} {long_title}", "en": f"{n} Photovoltaic systems " * 12},
            buyer=f"{ODD} " * 12,
        )
        for n in range(40)
    ]
    await store(session_factory, tenders, now=NOON - timedelta(hours=6))
    await jobs.tender_alerts(datetime(2026, 12, 1, 7, 0, tzinfo=BUCHAREST))
    assert await outbox(session_factory) == []

    assert await jobs.tender_digest(datetime(2026, 12, 1, 7, 30, tzinfo=BUCHAREST)) == 0
    dan_parts = await jobs.tender_digest(datetime(2026, 12, 1, 8, 5, tzinfo=BUCHAREST))
    assert dan_parts > 1
    assert {row.person_id for row in await outbox(session_factory)} == {dan}
    ana_parts = await jobs.tender_digest(datetime(2026, 12, 1, 9, 0, tzinfo=BUCHAREST))
    assert ana_parts == dan_parts
    assert await jobs.tender_digest(datetime(2026, 12, 1, 9, 45, tzinfo=BUCHAREST)) == 0

    rows = await outbox(session_factory, "tender.digest")
    assert len(rows) == ana_parts + dan_parts
    for reader in (ana, dan):
        items: list[int] = []
        for row in (row for row in rows if row.person_id == reader):
            for message in worded(row).values():  # validate_content: each part fits in either language
                assert len(message["text"]) <= TEXT_LIMIT
            items.extend(item["alert_id"] for item in row.content["items"])
        assert len(items) == len(set(items)) == 40
    # As few messages as the estimate allows: no two neighbouring parts would fit in one.
    sizes = [sum(tender_alerts.digest_item_size(item) for item in row.content["items"]) for row in rows]
    budget = TEXT_LIMIT - tender_alerts.DIGEST_FRAME
    reader_of = [row.person_id for row in rows]
    for n in range(len(rows) - 1):
        if reader_of[n] == reader_of[n + 1]:
            assert sizes[n] + tender_alerts.digest_item_size(rows[n + 1].content["items"][0]) > budget
    assert all(alert.sent_at is not None for alert in await alerts_of(session_factory))

    # A tender matched later in the same hour: the next run of the hour sends it, in a message of its own.
    late = replace(SOLAR, source_id="late-2026", procedure_id="late")
    await store(session_factory, [late], now=datetime(2026, 12, 1, 9, 40, tzinfo=BUCHAREST))
    await jobs.tender_alerts(datetime(2026, 12, 1, 9, 50, tzinfo=BUCHAREST))
    assert await jobs.tender_digest(datetime(2026, 12, 1, 9, 55, tzinfo=BUCHAREST)) == 1
    last = (await outbox(session_factory, "tender.digest"))[-1]
    assert (last.person_id, last.content["total"]) == (ana, 1)


async def test_a_followed_tender_is_reminded_7_and_2_days_before_its_deadline_once_each(
    session_factory: async_sessionmaker[AsyncSession], jobs: Jobs
) -> None:
    ana = await person(session_factory, 1001, "Ana")
    await profile(session_factory, ana)
    deadline = datetime(2026, 12, 20, 17, 0, tzinfo=BUCHAREST)
    soon = replace(SOLAR, source_id="1-2026", procedure_id="p1", deadline=deadline)
    closer = replace(SOLAR, source_id="2-2026", procedure_id="p2", deadline=NOON + timedelta(days=1, hours=3))
    await store(session_factory, [soon, closer])
    await jobs.tender_alerts(NOON)
    async with unit_of_work(session_factory) as session:
        await session.execute(update(TenderAlert).values(followed_at=NOON))
    async with session_factory() as session:
        first, second = (await session.scalars(select(TenderAlert.id).order_by(TenderAlert.id))).all()

    # The closer one is within 2 days already: its 2-day reminder stands for the 7-day one too.
    assert await jobs.deadline_reminders(NOON) == 1
    assert await jobs.deadline_reminders(NOON + timedelta(hours=1)) == 0
    # Calendar days in TIMEZONE, as people count them: the 12th is 8 days before the 20th.
    assert await jobs.deadline_reminders(datetime(2026, 12, 12, 20, 0, tzinfo=BUCHAREST)) == 0
    # 7 days before, at night: it waits for the morning.
    assert await jobs.deadline_reminders(datetime(2026, 12, 13, 23, 0, tzinfo=BUCHAREST)) == 0
    assert await jobs.deadline_reminders(datetime(2026, 12, 14, 9, 0, tzinfo=BUCHAREST)) == 1
    assert await jobs.deadline_reminders(datetime(2026, 12, 15, 9, 0, tzinfo=BUCHAREST)) == 0
    assert await jobs.deadline_reminders(deadline - timedelta(days=1)) == 1
    assert await jobs.deadline_reminders(deadline - timedelta(hours=2)) == 0
    assert await jobs.deadline_reminders(deadline + timedelta(hours=1)) == 0

    rows = await outbox(session_factory, "tender.reminder")
    assert [(row.batch, row.content["days"]) for row in rows] == [
        (f"tremind:{second}:2", 2),
        (f"tremind:{first}:7", 7),
        (f"tremind:{first}:2", 2),
    ]
    # The days really left, in TIMEZONE's calendar: 14 December at 09:00 is 6 days before the 20th.
    assert "<b>6 zile</b> până la termenul" in worded(rows[1])["ro"]["text"]
    assert "<b>1 day</b> to the deadline" in worded(rows[2])["en"]["text"]


async def test_running_the_alert_job_twice_at_once_sends_nothing_twice(
    session_factory: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    people = [await person(session_factory, 2000 + n, f"M{n}") for n in range(3)]
    for person_id in people:
        await profile(session_factory, person_id)
    tenders = [replace(SOLAR, source_id=f"{n}-2026", procedure_id=f"p{n}") for n in range(1200)]
    await store(session_factory, tenders)
    first, second = Jobs(settings, session_factory, None), Jobs(settings, session_factory, None)
    results = await asyncio.gather(first.tender_alerts(NOON), second.tender_alerts(NOON))
    assert sum(result["tenders"] for result in results) == 1200
    assert sum(result["alerts"] for result in results) == 3600
    assert len(await alerts_of(session_factory)) == 3600
    rows = await outbox(session_factory, "tender.alert")
    assert len(rows) == len({row.batch for row in rows}) == 3600
    # A restart after the crash of a run: what is claimed is not claimed again.
    assert (await first.tender_alerts(NOON + timedelta(minutes=1)))["alerts"] == 0


async def test_a_person_no_longer_a_member_gets_no_alert(
    session_factory: async_sessionmaker[AsyncSession], jobs: Jobs
) -> None:
    ana = await person(session_factory, 1001, "Ana")
    await profile(session_factory, ana)
    async with unit_of_work(session_factory) as session:
        await session.execute(update(Person).where(Person.id == ana).values(role=Role.GUEST.value))
    await store(session_factory, [SOLAR])
    assert (await jobs.tender_alerts(NOON))["alerts"] == 0


def test_quiet_hours_and_digest_hours() -> None:
    tz = timezone(timedelta(hours=2))
    quiet = (22, 8)
    assert tender_alerts.in_quiet_hours(datetime(2026, 12, 1, 22, 0, tzinfo=tz), quiet, tz)
    assert tender_alerts.in_quiet_hours(datetime(2026, 12, 1, 7, 59, tzinfo=tz), quiet, tz)
    assert not tender_alerts.in_quiet_hours(datetime(2026, 12, 1, 8, 0, tzinfo=tz), quiet, tz)
    assert not tender_alerts.in_quiet_hours(datetime(2026, 12, 1, 21, 59, tzinfo=tz), None, tz)
    assert tender_alerts.in_quiet_hours(datetime(2026, 12, 1, 13, 0, tzinfo=tz), (12, 14), tz)
    assert [tender_alerts.digest_hour(hour, quiet) for hour in (21, 22, 3, 8, 9)] == [21, 8, 8, 8, 9]


async def test_a_run_that_fails_midway_loses_nothing_and_sends_nothing_twice_when_run_again(
    session_factory: async_sessionmaker[AsyncSession], jobs: Jobs, monkeypatch: pytest.MonkeyPatch
) -> None:
    ana = await person(session_factory, 1001, "Ana")
    await profile(session_factory, ana)
    await store(session_factory, [replace(SOLAR, source_id=f"{n}-2026", procedure_id=f"p{n}") for n in range(1200)])
    real = tender_alerts.match_new
    calls = 0

    async def crashing(*args: Any, **kwargs: Any) -> tender_alerts.MatchResult:
        # The second batch does all its work, then the process dies before its commit.
        nonlocal calls
        calls += 1
        result = await real(*args, **kwargs)
        if calls == 2:
            raise RuntimeError("killed")
        return result

    monkeypatch.setattr(tender_alerts, "match_new", crashing)
    with pytest.raises(RuntimeError, match="killed"):
        await jobs.tender_alerts(NOON)
    assert len(await alerts_of(session_factory)) == tender_alerts.BATCH
    monkeypatch.setattr(tender_alerts, "match_new", real)
    done = await jobs.tender_alerts(NOON + timedelta(minutes=1))
    assert (done["tenders"], done["alerts"]) == (1200 - tender_alerts.BATCH, 1200 - tender_alerts.BATCH)
    rows = await outbox(session_factory, "tender.alert")
    assert len(rows) == len({row.content["tender"]["tender_id"] for row in rows}) == 1200

"""Fetching the configured tender sources: TED through the local stand-in over HTTP (429s, 5xx, an expired token,
a truncated page, a page that never ends), OCDS, RSS and CSV from a file and from a local HTTP server; each
run's health; managers told of a broken source once per incident and once when it works again; one broken
source never stopping another; the week's figures."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.jobs import Jobs
from bot.sandbox.ted import Fault, TedStandIn
from bot.services import members
from bot.services.tenders.fetch import FetchPolicy, SourceFailure
from bot.services.tenders.sources import clean_detail, fetch_source, ted_query, week_figures
from storage.db import unit_of_work
from storage.models import AlertProfile, OutboxMessage, Person, Role, TenderAlert, TenderRow, TenderSourceState
from storage.repositories import Repositories

DATA = Path(__file__).parent / "data" / "tenders"
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
FAST = FetchPolicy(timeout=3.0, page_delay=0.0, max_attempts=3, backoff_base=0.01, max_pages=20)
Factory = async_sessionmaker[AsyncSession]


class _Clock:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def notice(number: int, *, title: str = "Panouri solare pentru școli", day: str = "2026-11-30") -> dict[str, Any]:
    return {
        "publication-number": f"{number}-2026",
        "notice-type": "cn-standard",
        "publication-date": f"{day}+02:00",
        "notice-title": {"ron": title, "eng": "Solar panels for schools"},
        "buyer-name": {"ron": ["Primăria Cluj-Napoca"]},
        "buyer-country": ["ROU"],
        "classification-cpv": ["09332000", "09332000"],
        "deadline-receipt-tender-date-lot": ["2027-01-20+02:00"],
        "links": {"html": {"RON": f"https://ted.europa.eu/ro/notice/-/detail/{number}-2026"}},
    }


def ted_settings(
    make_settings: Callable[..., Settings], url: str, extra: list[dict[str, Any]] | None = None, **more: Any
) -> Settings:
    sources = [{"name": "ted", "kind": "ted", "url": url, "every_minutes": 60, "rate": 50}, *(extra or [])]
    return make_settings(tender_sources=json.dumps(sources), **more)


async def people(session_factory: Factory) -> None:
    """Maria, a manager (English), Ion, an admin (Romanian), and Ana, a member with a solar-panels profile."""
    async with unit_of_work(session_factory) as session:
        repos = Repositories(session)
        await members.provision(repos, telegram_id=3001, first_name="Maria", language_code="en", role=Role.MANAGER)
        await members.provision(repos, telegram_id=3002, first_name="Ion", language_code="ro", role=Role.MANAGER)
        await session.execute(Person.__table__.update().where(Person.telegram_id == 3002).values(role=Role.ADMIN.value))
        ana = await members.provision(
            repos, telegram_id=1001, first_name="Ana", role=Role.MEMBER, organisation="EcoTech SRL"
        )
        await repos.alert_profiles.add(
            AlertProfile(person_id=ana.id, name="Solar", cpv=["09332000"], include=["biomasă"], countries=["RO"])
        )


async def told(session_factory: Factory) -> list[tuple[str, int, dict[str, Any]]]:
    async with unit_of_work(session_factory) as session:
        rows = (await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all()
        return [(row.kind, row.chat_id, dict(row.content)) for row in rows]


async def state(session_factory: Factory, name: str = "ted") -> TenderSourceState:
    async with unit_of_work(session_factory) as session:
        found = await Repositories(session).tender_sources.get(name)
        assert found is not None
        return found


async def stored(session_factory: Factory) -> list[str]:
    async with unit_of_work(session_factory) as session:
        return sorted((await session.scalars(select(TenderRow.source_id))).all())


@pytest.fixture
async def ted() -> AsyncIterator[TedStandIn]:
    async with TedStandIn([notice(n) for n in range(700001, 700008)], today=NOW.date()) as running:
        yield running


# --- TED ------------------------------------------------------------------------------------------------------


async def test_the_union_of_active_profiles_is_asked_for_since_the_last_window(
    session_factory: Factory, make_settings: Callable[..., Settings], ted: TedStandIn
) -> None:
    settings = ted_settings(make_settings, ted.base_url)
    await people(session_factory)
    clock = _Clock()

    outcome = await fetch_source(session_factory, settings, "ted", now=NOW, policy=FAST, sleep=clock)
    assert (outcome.ok, outcome.fetched, outcome.new, outcome.changed) == (True, 7, 7, 0)
    first = ted.stats.bodies[0]["query"]
    # The profile's CPV code and keyword, its country in TED's alpha-3, calls for competition, the last 7 days.
    assert first == (
        '(classification-cpv IN (09332000) OR FT ~ "biomasă") AND buyer-country IN (ROU)'
        " AND notice-type IN (cn-social cn-standard) AND publication-date>=20261124"
    )
    health = await state(session_factory)
    assert (health.runs, health.failures, health.last_fetched, health.last_new) == (1, 0, 7, 7)
    assert health.last_success_at == NOW and health.fetched_until == NOW and health.error is None

    # The next run asks from the day the last one ended: a notice published today is new, nothing is stored twice.
    ted.add_notices([notice(700101, day="2026-12-01"), notice(700001, day="2026-12-01")])
    later = NOW + timedelta(hours=6)
    again = await fetch_source(session_factory, settings, "ted", now=later, policy=FAST, sleep=clock)
    assert (again.ok, again.fetched, again.new) == (True, 2, 1)
    assert ted.stats.bodies[-1]["query"].endswith("publication-date>=20261201")
    assert (await state(session_factory)).fetched_until == later
    assert len(await stored(session_factory)) == 8
    assert await told(session_factory) == []


async def test_no_active_profile_means_nothing_to_ask(
    session_factory: Factory, make_settings: Callable[..., Settings], ted: TedStandIn
) -> None:
    outcome = await fetch_source(
        session_factory, ted_settings(make_settings, ted.base_url), "ted", now=NOW, policy=FAST
    )
    assert outcome.ok and not outcome.asked and outcome.fetched == 0
    assert ted.stats.calls == 0
    assert (await state(session_factory)).last_success_at == NOW


async def test_429_5xx_and_an_expired_token_are_ridden_out(
    session_factory: Factory, make_settings: Callable[..., Settings]
) -> None:
    await people(session_factory)
    async with TedStandIn([notice(n) for n in range(700001, 700013)], today=NOW.date()) as ted:
        ted.inject(1, Fault("429", retry_after="7"))
        ted.inject(2, Fault("5xx", status=502))
        ted.inject(4, Fault("expired"))
        settings = ted_settings(make_settings, ted.base_url)
        clock = _Clock()
        # Pages of 5: the token of the second page is refused as expired, and the window starts again.
        outcome = await fetch_source(session_factory, settings, "ted", now=NOW, policy=FAST, sleep=clock, page_size=5)
    assert outcome.ok and outcome.new == 12, outcome
    assert 7.0 in clock.waits  # Retry-After honoured
    assert ted.stats.answered[:4] == [429, 502, 200, 400]
    assert len(await stored(session_factory)) == 12
    assert (await state(session_factory)).error is None


async def test_a_broken_source_keeps_what_it_stored_and_is_told_once_per_incident(
    session_factory: Factory, make_settings: Callable[..., Settings]
) -> None:
    await people(session_factory)
    async with TedStandIn([notice(n) for n in range(700001, 700011)], today=NOW.date()) as ted:
        settings = ted_settings(make_settings, ted.base_url)
        fetch = partial(fetch_source, session_factory, settings, "ted", policy=FAST, sleep=_Clock(), page_size=4)
        # The second page is cut off half-way, every time it is asked for.
        for call in (2, 3, 4):
            ted.inject(call, Fault("truncated"))
        broken = await fetch(now=NOW)
        assert not broken.ok and broken.reason is SourceFailure.UNREACHABLE
        # The first page's four tenders are stored and kept.
        assert broken.new == 4 and len(await stored(session_factory)) == 4
        health = await state(session_factory)
        assert health.error is not None and health.error.startswith("unreachable")
        assert health.error_since == NOW and health.failures == 1 and health.fetched_until is None
        notices = await told(session_factory)
        assert sorted(chat for _, chat, _ in notices) == [3001, 3002]
        assert {kind for kind, _, _ in notices} == {"tender_source.failed"}
        assert notices[0][2]["source"] == "ted" and notices[0][2]["reason"] == "unreachable"

        # Still broken an hour later (a page that never ends, this time): the incident is not told again.
        ted.never_end()
        endless = await fetch(now=NOW + timedelta(hours=1))
        assert endless.reason is SourceFailure.ENDLESS
        health = await state(session_factory)
        assert health.error_since == NOW and health.failures == 2 and health.error.startswith("endless")
        assert len(await told(session_factory)) == 2

        # It works again: the managers are told once, and the window starts where it was.
        ted._endless = False
        fixed = await fetch(now=NOW + timedelta(hours=2))
    assert fixed.ok and fixed.new == 6
    assert len(await stored(session_factory)) == 10
    health = await state(session_factory)
    assert health.error is None and health.error_since is None and health.incident_reported_at is None
    notices = await told(session_factory)
    assert [kind for kind, _, _ in notices].count("tender_source.recovered") == 2
    assert len(notices) == 4


async def test_a_second_source_keeps_working_while_the_first_is_broken(
    session_factory: Factory, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    await people(session_factory)
    csv_source = {"name": "sicap", "kind": "csv", "path": str(DATA / "romanian_tenders.csv"), "every_minutes": 60}
    # Nothing listens on port 9 of the loopback: TED is unreachable.
    settings = ted_settings(make_settings, "http://127.0.0.1:9", [csv_source])
    jobs = Jobs(settings, session_factory, None, fetch_policy=FAST)
    outcomes = await jobs.run("fetch_tenders", NOW)
    by_name = {outcome.source: outcome for outcome in outcomes}
    assert not by_name["ted"].ok and by_name["ted"].reason is SourceFailure.UNREACHABLE
    assert by_name["sicap"].ok and by_name["sicap"].new > 0
    assert (await state(session_factory, "sicap")).error is None
    # Neither is due again an hour minus a minute later; both are after the hour.
    assert await jobs.run("fetch_tenders", NOW + timedelta(minutes=59) - timedelta(seconds=31)) == []
    assert len(await jobs.run("fetch_tenders", NOW + timedelta(minutes=60))) == 2


def test_an_errors_detail_keeps_no_secret() -> None:
    detail = clean_detail(
        "unreachable (ClientConnectorError: https://user:pa55@example.org/feed.xml?token=s3cr3t#x)"
        " key 0123456789abcdef0123456789abcdef0123"
    )
    assert "pa55" not in detail and "s3cr3t" not in detail and "0123456789abcdef" not in detail
    assert "https://example.org/feed.xml" in detail


def test_the_query_falls_back_to_the_deployments_countries_and_asks_for_each_kind() -> None:
    wide = AlertProfile(cpv=["45000000"], include=[], countries=[], kinds=["competition", "result"])
    query = ted_query([wide], {"RO", "GR"}, NOW.date())
    assert query.countries == frozenset({"ROU", "GRC"})
    assert {"cn-standard", "can-standard"} <= query.notice_types


# --- OCDS, RSS and CSV ---------------------------------------------------------------------------------------

FILES = {
    "ocds": "RECONSTRUCTED_ocds_1_1_tender_release_package.json",
    "rss": "romanian_feed.xml",
    "csv": "romanian_tenders.csv",
}


@pytest.mark.parametrize("kind", sorted(FILES))
async def test_a_file_source_is_read_and_stored(
    kind: str, session_factory: Factory, make_settings: Callable[..., Settings]
) -> None:
    source = {"name": f"local-{kind}", "kind": kind, "path": str(DATA / FILES[kind])}
    settings = make_settings(tender_sources=json.dumps([source]))
    outcome = await fetch_source(session_factory, settings, f"local-{kind}", now=NOW, policy=FAST)
    assert outcome.ok and outcome.new > 0, outcome
    again = await fetch_source(session_factory, settings, f"local-{kind}", now=NOW + timedelta(hours=1), policy=FAST)
    assert again.ok and again.new == 0 and again.fetched == outcome.fetched
    health = await state(session_factory, f"local-{kind}")
    assert health.runs == 2 and health.last_new == 0


@pytest.fixture
async def web_server() -> AsyncIterator[tuple[str, dict[str, list[Any]]]]:
    """A local HTTP server of the sample files, and a list of answers to give before the file (status codes)."""
    plan: dict[str, list[Any]] = {name: [] for name in FILES.values()}
    plan["calls"] = []

    async def serve(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        plan["calls"].append(name)
        if name not in plan:
            return web.Response(status=404)
        if plan[name]:
            status = plan[name].pop(0)
            return web.Response(status=status, headers={"Retry-After": "0"})
        return web.Response(body=(DATA / name).read_bytes())

    app = web.Application()
    app.router.add_get("/{name}", serve)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}", plan
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("kind", sorted(FILES))
async def test_a_url_source_rides_out_429_and_5xx(
    kind: str, session_factory: Factory, make_settings: Callable[..., Settings], web_server: tuple[str, Any]
) -> None:
    base, plan = web_server
    plan[FILES[kind]].extend([429, 503])
    source = {"name": f"web-{kind}", "kind": kind, "url": f"{base}/{FILES[kind]}?key=secret"}
    settings = make_settings(tender_sources=json.dumps([source]))
    clock = _Clock()
    outcome = await fetch_source(session_factory, settings, f"web-{kind}", now=NOW, policy=FAST, sleep=clock)
    assert outcome.ok and outcome.new > 0, outcome
    assert plan["calls"] == [FILES[kind]] * 3 and clock.waits == [0.0, 0.0]


async def test_a_url_source_that_answers_nonsense_or_too_much_is_an_incident(
    session_factory: Factory, make_settings: Callable[..., Settings], web_server: tuple[str, Any], tmp_path: Path
) -> None:
    base, _ = web_server
    await people(session_factory)
    sources = [
        {"name": "wrong", "kind": "ocds", "url": f"{base}/romanian_feed.xml?token=abc"},
        {"name": "missing", "kind": "csv", "url": f"{base}/nothing.csv"},
        {"name": "big", "kind": "csv", "url": f"{base}/romanian_tenders.csv"},
        {"name": "shape", "kind": "ocds", "path": str(DATA / "romanian_tenders.csv")},
    ]
    settings = make_settings(tender_sources=json.dumps(sources))
    # "big" may send 1 KiB at most.
    small = FetchPolicy(timeout=3.0, page_delay=0.0, max_attempts=2, backoff_base=0.01, max_body_bytes=1024)
    reasons = {}
    for source in sources:
        policy = small if source["name"] == "big" else FAST
        outcome = await fetch_source(session_factory, settings, source["name"], now=NOW, policy=policy)
        reasons[source["name"]] = outcome.reason
    assert reasons == {
        "wrong": SourceFailure.BAD_JSON,
        "missing": SourceFailure.REFUSED,
        "big": SourceFailure.TOO_BIG,
        "shape": SourceFailure.BAD_JSON,
    }
    wrong = await state(session_factory, "wrong")
    assert wrong.error is not None and "abc" not in wrong.error
    # Each source's incident is told once, to both managers.
    assert len(await told(session_factory)) == 2 * len(sources)


# --- the week's figures -------------------------------------------------------------------------------------


async def test_the_weeks_figures_count_per_day_in_bucharest(session_factory: Factory) -> None:
    tz = ZoneInfo("Europe/Bucharest")
    await people(session_factory)
    async with unit_of_work(session_factory) as session:
        ana = await session.scalar(select(Person).where(Person.telegram_id == 1001))
        assert ana is not None
        moments = {
            # 23:30 UTC on 30 November is 1 December in Bucharest.
            "a": datetime(2026, 11, 30, 23, 30, tzinfo=UTC),
            "b": datetime(2026, 12, 1, 8, 0, tzinfo=UTC),
            "c": datetime(2026, 11, 25, 12, 0, tzinfo=UTC),
            # Eight days ago: outside the week.
            "d": datetime(2026, 11, 23, 12, 0, tzinfo=UTC),
        }
        for key, moment in moments.items():
            row = TenderRow(source="csv", source_id=key, kind="competition", title={"ro": key}, first_seen_at=moment)
            session.add(row)
            await session.flush()
            session.add(
                TenderAlert(
                    person_id=ana.id,
                    tender_id=row.id,
                    created_at=moment,
                    followed_at=moment + timedelta(hours=1) if key in "ab" else None,
                    not_relevant_at=moment if key == "c" else None,
                )
            )
    async with unit_of_work(session_factory) as session:
        days = await week_figures(Repositories(session), tz, NOW)
    assert days[0].start.date().isoformat() == "2026-11-25" and len(days) == 7
    by_day = {day.start.date().isoformat(): (day.tenders, day.alerts, day.follows, day.not_relevant) for day in days}
    assert by_day["2026-12-01"] == (2, 2, 2, 0)
    assert by_day["2026-11-25"] == (1, 1, 0, 1)
    assert sum(day.tenders for day in days) == 3


async def test_a_source_that_fails_unexpectedly_stops_nobody_else(
    session_factory: Factory, make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.services.tenders.sources as sources_module

    real = sources_module.fetch_source

    async def buggy(factory: Factory, settings: Settings, name: str, **kwargs: Any) -> Any:
        if name == "first":
            raise RuntimeError("a bug")
        return await real(factory, settings, name, **kwargs)

    monkeypatch.setattr(sources_module, "fetch_source", buggy)
    path = str(DATA / "romanian_tenders.csv")
    settings = make_settings(
        tender_sources=json.dumps(
            [{"name": "first", "kind": "csv", "path": path}, {"name": "second", "kind": "csv", "path": path}]
        )
    )
    outcomes = await Jobs(settings, session_factory, None, fetch_policy=FAST).run("fetch_tenders", NOW)
    assert [(o.source, o.ok) for o in outcomes] == [("first", False), ("second", True)]
    assert outcomes[1].new == 3

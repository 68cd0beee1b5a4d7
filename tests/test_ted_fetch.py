"""Fetching tenders from TED: the expert query the bot builds, the local TED stand-in that evaluates it, and the
fetcher going through 429s, 5xx, dropped connections, expired tokens, truncated and huge answers over HTTP."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from bot.sandbox.ted import Fault, QuerySyntaxError, TedStandIn, compile_query
from bot.services.tenders.fetch import FetchPolicy, SourceError, SourceFailure, TedFetcher, retry_after_seconds
from bot.services.tenders.ted_query import DEFAULT_COUNTRIES, EU_MEMBER_STATES, TedQuery

DATA = Path(__file__).parent / "data" / "ted"
SAMPLES = [DATA / "real_ted_v3_notices_sample.json", DATA / "RECONSTRUCTED_ted_v3_search_response.json"]
TODAY = date(2026, 10, 15)


def _notice(
    number: int, *, country: str = "ROU", cpv: str = "09332000", title: str = "Panouri solare"
) -> dict[str, Any]:
    return {
        "publication-number": f"{number}-2026",
        "notice-type": "cn-standard",
        "publication-date": "2026-10-14+02:00",
        "notice-title": {"ron": title, "eng": title},
        "buyer-country": [country],
        "classification-cpv": [cpv, cpv],
        "links": {"html": {"ENG": f"https://ted.europa.eu/en/notice/-/detail/{number}-2026"}},
    }


def _wide(limit: int = 250) -> TedQuery:
    return TedQuery.build(cpv_codes=["09332000"], countries=["ROU"], limit=limit)


class _Clock:
    """Records the fetcher's waits instead of sleeping them."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest_asyncio.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def _fetcher(session: aiohttp.ClientSession, ted: TedStandIn, clock: _Clock, **policy: Any) -> TedFetcher:
    settings = {"timeout": 2.0, "page_delay": 0.5, "max_attempts": 4, **policy}
    return TedFetcher(session, ted.base_url, FetchPolicy(**settings), sleep=clock)


async def _all(fetcher: TedFetcher, query: TedQuery) -> list[list[dict[str, Any]]]:
    return [page async for page in fetcher.pages(query)]


# --- the query builder ---------------------------------------------------------------------------------------


def test_the_union_of_profiles_becomes_one_sorted_expert_query() -> None:
    query = TedQuery.build(
        cpv_codes=["09332000", "03413000-5", "09332000"],
        keywords=["biomasă", "  renewable   energy "],
        countries=["aut", "ROU"],
        notice_types=["cn-standard", "cn-social"],
        since=date(2026, 9, 1),
    )
    assert query.expert_query() == (
        '(classification-cpv IN (03413000 09332000) OR FT ~ "biomasă" OR FT ~ "renewable energy")'
        " AND buyer-country IN (AUT ROU) AND notice-type IN (cn-social cn-standard)"
        " AND publication-date>=20260901"
    )


def test_a_single_wish_needs_no_brackets_and_countries_default_to_the_eu() -> None:
    query = TedQuery.build(keywords=["compost"])
    assert DEFAULT_COUNTRIES == frozenset(EU_MEMBER_STATES) and len(EU_MEMBER_STATES) == 27
    assert "ROU" in DEFAULT_COUNTRIES
    assert query.expert_query() == (
        f'FT ~ "compost" AND buyer-country IN ({" ".join(sorted(EU_MEMBER_STATES))})'
        " AND notice-type IN (cn-social cn-standard)"
    )


def test_quotes_and_backslashes_in_keywords_are_escaped() -> None:
    query = TedQuery.build(keywords=['panouri "solare"', "a\\b", "tab\there"], countries=["ROU"])
    assert query.expert_query() == (
        '(FT ~ "a\\\\b" OR FT ~ "panouri \\"solare\\"" OR FT ~ "tab here") AND buyer-country IN (ROU)'
        " AND notice-type IN (cn-social cn-standard)"
    )


def test_the_request_body_asks_for_iteration_pages_of_250() -> None:
    query = TedQuery.build(cpv_codes=["09332000"], countries=["ROU"])
    first = query.request_body()
    assert first["limit"] == 250 and first["paginationMode"] == "ITERATION" and first["scope"] == "ACTIVE"
    assert "iterationNextToken" not in first and "notice-title" in first["fields"]
    assert query.request_body("abc")["iterationNextToken"] == "abc"


@pytest.mark.parametrize(
    "wishes",
    [{"cpv_codes": ["0933200"]}, {"cpv_codes": ["x"], "countries": ["RO"]}, {"keywords": ["a"], "countries": ["RO"]}],
)
def test_malformed_wishes_are_refused(wishes: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        TedQuery.build(**wishes)


def test_a_query_for_nothing_is_not_sent() -> None:
    query = TedQuery.build(keywords=["   "])
    assert query.is_empty
    with pytest.raises(ValueError):
        query.expert_query()


# --- the stand-in's query language ---------------------------------------------------------------------------


def _matching(query: str) -> list[str]:
    notices = TedStandIn.load(SAMPLES)
    predicate = compile_query(query, today=TODAY)
    return [notice["publication-number"] for notice in notices if predicate(notice)]


def test_the_stand_in_evaluates_what_the_bot_sends() -> None:
    query = TedQuery.build(
        cpv_codes=["03413000"], keywords=["sisteme fotovoltaice"], countries=["ROU", "AUT"], since=date(2026, 10, 1)
    )
    assert _matching(query.expert_query()) == ["712345-2026", "713002-2026"]
    assert _matching("buyer-country IN (ROU AUT) AND notice-type=cn-standard AND publication-date>=20261015") == []
    assert _matching("notice-type IN (can-standard pin-only)") == ["626028-2026", "627671-2026"]
    # AND binds tighter than OR; brackets override it.
    assert _matching("buyer-country=FRA OR buyer-country=ESP AND notice-type=pin-only") == ["626569-2026"]
    assert _matching("(buyer-country=FRA OR buyer-country=ESP) AND notice-type=cn-standard") == [
        "626977-2026",
        "626569-2026",
    ]
    # Full text: words and phrases over the titles of every language, case-insensitive; today(-N) dates.
    assert _matching('FT ~ "winter MAINTENANCE"') == ["627671-2026"]
    assert _matching('FT ~ "maintenance winter"') == []
    assert _matching("FT ~ Brennholz AND publication-date>=today(-1)") == ["713002-2026"]
    assert _matching("FT ~ österreich OR FT ~ Gesamtbaumaßnahme") == ["626028-2026", "713002-2026"]
    assert _matching('FT ~ "Kylkiaukeavat 20\'wide"') == ["628113-2026"]


@pytest.mark.parametrize(
    "query",
    [
        "buyer-country IN (ROU",
        "FT ~ biomas*",
        "estimated-value-proc>100000",
        "buyer-country IN ()",
        "publication-date>=2026-10-01",
        "NOT buyer-country=ROU",
        "buyer-country=ROU AND",
        'FT ~ ""',
        "buyer-country=ROU SORT BY publication-date DESC",
    ],
)
def test_the_stand_in_refuses_what_it_does_not_understand(query: str) -> None:
    with pytest.raises(QuerySyntaxError):
        compile_query(query, today=TODAY)


async def test_a_bad_query_gets_teds_400_error_shape_and_pages_are_numbered(
    http: aiohttp.ClientSession,
) -> None:
    async with TedStandIn.from_files(SAMPLES, today=TODAY) as ted:
        async with http.post(f"{ted.base_url}/v3/notices/search", json={"query": "FT ~ biomas*"}) as response:
            assert response.status == 400
            error = await response.json()
        assert error["type"] == "QUERY_SYNTAX_ERROR" and error["message"]
        async with http.post(f"{ted.base_url}/v3/notices/search", json={"query": "FT ~ x", "bogus": 1}) as response:
            assert response.status == 400
        async with http.post(
            f"{ted.base_url}/v3/notices/search",
            json={"query": "buyer-country IN (ROU AUT)", "paginationMode": "PAGE_NUMBER", "page": 1, "limit": 1},
        ) as response:
            page = await response.json()
        assert page["totalNoticeCount"] == 2 and [n["publication-number"] for n in page["notices"]] == ["712345-2026"]


# --- fetching ------------------------------------------------------------------------------------------------


async def test_every_sample_notice_is_fetched_page_by_page_with_polite_delays(http: aiohttp.ClientSession) -> None:
    clock = _Clock()
    async with TedStandIn.from_files(SAMPLES, today=TODAY) as ted:
        query = TedQuery.build(
            cpv_codes=["09332000", "45200000", "31000000", "90911000", "44613300", "03413000"],
            countries=EU_MEMBER_STATES,
            notice_types=["cn-standard", "pin-only"],
            limit=2,
        )
        pages = await _all(_fetcher(http, ted, clock), query)
    numbers = [notice["publication-number"] for page in pages for notice in page]
    assert numbers == ["626028-2026", "626977-2026", "626569-2026", "628113-2026", "712345-2026", "713002-2026"]
    assert [len(page) for page in pages] == [2, 2, 2]
    # Four calls (the last page is empty although TED still sent a token), three polite waits between them.
    assert ted.stats.calls == 4 and clock.waits == [0.5, 0.5, 0.5]
    # Notices come as TED sent them (only the fields asked for): this one's title is only in `title-proc`.
    assert "notice-title" not in pages[0][0]
    assert pages[0][0]["title-proc"] == {"deu": "Generalunternehmer für die Gesamtbaumaßnahme Bundespräsidialamt"}


async def test_a_notice_repeated_on_a_later_page_is_yielded_once(http: aiohttp.ClientSession) -> None:
    async with TedStandIn([_notice(1), _notice(2), _notice(1), _notice(3)], today=TODAY) as ted:
        pages = await _all(_fetcher(http, ted, _Clock()), _wide(limit=2))
    assert [[n["publication-number"] for n in page] for page in pages] == [["1-2026", "2-2026"], ["3-2026"]]


async def test_429s_5xx_and_a_dropped_connection_are_retried_with_backoff(http: aiohttp.ClientSession) -> None:
    clock = _Clock()
    async with TedStandIn([_notice(n) for n in range(1, 6)], today=TODAY) as ted:
        ted.inject(1, Fault("429", retry_after="7"))
        ted.inject(2, Fault("5xx", status=502))
        ted.inject(3, Fault("drop"))
        ted.inject(5, Fault("5xx", status=503, retry_after=None))
        pages = await _all(_fetcher(http, ted, clock, page_delay=0.0), _wide(limit=3))
    assert [n["publication-number"] for page in pages for n in page] == [f"{n}-2026" for n in range(1, 6)]
    assert ted.stats.answered == [429, 502, 0, 200, 503, 200, 200]
    # Retry-After honoured exactly; then backoff with jitter: 2nd retry in [1, 2], 3rd in [2, 4]; page waits 0;
    # the next page's first retry starts over at [0.5, 1].
    assert clock.waits[0] == 7.0
    assert 1.0 <= clock.waits[1] <= 2.0 and 2.0 <= clock.waits[2] <= 4.0
    assert clock.waits[3] == 0.0 and 0.5 <= clock.waits[4] <= 1.0


async def test_a_retry_after_longer_than_the_cap_is_shortened(http: aiohttp.ClientSession) -> None:
    clock = _Clock()
    async with TedStandIn([_notice(1)], today=TODAY) as ted:
        ted.inject(1, Fault("429", retry_after="86400"))
        pages = await _all(_fetcher(http, ted, clock, max_retry_after=30.0), _wide())
    assert len(pages) == 1 and clock.waits[0] == 30.0


async def test_a_source_that_keeps_failing_is_reported_unreachable(http: aiohttp.ClientSession) -> None:
    clock = _Clock()
    async with TedStandIn([_notice(1)], today=TODAY) as ted:
        for call in range(1, 5):
            ted.inject(call, Fault("5xx", status=500))
        with pytest.raises(SourceError) as failure:
            await _all(_fetcher(http, ted, clock), _wide())
    assert failure.value.reason is SourceFailure.UNREACHABLE and ted.stats.calls == 4
    async with aiohttp.ClientSession() as other:
        fetcher = TedFetcher(other, "http://127.0.0.1:1", FetchPolicy(max_attempts=2), sleep=_Clock())
        with pytest.raises(SourceError) as refused:
            await _all(fetcher, _wide())
    assert refused.value.reason is SourceFailure.UNREACHABLE


async def test_a_slow_answer_times_out_and_is_retried(http: aiohttp.ClientSession) -> None:
    clock = _Clock()
    async with TedStandIn([_notice(1)], today=TODAY) as ted:
        ted.inject(1, Fault("slow", delay=1.0))
        pages = await _all(_fetcher(http, ted, clock, timeout=0.3), _wide())
    assert [n["publication-number"] for page in pages for n in page] == ["1-2026"]
    assert ted.stats.calls == 3 and len(clock.waits) == 2


async def test_a_page_ted_flags_as_timed_out_is_asked_again(http: aiohttp.ClientSession) -> None:
    clock = _Clock()
    async with TedStandIn([_notice(n) for n in range(1, 6)], today=TODAY) as ted:
        ted.inject(2, Fault("timed_out"))
        pages = await _all(_fetcher(http, ted, clock), _wide(limit=3))
    assert [n["publication-number"] for page in pages for n in page] == [f"{n}-2026" for n in range(1, 6)]
    assert ted.stats.calls == 4 and ted.stats.bodies[1] == ted.stats.bodies[2]  # the same token asked twice


async def test_a_truncated_page_is_fetched_again_and_nothing_twice(http: aiohttp.ClientSession) -> None:
    clock = _Clock()
    async with TedStandIn([_notice(n) for n in range(1, 8)], today=TODAY) as ted:
        ted.inject(2, Fault("truncated"))
        pages = await _all(_fetcher(http, ted, clock), _wide(limit=3))
    numbers = [n["publication-number"] for page in pages for n in page]
    assert numbers == [f"{n}-2026" for n in range(1, 8)] and len(set(numbers)) == 7
    assert ted.stats.answered[1] == 0


async def test_an_expired_token_restarts_the_window_once_without_repeats(http: aiohttp.ClientSession) -> None:
    clock = _Clock()
    async with TedStandIn([_notice(n) for n in range(1, 8)], today=TODAY) as ted:
        ted.inject(3, Fault("expired"))
        pages = await _all(_fetcher(http, ted, clock), _wide(limit=3))
        restart = ted.stats.bodies[3]
    numbers = [n["publication-number"] for page in pages for n in page]
    assert numbers == [f"{n}-2026" for n in range(1, 8)]
    assert "iterationNextToken" not in restart  # the window was asked again from its start
    assert ted.stats.answered[2] == 400


async def test_a_token_that_expires_again_after_the_restart_is_an_error(http: aiohttp.ClientSession) -> None:
    async with TedStandIn([_notice(n) for n in range(1, 8)], today=TODAY) as ted:
        ted.inject(2, Fault("expired"))
        ted.inject(4, Fault("expired"))
        received: list[str] = []
        with pytest.raises(SourceError) as failure:
            async for page in _fetcher(http, ted, _Clock()).pages(_wide(limit=3)):
                received.extend(n["publication-number"] for n in page)
    assert failure.value.reason is SourceFailure.TOKEN_EXPIRED
    assert received == ["1-2026", "2-2026", "3-2026"]  # what was yielded before stays yielded, once


@pytest.mark.parametrize("chunked", [False, True], ids=["declared", "chunked"])
async def test_a_huge_body_is_refused(http: aiohttp.ClientSession, chunked: bool) -> None:
    async with TedStandIn([_notice(1)], today=TODAY) as ted:
        ted.inject(1, Fault("huge", size=3 * 1024 * 1024, chunked=chunked))
        with pytest.raises(SourceError) as failure:
            await _all(_fetcher(http, ted, _Clock(), max_body_bytes=1024 * 1024), _wide())
    assert failure.value.reason is SourceFailure.TOO_BIG and ted.stats.calls == 1


async def test_a_never_ending_iteration_stops_at_the_page_cap(http: aiohttp.ClientSession) -> None:
    async with TedStandIn([_notice(1), _notice(2)], today=TODAY) as ted:
        ted.never_end()
        received: list[str] = []
        with pytest.raises(SourceError) as failure:
            async for page in _fetcher(http, ted, _Clock(), max_pages=5).pages(_wide()):
                received.extend(n["publication-number"] for n in page)
    assert failure.value.reason is SourceFailure.ENDLESS and ted.stats.calls == 5
    assert received == ["1-2026", "2-2026"]  # the repeated pages were not yielded again


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ('{"notices": [', SourceFailure.BAD_JSON),
        ("[1, 2]", SourceFailure.WRONG_SHAPE),
        ('{"notices": {"a": 1}}', SourceFailure.WRONG_SHAPE),
        ('{"notices": [1]}', SourceFailure.WRONG_SHAPE),
        ('{"notices": [{}], "iterationNextToken": 5}', SourceFailure.WRONG_SHAPE),
    ],
)
async def test_broken_answers_are_one_source_error(
    http: aiohttp.ClientSession, payload: str, reason: SourceFailure
) -> None:
    from aiohttp import web

    async def answer(request: web.Request) -> web.Response:
        return web.Response(text=payload, content_type="application/json")

    app = web.Application()
    app.router.add_post("/v3/notices/search", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        base = f"http://127.0.0.1:{runner.addresses[0][1]}"
        with pytest.raises(SourceError) as failure:
            await _all(TedFetcher(http, base, sleep=_Clock()), _wide())
    finally:
        await runner.cleanup()
    assert failure.value.reason is reason


async def test_a_query_ted_refuses_is_not_retried(http: aiohttp.ClientSession) -> None:
    async with TedStandIn([_notice(1)], today=TODAY) as ted:
        query = TedQuery.build(cpv_codes=["09332000"], countries=["ROU"])
        bad = TedQuery(cpv_codes=frozenset({"0933*"}), countries=query.countries)
        with pytest.raises(SourceError) as failure:
            await _all(_fetcher(http, ted, _Clock()), bad)
    assert failure.value.reason is SourceFailure.REFUSED and ted.stats.calls == 1
    assert "QUERY_SYNTAX_ERROR" in failure.value.detail


def test_retry_after_is_read_as_seconds_or_an_http_date() -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 10, 15, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("12") == 12.0
    assert retry_after_seconds("Thu, 15 Oct 2026 12:00:30 GMT", now) == 30.0
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None


def test_the_sample_files_are_teds_search_responses() -> None:
    for path in SAMPLES:
        payload = json.loads(path.read_text(encoding="utf-8"))
        assert isinstance(payload["notices"], list) and payload["notices"]

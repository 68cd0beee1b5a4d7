"""Fetching one configured tender source (settings.tenders.sources) and keeping its health.

`fetch_source` reads one source as its kind says and stores what it found, as it arrives:

- "ted": the TED Search API v3, asked for the union of what every active profile wants (CPV codes, include
  keywords, countries, notice kinds) published since the end of the last window fetched in full (the first
  run: the last 7 days); each page is stored in its own transaction as it comes, so a later page that fails
  loses nothing stored before it. With no active profile there is nothing to ask TED, and nothing is asked.
- "ocds", "rss", "csv": a document at `url` (HTTP GET with the same timeouts, retries and size cap) or at
  `path`, parsed and stored.

Every run is recorded in the source's `TenderSourceState`: when, what it fetched, stored anew and changed, and
the open incident (reason, a short detail without URLs' secrets, since when). A broken source is logged and
told to the managers and admins once per incident (`NoticeKind.TENDER_SOURCE_FAILED`), and its recovery once
(`TENDER_SOURCE_RECOVERED`). One source's failure is its own: the caller goes on with the others.

`week_figures` gives the managers' figures of the last 7 days, per day in the cluster's time zone.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from pathlib import Path

import aiohttp
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings, TenderSourceSettings
from bot.notices import Notice, NoticeKind, recipients, tell
from bot.services.tenders.fetch import FetchPolicy, SourceError, SourceFailure, TedFetcher, retry_after_seconds
from bot.services.tenders.model import Tender, TenderKind
from bot.services.tenders.parse_csv import parse_csv
from bot.services.tenders.parse_ocds import parse_package
from bot.services.tenders.parse_rss import parse_feed
from bot.services.tenders.parse_ted import parse_response
from bot.services.tenders.parsing import ParsedTenders, TenderParseError, alpha3
from bot.services.tenders.store import StoreResult, store_tenders
from bot.services.tenders.ted_query import DEFAULT_NOTICE_TYPES, TED_PAGE_LIMIT, TedQuery
from storage.db import unit_of_work
from storage.models import AlertProfile, TenderSourceState
from storage.repositories import Repositories
from storage.tender_figures import DayCounts, daily_counts

log = logging.getLogger(__name__)

# The first run of a TED source asks for the notices of this many days.
FIRST_WINDOW = timedelta(days=7)
# The formats a file can be read in (the import_tenders scenario step, `read_file`).
FORMATS = ("ted", "ocds", "rss", "csv")
# Tenders stored per transaction when a file is read.
_FILE_BATCH = 500
_DETAIL_LIMIT = 300

# TED notice types per kind a profile asks for.
NOTICE_TYPES: dict[TenderKind, frozenset[str]] = {
    TenderKind.PLANNING: frozenset({"pin-only", "pin-buyer", "pin-cfc-standard", "pin-cfc-social"}),
    TenderKind.COMPETITION: DEFAULT_NOTICE_TYPES,
    TenderKind.RESULT: frozenset({"can-standard", "can-social", "can-modif", "veat"}),
}

# A URL in an error's detail: scheme and host are kept, credentials, query and fragment are not.
_URL = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?:[^\s/@]*@)?(?P<host>[^\s/?#]*)(?P<path>[^\s?#]*)[^\s]*", re.I)
# Long runs of letters and digits (tokens, keys) that a server echoed back.
_SECRETISH = re.compile(r"\b[A-Za-z0-9_\-]{32,}\b")


def clean_detail(detail: str) -> str:
    """An error's detail as kept and shown: URLs without credentials or query, no token-like strings, short."""
    text = _URL.sub(lambda found: found["scheme"] + found["host"] + found["path"], detail)
    text = _SECRETISH.sub("…", text)
    text = " ".join(text.split())
    return text if len(text) <= _DETAIL_LIMIT else text[: _DETAIL_LIMIT - 1] + "…"


@dataclass(frozen=True)
class FetchOutcome:
    """What one run of a source did. `asked` is False when there was nothing to ask (no active profile)."""

    source: str
    ok: bool
    fetched: int = 0
    new: int = 0
    changed: int = 0
    reason: SourceFailure | None = None
    detail: str = ""
    asked: bool = True

    @property
    def stored_something(self) -> bool:
        return self.new > 0 or self.changed > 0


class _Tally:
    def __init__(self) -> None:
        self.fetched = self.new = self.changed = 0

    def add(self, parsed: ParsedTenders, result: StoreResult) -> None:
        self.fetched += len(parsed.tenders) + len(parsed.problems)
        self.new += result.new
        self.changed += result.changes


def source_settings(settings: Settings, name: str) -> TenderSourceSettings:
    for source in settings.tenders.sources:
        if source.name == name:
            return source
    raise KeyError(f"no tender source {name!r}; sources: {', '.join(s.name for s in settings.tenders.sources)}")


def policy_for(settings: Settings, source: TenderSourceSettings) -> FetchPolicy:
    """The source's timeouts, retries and limits: its polite rate, the deployment's size cap."""
    return FetchPolicy(page_delay=1.0 / source.rate, max_body_bytes=settings.tenders.max_response_bytes)


def ted_query(
    profiles: Iterable[AlertProfile], default_countries: Iterable[str], since: date, *, limit: int = TED_PAGE_LIMIT
) -> TedQuery:
    """The union of what the active profiles want: their CPV codes and include keywords, their countries (a
    profile of any country widens to the deployment's countries), the notice types of their kinds."""
    cpv: set[str] = set()
    keywords: set[str] = set()
    countries: set[str] = set()
    kinds: set[TenderKind] = set()
    for profile in profiles:
        cpv.update(code for code in profile.cpv or () if isinstance(code, str))
        keywords.update(word for word in profile.include or () if isinstance(word, str))
        if profile.countries:
            countries.update(profile.countries)
        else:
            countries.update(default_countries)
        kinds.update(TenderKind(kind) for kind in profile.kinds or (TenderKind.COMPETITION.value,))
    codes3 = {code for country in countries if (code := alpha3(country))}
    types = set().union(*(NOTICE_TYPES[kind] for kind in kinds)) if kinds else set(DEFAULT_NOTICE_TYPES)
    return TedQuery.build(
        cpv_codes=cpv, keywords=keywords, countries=codes3, notice_types=types, since=since, limit=limit
    )


Factory = async_sessionmaker[AsyncSession]


async def _store(session_factory: Factory, tenders: Sequence[Tender], now: datetime) -> StoreResult:
    async with unit_of_work(session_factory) as session:
        return await store_tenders(Repositories(session), tenders, now=now)


def parse_document(kind: str, data: bytes, source: str) -> ParsedTenders:
    """A document of a source of `kind` as tenders; `SourceError` when it is not one at all."""
    try:
        if kind == "ted":
            return parse_response(json.loads(data))
        if kind == "ocds":
            return parse_package(json.loads(data), source)
        if kind == "rss":
            return parse_feed(data, source)
        if kind == "csv":
            return parse_csv(data, source)
    except UnicodeDecodeError as error:
        raise SourceError(SourceFailure.BAD_JSON, f"not UTF-8 at byte {error.start}") from None
    except ValueError as error:
        if isinstance(error, TenderParseError):
            raise SourceError(SourceFailure.WRONG_SHAPE, str(error)) from None
        raise SourceError(SourceFailure.BAD_JSON, str(error)) from None
    raise ValueError(f"not a tender format: {kind!r}")


async def store_document(
    session_factory: Factory, kind: str, data: bytes, source: str, *, now: datetime
) -> tuple[ParsedTenders, StoreResult]:
    """Parse a document and store its tenders, a transaction per batch; what was parsed and what it did."""
    parsed = parse_document(kind, data, source)
    new = updated = unchanged = changes = skipped = 0
    for start in range(0, len(parsed.tenders), _FILE_BATCH):
        result = await _store(session_factory, parsed.tenders[start : start + _FILE_BATCH], now)
        new, updated, unchanged = new + result.new, updated + result.updated, unchanged + result.unchanged
        changes, skipped = changes + result.changes, skipped + result.skipped
    return parsed, StoreResult(new, updated, unchanged, changes, skipped)


async def read_path(path: Path, cap: int) -> bytes:
    """A source's file, refused when larger than the cap."""

    def read() -> bytes:
        with open(path, "rb") as handle:
            data = handle.read(cap + 1)
        if len(data) > cap:
            raise SourceError(SourceFailure.TOO_BIG, f"the file is larger than {cap} bytes")
        return data

    try:
        return await asyncio.to_thread(read)
    except OSError as error:
        raise SourceError(SourceFailure.UNREACHABLE, f"cannot read {path.name}: {error.strerror or error}") from None


async def get_document(
    http: aiohttp.ClientSession,
    url: str,
    policy: FetchPolicy,
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    rng: random.Random | None = None,
) -> bytes:
    """GET a document with the fetcher's policy: retries with backoff and jitter on 429 (honouring
    Retry-After), 5xx, timeouts and dropped connections; a body over the cap refused; other answers refused."""
    rng = rng or random.Random()
    timeout = aiohttp.ClientTimeout(total=policy.timeout, sock_connect=policy.connect_timeout)
    attempt = 0
    while True:
        attempt += 1
        wait: float | None = None
        try:
            async with http.get(url, timeout=timeout) as response:
                if response.status == 429 or response.status >= 500:
                    wait = retry_after_seconds(response.headers.get("Retry-After"))
                    problem = f"HTTP {response.status}"
                elif response.status != 200:
                    raise SourceError(SourceFailure.REFUSED, f"HTTP {response.status}")
                else:
                    return await _read_capped(response, policy.max_body_bytes)
        except TimeoutError:
            problem = "timed out"
        except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as error:
            problem = f"connection dropped ({type(error).__name__})"
        except aiohttp.ClientError as error:
            problem = f"unreachable ({type(error).__name__})"
        if attempt >= policy.max_attempts:
            raise SourceError(SourceFailure.UNREACHABLE, f"{problem} (after {attempt} attempts)")
        if wait is None:
            ceiling = min(policy.backoff_cap, policy.backoff_base * 2 ** (attempt - 1))
            wait = ceiling / 2 + rng.uniform(0, ceiling / 2)
        else:
            wait = min(wait, policy.max_retry_after)
        log.info("%s; retrying in %.1f s", problem, wait)
        await sleep(wait)


async def _read_capped(response: aiohttp.ClientResponse, cap: int) -> bytes:
    if response.content_length is not None and response.content_length > cap:
        raise SourceError(SourceFailure.TOO_BIG, f"{response.content_length} bytes declared, cap {cap}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > cap:
            raise SourceError(SourceFailure.TOO_BIG, f"more than {cap} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def fetch_source(
    session_factory: Factory,
    settings: Settings,
    name: str,
    *,
    now: datetime | None = None,
    http: aiohttp.ClientSession | None = None,
    policy: FetchPolicy | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    page_size: int = TED_PAGE_LIMIT,
) -> FetchOutcome:
    """Fetch the configured source `name` once, store what it gives, record its health and tell managers of
    an incident or a recovery. Never raises for what the source does (its failure is the outcome's);
    `KeyError` for a name that is not configured."""
    source = source_settings(settings, name)
    now = now or datetime.now(UTC)
    policy = policy or policy_for(settings, source)
    tally = _Tally()
    fetched_until: datetime | None = None
    asked = True
    own_http = http is None
    client = http or aiohttp.ClientSession()
    try:
        async with unit_of_work(session_factory) as session:
            repos = Repositories(session)
            state = await repos.tender_sources.ensure(source.name, source.kind)
            since = state.fetched_until
            profiles = list(await repos.alert_profiles.active()) if source.kind == "ted" else []
        if source.kind == "ted":
            start = since if since is not None else now - FIRST_WINDOW
            query = ted_query(profiles, settings.tenders.countries, start.astimezone(UTC).date(), limit=page_size)
            if query.is_empty:
                asked = False
            else:
                assert source.url is not None
                fetcher = TedFetcher(client, source.url, policy, sleep=sleep)
                async for page in fetcher.pages(query):
                    parsed = parse_response({"notices": page})
                    tally.add(parsed, await _store(session_factory, parsed.tenders, now))
            fetched_until = now
        else:
            if source.url is not None:
                data = await get_document(client, source.url, policy, sleep=sleep)
            else:
                assert source.path is not None
                data = await read_path(source.path, policy.max_body_bytes)
            parsed, result = await store_document(session_factory, source.kind, data, source.name, now=now)
            tally.add(parsed, result)
    except SourceError as error:
        return await _failed(session_factory, settings, source, now, tally, error.reason, clean_detail(error.detail))
    finally:
        if own_http:
            await client.close()
    async with unit_of_work(session_factory) as session:
        repos = Repositories(session)
        recovered = await repos.tender_sources.record_success(
            source.name,
            now=now,
            fetched=tally.fetched,
            new=tally.new,
            changed=tally.changed,
            fetched_until=fetched_until,
        )
        if recovered:
            await _tell(repos, settings, source, NoticeKind.TENDER_SOURCE_RECOVERED, now, {})
    if recovered:
        log.info("tender source %s works again", source.name)
    log.info("tender source %s: %d fetched, %d new, %d changed", source.name, tally.fetched, tally.new, tally.changed)
    return FetchOutcome(source.name, True, tally.fetched, tally.new, tally.changed, asked=asked)


async def _failed(
    session_factory: Factory,
    settings: Settings,
    source: TenderSourceSettings,
    now: datetime,
    tally: _Tally,
    reason: SourceFailure,
    detail: str,
) -> FetchOutcome:
    log.warning(
        "tender source %s failed: %s: %s (kept %d new, %d changed)",
        source.name,
        reason,
        detail,
        tally.new,
        tally.changed,
    )
    error = f"{reason.value}: {detail}" if detail else reason.value
    async with unit_of_work(session_factory) as session:
        repos = Repositories(session)
        await repos.tender_sources.ensure(source.name, source.kind)
        report = await repos.tender_sources.record_failure(
            source.name, now=now, fetched=tally.fetched, new=tally.new, changed=tally.changed, error=error
        )
        if report:
            await _tell(
                repos,
                settings,
                source,
                NoticeKind.TENDER_SOURCE_FAILED,
                now,
                {"reason": reason.value, "detail": detail},
            )
    return FetchOutcome(source.name, False, tally.fetched, tally.new, tally.changed, reason, detail)


async def _tell(
    repos: Repositories,
    settings: Settings,
    source: TenderSourceSettings,
    kind: NoticeKind,
    now: datetime,
    params: dict[str, str],
) -> None:
    managers = recipients(await repos.people.managers(), settings.default_locale)
    what = "failed" if kind is NoticeKind.TENDER_SOURCE_FAILED else "recovered"
    batch = f"tender_source:{source.name[:24]}:{what}:{now.timestamp():.0f}"
    notice = Notice(kind, {"source": source.name, "kind": source.kind, "at": now.isoformat(), **params})
    await tell(repos, batch, managers, notice)


def due(state: TenderSourceState | None, source: TenderSourceSettings, now: datetime) -> bool:
    """Whether a source's schedule says it runs now: never run, or its last run `every_minutes` ago."""
    if state is None or state.last_run_at is None:
        return True
    return now - state.last_run_at >= timedelta(minutes=source.every_minutes) - timedelta(seconds=30)


async def states(session_factory: Factory) -> dict[str, TenderSourceState]:
    async with unit_of_work(session_factory) as session:
        return {state.name: state for state in await Repositories(session).tender_sources.all()}


# --- the managers' view ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceHealth:
    """A configured source as managers see it (`state` None: it never ran)."""

    name: str
    kind: str
    every_minutes: int
    state: TenderSourceState | None


async def health(repos: Repositories, settings: Settings) -> list[SourceHealth]:
    """Every configured source, in the order of the settings, with its recorded health."""
    recorded = {state.name: state for state in await repos.tender_sources.all()}
    return [
        SourceHealth(source.name, source.kind, source.every_minutes, recorded.get(source.name))
        for source in settings.tenders.sources
    ]


def day_bounds(today: date, tz: tzinfo, days: int = 7) -> list[datetime]:
    """The starts of the last `days` days in `tz` (today the last) and the end of today."""
    first = today - timedelta(days=days - 1)
    return [datetime.combine(first + timedelta(days=n), time(0), tz) for n in range(days + 1)]


async def week_figures(repos: Repositories, tz: tzinfo, now: datetime | None = None) -> list[DayCounts]:
    """The last 7 days (today included) in `tz`: per day, tenders stored, alerts, follows, not relevant."""
    today = (now or datetime.now(UTC)).astimezone(tz).date()
    return await daily_counts(repos.session, day_bounds(today, tz))


__all__ = [
    "FORMATS",
    "FetchOutcome",
    "SourceHealth",
    "clean_detail",
    "due",
    "fetch_source",
    "health",
    "parse_document",
    "store_document",
    "ted_query",
    "week_figures",
]

"""Fuzzed feeds never crash the pipeline: TED notices, OCDS packages, RSS and Atom feeds and CSV files, valid ones
with random fields, mutated, truncated, with wrong types, huge strings, odd encodings and dates in odd forms.

Every parser either gives tenders that keep the model's promises (8-digit CPV codes, timezone-aware moments,
finite values, alpha-2 countries) or reports the notice it could not read (`TenderParseError`, or a problem in
its `ParsedTenders`); what it gives can be matched against profiles; and storing a fuzzed batch after a good one
never loses the good tender (a real SQLite file)."""

from __future__ import annotations

import copy
import itertools
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.services.tenders.matching import Profile, ProfileIndex, naive_match, parse_keywords
from bot.services.tenders.model import Tender, TenderKind
from bot.services.tenders.parse_csv import parse_csv
from bot.services.tenders.parse_ocds import parse_package
from bot.services.tenders.parse_rss import parse_feed
from bot.services.tenders.parse_ted import parse_response
from bot.services.tenders.parsing import ParsedTenders, TenderParseError, TenderProblem
from bot.services.tenders.store import store_tenders
from storage.db import create_session_factory, unit_of_work
from storage.models import TenderRow
from storage.repositories import Repositories

DATA = Path(__file__).parent / "data" / "tenders"
NOW = datetime(2026, 10, 20, 6, 0, tzinfo=UTC)
RATES = {"EUR": Decimal(1), "RON": Decimal("4.97")}

TED_NOTICES: list[dict[str, Any]] = [
    notice
    for name in ("real_ted_v3_notices_sample.json", "RECONSTRUCTED_ted_v3_search_response.json")
    for notice in json.loads((DATA / name).read_text(encoding="utf-8"))["notices"]
]
OCDS_PACKAGE: dict[str, Any] = json.loads(
    (DATA / "RECONSTRUCTED_ocds_1_1_tender_release_package.json").read_text(encoding="utf-8")
)
RSS_FEED = (DATA / "romanian_feed.xml").read_text(encoding="utf-8")
ATOM_FEED = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="ro">
  <title>Licitaţii – Primăria Sibiu</title>
  <id>urn:example:licitatii</id>
  <updated>2026-10-15T10:00:00+03:00</updated>
  <entry>
    <title>Reabilitare termică şcoala nr. 3 (CPV 45321000-3)</title>
    <link href="https://example.org/sibiu/1"/>
    <id>urn:example:licitatii:1</id>
    <updated>2026-10-15T10:00:00+03:00</updated>
    <category term="45321000-3"/>
    <summary>Izolaţie termică, termen 20.11.2026.</summary>
  </entry>
</feed>
"""
CSV_COLUMNS = "id,procedure_id,title_ro,title_en,buyer,country,cpv,value,currency,deadline,kind,link,published".split(
    ","
)
CSV_FILE = (DATA / "romanian_tenders.csv").read_text(encoding="utf-8-sig")

# Dates as sources write them, and as they should not.
ODD_DATES = st.sampled_from(
    [
        "2026-10-14+02:00",
        "2026-10-14Z",
        "2026-10-14T09:00:00+03:00",
        "2026-10-14T09:00:00.123456789Z",
        "2026-02-30",
        "2026-13-01",
        "2026-10-14T25:61:00Z",
        "2026-10-14+99:00",
        "14.10.2026",
        "14.10.2026 15:00",
        "31.02.2026",
        "20261014",
        "2026-W42",
        "0000-01-01",
        "0001-01-01T00:00:00-14:00",
        "9999-12-31T23:59:59-14:00",
        "9999-12-31+02:00",
        "Wed, 14 Oct 2026 09:00:00 +0300",
        "Wed, 99 Oct 2026",
        "yesterday",
        "",
        " ",
        "—",
    ]
)
# A string far longer than any field (a pasted document, a base64 blob): one word, or many.
HUGE = st.sampled_from([60_000, 20_000, 5_000]).flatmap(
    lambda size: st.sampled_from(["ș", "a", "Ab1 ", "ș€\u0301 "]).map(lambda piece: piece * size)
)
ODD_STRINGS = st.sampled_from(
    [
        "NaN",
        "-NaN",
        "Infinity",
        "-0",
        "1e999999",
        "1e-999999",
        "99999999999999999999999999",
        "٣٤٥",
        "1.234.567,89",
        "1,234,567.89",
        "ROU",
        "RO",
        "ro",
        "ZZZ",
        "ron",
        "ENG",
        "09331200-0",
        "0933120",
        "093312000",
        "cn-standard",
        "can-modif",
        "pin-only",
        "\x00",
        "\ufeff",
        "ş ţ Ş Ţ",
        "<b>&amp;</b>",
    ]
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats()
    | st.text(max_size=30)
    | ODD_DATES
    | ODD_STRINGS
    | HUGE
)
KEYS = st.text(max_size=8) | st.sampled_from(["ron", "ENG", "eng", "RON", "html", "pdf", "amount", "currency", "id"])
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=4),
    max_leaves=8,
)


def _mutate(draw: st.DrawFn, value: Any, depth: int = 0) -> Any:
    """`value` with one random change somewhere inside: a key deleted, a value replaced by any JSON value (a
    wrong type, a huge string, an odd date), wrapped in a list, a list cut or repeated, a key added."""
    if isinstance(value, dict) and value:
        key = draw(st.sampled_from(sorted(value, key=str)))
        action = draw(st.sampled_from(["delete", "replace", "inside", "inside", "listify", "add"]))
        changed = dict(value)
        if action == "delete":
            del changed[key]
        elif action == "replace" or depth >= 4:
            changed[key] = draw(JSON_VALUES)
        elif action == "inside":
            changed[key] = _mutate(draw, value[key], depth + 1)
        elif action == "listify":
            changed[key] = [value[key]] * draw(st.integers(0, 3))
        else:
            changed[draw(KEYS)] = draw(JSON_VALUES)
        return changed
    if isinstance(value, list) and value:
        index = draw(st.integers(0, len(value) - 1))
        action = draw(st.sampled_from(["inside", "cut", "repeat", "replace"]))
        if action == "inside" and depth < 4:
            return [*value[:index], _mutate(draw, value[index], depth + 1), *value[index + 1 :]]
        if action == "cut":
            return value[:index]
        if action == "repeat":
            return value + value[index : index + 1] * 3
        return [*value[:index], draw(JSON_VALUES), *value[index + 1 :]]
    return draw(JSON_VALUES)


@st.composite
def mutated(draw: st.DrawFn, base: Any) -> Any:
    value = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 4))):
        value = _mutate(draw, value)
    return value


@st.composite
def ted_responses(draw: st.DrawFn) -> object:
    """A search response: sample notices, mutated or whole; now and then the response itself mutated."""
    notices = draw(st.lists(st.sampled_from(TED_NOTICES).flatmap(lambda notice: mutated(notice)), max_size=4))
    whole = draw(st.lists(st.sampled_from(TED_NOTICES), max_size=2))
    if notices and draw(st.booleans()):
        # A title or a buyer as long as a document (one word of one letter, or thousands of words).
        field = draw(st.sampled_from(["notice-title", "title-proc", "buyer-name"]))
        notices[0] = {**notices[0], field: {"ron": draw(HUGE)}, "publication-number": "1-2026"}
    response: object = {"notices": notices + whole, "totalNoticeCount": len(notices), "iterationNextToken": None}
    if draw(st.integers(0, 9)) == 0:
        response = draw(mutated(response))
    return response


ocds_packages = mutated(OCDS_PACKAGE) | st.builds(
    lambda releases: {**OCDS_PACKAGE, "releases": releases},
    st.lists(st.sampled_from(OCDS_PACKAGE["releases"]).flatmap(lambda release: mutated(release)), max_size=4),
)

# Pieces of markup spliced into a feed.
_FEED_PIECES = st.sampled_from(
    ["<item>", "</item>", "<title>", "</title>", "<![CDATA[", "]]>", "&bogus;", "&amp;", "<entry>", "\x00", "ş"]
)
_ENCODINGS = ["UTF-8", "utf-16", "ISO-8859-2", "windows-1250", "ascii", "bogus-8"]


@st.composite
def feeds(draw: st.DrawFn) -> bytes:
    """The RSS or Atom sample, its dates replaced with odd ones, cut short, markup spliced in, declared (and
    written) in another encoding, or declared in one and written in another."""
    text = draw(st.sampled_from([RSS_FEED, ATOM_FEED]))
    for tag in ("pubDate", "updated"):
        if draw(st.booleans()):
            date = draw(ODD_DATES | st.text(max_size=12))
            text = re.sub(f"<{tag}>[^<]*</{tag}>", f"<{tag}>{date}</{tag}>".replace("\\", "\\\\"), text)
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(_FEED_PIECES | st.text(max_size=10) | HUGE) + text[at:]
    encoding = draw(st.sampled_from(_ENCODINGS))
    declared = draw(st.sampled_from([encoding, *_ENCODINGS]))
    text = re.sub(r'encoding="[^"]*"', f'encoding="{declared}"', text, count=1)
    try:
        data = text.encode(encoding, errors="replace")
    except LookupError:
        data = text.encode("utf-8")
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return data


_CSV_VALUES = {
    "id": st.text(max_size=12) | st.from_regex(r"CN\d{7}", fullmatch=True) | HUGE,
    "title_ro": st.text(max_size=40) | st.just("Furnizare şi montare sisteme fotovoltaice, Florești") | HUGE,
    "title_en": st.text(max_size=40) | HUGE,
    "cpv": st.lists(st.from_regex(r"\d{7,9}(-\d)?", fullmatch=True) | ODD_STRINGS, max_size=4).map(";".join),
    "value": ODD_STRINGS | st.decimals(allow_nan=True).map(str) | st.text(max_size=8),
    "currency": st.sampled_from(["RON", "EUR", "ron", "LEI", "", "€", "EURO"]),
    "deadline": ODD_DATES | st.text(max_size=10),
    "published": ODD_DATES | st.text(max_size=10),
    "kind": st.sampled_from(["competition", "planning", "result", "", "COMPETITION", "tender", "x"]),
    "country": st.sampled_from(["RO", "ROU", "ro", "ZZ", "", "Romania", "AT"]),
}


def _csv_cell(value: str) -> str:
    return '"' + value.replace('"', '""') + '"' if any(ch in value for ch in ',"\r\n') else value


@st.composite
def csv_files(draw: st.DrawFn) -> str | bytes:
    """A file with the documented header (columns in any order, some left out) and rows of random fields; or
    the sample file; either of them cut short, or written in another encoding."""
    if draw(st.booleans()):
        text = CSV_FILE
    else:
        columns = draw(st.permutations(CSV_COLUMNS).flatmap(lambda names: st.just(names[: max(2, len(names) - 3)])))
        rows = draw(
            st.lists(
                st.fixed_dictionaries({name: _CSV_VALUES.get(name, st.text(max_size=10)) for name in columns}),
                max_size=4,
            )
        )
        lines = [",".join(columns)] + [",".join(_csv_cell(row[name]) for name in columns) for row in rows]
        text = draw(st.sampled_from(["\n", "\r\n"])).join(lines)
    if draw(st.booleans()):
        text = text[: draw(st.integers(0, len(text)))]
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "iso-8859-2", "cp1250", None]))
    return text if encoding is None else text.encode(encoding, errors="replace")


# --- what every parsed tender promises -------------------------------------------------------------------------


def _keeps_its_promises(tender: Tender) -> None:
    assert isinstance(tender, Tender) and isinstance(tender.kind, TenderKind)
    assert isinstance(tender.source_id, str) and tender.source_id.strip()
    assert tender.title and all(isinstance(text, str) and text for text in tender.title.values())
    assert all(isinstance(language, str) for language in (*tender.title, *tender.description, *tender.links))
    assert all(re.fullmatch(r"\d{8}", code) for code in tender.cpv) and len(set(tender.cpv)) == len(tender.cpv)
    assert all(moment is None or moment.utcoffset() is not None for moment in (tender.deadline, tender.published_at))
    assert tender.country is None or re.fullmatch(r"[A-Z]{2}", tender.country)
    assert tender.value is None or (isinstance(tender.value, Decimal) and tender.value.is_finite())
    assert tender.currency is None or re.fullmatch(r"[A-Z]{3}", tender.currency)
    assert isinstance(tender.version, int) and tender.version >= 1


PROFILES = [
    Profile(1, 1, cpv=("09300000",), include=parse_keywords('fotovoltaice "energie regenerabilă"')),
    Profile(2, 2, include=("deşeuri", "compost"), exclude=("întreținere",), min_days_left=3),
    Profile(3, 3, cpv=("45000000",), value_min=Decimal(1000), value_max=Decimal(10**9), currency="RON"),
    Profile(4, 4, include=("ş",), countries=frozenset({"RO"}), kinds=frozenset(TenderKind)),
]
INDEX = ProfileIndex(PROFILES, RATES)


def _parsed(parse: Callable[[Any], ParsedTenders], value: Any, entries: int | None = None) -> list[Tender]:
    """What `parse` gives: tenders that keep their promises and match as the definition says, or a
    TenderParseError; when the number of entries is known, each is a tender or a problem."""
    try:
        parsed = parse(value)
    except TenderParseError as error:
        assert isinstance(error.reason, TenderProblem)
        return []
    assert isinstance(parsed, ParsedTenders)
    for tender in parsed.tenders:
        _keeps_its_promises(tender)
        assert INDEX.match(tender, NOW) == naive_match(PROFILES, tender, NOW, RATES)
    assert all(isinstance(problem.reason, TenderProblem) for problem in parsed.problems)
    if entries is not None:
        assert len(parsed.tenders) + len(parsed.problems) == entries
    return parsed.tenders


_FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_FUZZ
@given(ted_responses())
def test_fuzzed_ted_responses_give_tenders_or_a_problem_per_notice(response: object) -> None:
    notices = response.get("notices") if isinstance(response, dict) else None
    _parsed(parse_response, response, len(notices) if isinstance(notices, list) else None)


@_FUZZ
@given(ocds_packages)
def test_fuzzed_ocds_packages_give_tenders_or_problems(package: object) -> None:
    _parsed(lambda value: parse_package(value, "ocds"), package)


@_FUZZ
@given(feeds())
def test_fuzzed_rss_and_atom_feeds_give_tenders_or_problems(data: bytes) -> None:
    _parsed(lambda value: parse_feed(value, "rss", default_language="ro"), data)


@_FUZZ
@given(csv_files())
def test_fuzzed_csv_files_give_tenders_or_problems(content: str | bytes) -> None:
    _parsed(lambda value: parse_csv(value, "csv"), content)


def test_what_the_fuzzing_found_is_a_problem_reported_not_a_crash() -> None:
    # An OCDS status that is a list (it was hashed against the statuses' set).
    release = copy.deepcopy(OCDS_PACKAGE["releases"][0])
    release["tender"]["status"] = []
    tenders = _parsed(lambda value: parse_package(value, "ocds"), {"releases": [release]}, 1)
    assert tenders[0].kind is TenderKind.COMPETITION
    # Markup that made feedparser's loose parser raise a KeyError.
    broken = RSS_FEED.replace("<category>", "<category</item>>", 1).encode("utf-8")
    with pytest.raises(TenderParseError) as refused:
        parse_feed(broken, "rss")
    assert refused.value.reason is TenderProblem.NOT_A_FEED


_GOOD = itertools.count(1)
_KEPT: dict[int, set[str]] = {}


def _good(number: int) -> Tender:
    return Tender(
        source="ted",
        source_id=f"good-{number}-2026",
        kind=TenderKind.COMPETITION,
        title={"ro": "Panouri fotovoltaice pentru școala din Florești"},
        procedure_id=f"good-procedure-{number}",
        country="RO",
        cpv=("09331200",),
        value=Decimal("498857.88"),
        currency="RON",
        deadline=NOW + timedelta(days=30),
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.one_of(
        ted_responses().map(lambda value: (parse_response, value)),
        ocds_packages.map(lambda value: (lambda package: parse_package(package, "ocds"), value)),
        feeds().map(lambda value: (lambda data: parse_feed(data, "rss"), value)),
        csv_files().map(lambda value: (lambda content: parse_csv(content, "csv"), value)),
    )
)
async def test_a_fuzzed_batch_stored_after_a_good_one_never_loses_it(
    sqlite_engine: AsyncEngine, case: tuple[Callable[[Any], ParsedTenders], Any]
) -> None:
    factory = create_session_factory(sqlite_engine)
    good = _good(next(_GOOD))
    # The examples share the test's database: every good tender stored in it so far must still be there.
    kept = _KEPT.setdefault(id(sqlite_engine), set())
    async with unit_of_work(factory) as session:
        assert (await store_tenders(Repositories(session), [good], now=NOW)).new == 1
    kept.add(good.source_id)
    parse, value = case
    batch = _parsed(parse, value)
    async with unit_of_work(factory) as session:
        result = await store_tenders(Repositories(session), batch, now=NOW + timedelta(hours=1))
    assert result.new + result.updated + result.unchanged + result.skipped >= 0
    async with factory() as session:
        rows = (await session.scalars(select(TenderRow).where(TenderRow.source_id.like("good-%")))).all()
    assert {row.source_id for row in rows} == kept
    mine = next(row for row in rows if row.source_id == good.source_id)
    assert mine.title == good.title and mine.cpv == list(good.cpv) and mine.value_hundredths == 49885788
    # Stored again, the good tender is as it was: nothing of it was overwritten.
    async with unit_of_work(factory) as session:
        assert (await store_tenders(Repositories(session), [good], now=NOW + timedelta(hours=2))).unchanged == 1

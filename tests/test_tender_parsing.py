"""Every tender source read into the one `Tender`: TED's real and reconstructed notices, an OCDS package, an RSS
feed and a CSV file from a cluster, and fuzzed input that must never crash a fetch."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.services.tenders.model import TenderKind
from bot.services.tenders.parse_csv import parse_csv
from bot.services.tenders.parse_ocds import parse_package
from bot.services.tenders.parse_rss import parse_feed
from bot.services.tenders.parse_ted import parse_notice, parse_response
from bot.services.tenders.parsing import ParsedTenders, TenderParseError, TenderProblem

DATA = Path(__file__).parent / "data" / "tenders"
PLUS_TWO = timezone(timedelta(hours=2))
BUCHAREST = ZoneInfo("Europe/Bucharest")


def _load(name: str) -> dict:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def real() -> dict:
    parsed = parse_response(_load("real_ted_v3_notices_sample.json"))
    assert parsed.problems == []
    return {tender.source_id: tender for tender in parsed.tenders}


@pytest.fixture(scope="module")
def reconstructed() -> dict:
    parsed = parse_response(_load("RECONSTRUCTED_ted_v3_search_response.json"))
    assert parsed.problems == []
    return {tender.source_id: tender for tender in parsed.tenders}


def test_all_six_real_notices_become_tenders(real: dict) -> None:
    assert sorted(real) == ["599753-2026", "626028-2026", "626569-2026", "626977-2026", "627671-2026", "628113-2026"]
    assert {tender.source for tender in real.values()} == {"ted"}


def test_a_romanian_notice_trimmed_to_its_title_and_links(real: dict) -> None:
    tender = real["599753-2026"]
    assert set(tender.title) == {"ro", "en"}
    assert tender.title["ro"].startswith("România – Pachete software")
    assert tender.links == {
        "ro": "https://ted.europa.eu/ro/notice/-/detail/599753-2026",
        "en": "https://ted.europa.eu/en/notice/-/detail/599753-2026",
    }
    assert tender.kind is TenderKind.COMPETITION
    # Trimmed to those fields: nothing else is made up.
    assert (tender.buyer, tender.country, tender.cpv, tender.deadline, tender.published_at) == (
        None,
        None,
        (),
        None,
        None,
    )


def test_a_prior_information_notice_with_its_title_only_in_title_proc(real: dict) -> None:
    tender = real["626028-2026"]
    assert tender.kind is TenderKind.PLANNING
    assert tender.title == {"de": "Generalunternehmer für die Gesamtbaumaßnahme Bundespräsidialamt"}
    assert tender.buyer == "Bundesrepublik Deutschland vertreten durch das Bundesamt für Bauwesen und Raumordnung"
    assert tender.country == "DE"
    assert tender.cpv == ("45200000", "71000000")
    assert tender.published_at == datetime(2026, 9, 10, tzinfo=PLUS_TWO)
    # Only the XML came back: the notice's page on TED is linked instead.
    assert tender.links == {"en": "https://ted.europa.eu/en/notice/-/detail/626028-2026"}
    assert not tender.is_change and tender.version == 1


def test_a_call_with_its_value_as_a_string_and_a_deadline_day(real: dict) -> None:
    tender = real["626977-2026"]
    assert tender.kind is TenderKind.COMPETITION
    assert tender.title == {"es": "Suministro de dos grupos electrógenos para el patrullero Tagomago"}
    assert (tender.value, tender.currency) == (Decimal("185000"), "EUR")
    assert tender.deadline == datetime(2026, 9, 28, 23, 59, 59, tzinfo=PLUS_TWO)
    assert tender.procedure_id == "df98839a-96e5-40e5-bfc8-165dc0c6e571"
    assert (tender.country, tender.buyer, tender.cpv) == ("ES", "Intendente de San Fernando", ("31000000",))


def test_a_change_notice_with_five_lots(real: dict) -> None:
    tender = real["626569-2026"]
    assert tender.is_change and tender.version == 2
    assert tender.cpv == ("90911000",)
    assert tender.value == Decimal("498857.88") + Decimal("313474.32") + Decimal("273405.16") + Decimal(
        "169890.84"
    ) + Decimal("83186")
    assert tender.currency == "EUR"
    assert tender.deadline == datetime(2026, 9, 28, 23, 59, 59, tzinfo=PLUS_TWO)
    assert (tender.country, tender.title.keys()) == ("FR", {"fr"})


def test_a_new_version_in_utc(real: dict) -> None:
    tender = real["628113-2026"]
    assert tender.is_change and tender.version == 2
    assert tender.deadline == datetime(2026, 10, 14, 23, 59, 59, tzinfo=UTC)
    assert tender.title == {"fi": "Kylkiaukeavat 20'wide CSC meriliikenne katsastetut kontit"}
    assert (tender.country, tender.value) == ("FI", None)


def test_a_result_notice_keeps_its_main_code_first(real: dict) -> None:
    tender = real["627671-2026"]
    assert tender.kind is TenderKind.RESULT
    assert tender.cpv == ("90620000", "90610000", "90630000")
    assert (tender.country, tender.buyer, tender.deadline) == ("NO", "Forsvarsbygg", None)


def test_the_romanian_solar_call_with_a_deadline_time(reconstructed: dict) -> None:
    tender = reconstructed["712345-2026"]
    assert tender.title["ro"].startswith("România – Instalaţie solară")
    assert set(tender.title) == {"ro", "en"}
    assert tender.buyer == "Comuna Florești"
    assert (tender.country, tender.places) == ("RO", ("RO113", "RO"))
    assert tender.cpv == ("09332000", "09331200", "45261215")
    assert (tender.value, tender.currency) == (Decimal("2450000"), "RON")
    assert tender.deadline == datetime(2026, 11, 20, 15, 0, tzinfo=PLUS_TWO)
    assert tender.links["ro"] == "https://ted.europa.eu/ro/notice/-/detail/712345-2026"
    assert tender.published_at == datetime(2026, 10, 14, tzinfo=PLUS_TWO)
    assert not tender.is_change


def test_the_austrian_change_with_two_lots(reconstructed: dict) -> None:
    tender = reconstructed["713002-2026"]
    assert tender.is_change and tender.version == 2
    assert set(tender.title) == {"de", "en", "ro"}
    assert tender.cpv == ("03413000", "09111400")
    assert (tender.value, tender.currency) == (Decimal("595000.5"), "EUR")
    assert tender.deadline == datetime(2026, 11, 5, 10, 0, tzinfo=UTC)
    assert tender.links == {
        "de": "https://ted.europa.eu/de/notice/-/detail/713002-2026",
        "en": "https://ted.europa.eu/en/notice/-/detail/713002-2026",
    }
    assert tender.places == ("AT312", "AT")


def test_the_earliest_lot_deadline_wins_and_a_change_reason_alone_marks_a_change() -> None:
    tender = parse_notice(
        {
            "publication-number": "1-2026",
            "title-proc": {"RON": "Lucrări"},
            "notice-type": "veat",
            "change-reason-code": "cor-buy",
            "deadline-receipt-tender-date-lot": ["2026-11-05Z", "2026-11-03+02:00", "not a date"],
            "deadline-receipt-tender-time-lot": ["10:00:00Z", "09:30:00+02:00"],
        }
    )
    assert tender.deadline == datetime(2026, 11, 3, 9, 30, tzinfo=PLUS_TWO)
    assert tender.is_change and tender.version == 1
    assert (tender.kind, tender.title) == (TenderKind.RESULT, {"ro": "Lucrări"})


@pytest.mark.parametrize(
    ("notice", "reason"),
    [
        ({"notice-title": {"ron": "Fără număr"}}, TenderProblem.NO_ID),
        ({"publication-number": "2-2026", "notice-title": {}, "title-proc": {"ron": "  "}}, TenderProblem.NO_TITLE),
        (["not", "a", "notice"], TenderProblem.NOT_AN_OBJECT),
    ],
)
def test_a_notice_that_cannot_make_a_tender_says_why(notice: object, reason: TenderProblem) -> None:
    with pytest.raises(TenderParseError) as raised:
        parse_notice(notice)
    assert raised.value.reason is reason


def test_a_response_skips_a_bad_notice_and_keeps_the_others() -> None:
    parsed = parse_response(
        {"notices": [{"title-proc": {"eng": "x"}}, {"publication-number": "3-2026", "title-proc": {"eng": "Kept"}}]}
    )
    assert [tender.source_id for tender in parsed.tenders] == ["3-2026"]
    assert [(problem.position, problem.reason) for problem in parsed.problems] == [(1, TenderProblem.NO_ID)]


def test_the_ocds_sample_package() -> None:
    parsed = parse_package(_load("RECONSTRUCTED_ocds_1_1_tender_release_package.json"), "sicap-ocds")
    assert parsed.problems == []
    (tender,) = parsed.tenders
    assert (tender.source, tender.source_id, tender.procedure_id) == (
        "sicap-ocds",
        "ocds-xxxxxx-RO-CN1012345",
        "ocds-xxxxxx-RO-CN1012345",
    )
    assert tender.title == {"ro": "Furnizare și montare sisteme fotovoltaice pentru clădirile publice"}
    assert tender.cpv == ("09331200", "45261215")
    assert (tender.value, tender.currency, tender.buyer) == (Decimal("2450000"), "RON", "Comuna Florești")
    assert tender.deadline == datetime(2026, 11, 20, 15, 0, tzinfo=PLUS_TWO)
    assert (tender.country, tender.places, tender.kind) == ("RO", ("RO113",), TenderKind.COMPETITION)


def test_releases_of_one_procedure_merge_in_date_order() -> None:
    base = _load("RECONSTRUCTED_ocds_1_1_tender_release_package.json")["releases"][0]
    amendment = {
        "ocid": base["ocid"],
        "id": base["ocid"] + "-amendment-1",
        "date": "2026-10-20T10:00:00Z",
        "tag": ["tenderAmendment"],
        "tender": {
            "tenderPeriod": {"endDate": "2026-11-27T15:00:00+02:00"},
            "items": [{"id": "1", "classification": {"scheme": "cpv", "id": "45233130.0"}}],
        },
    }
    other = {
        "ocid": "ocds-other",
        "date": "2026-10-01T00:00:00Z",
        "tag": ["award"],
        "tender": {"title": "Atribuit", "status": "complete"},
    }
    # The amendment is listed first: the order of the file does not matter, the releases' dates do.
    parsed = parse_package({"releases": [amendment, other, base, {"id": "no ocid"}]}, "ocds")
    merged, result = parsed.tenders
    assert merged.is_change and merged.version == 2
    assert merged.deadline == datetime(2026, 11, 27, 15, 0, tzinfo=PLUS_TWO)
    assert merged.cpv == ("45233130",)
    assert merged.title == {"ro": "Furnizare și montare sisteme fotovoltaice pentru clădirile publice"}
    assert merged.value == Decimal("2450000")
    assert merged.published_at == datetime(2026, 10, 20, 10, 0, tzinfo=UTC)
    assert (result.kind, result.title, result.is_change) == (TenderKind.RESULT, {"en": "Atribuit"}, False)
    assert [(problem.position, problem.reason) for problem in parsed.problems] == [(4, TenderProblem.NO_ID)]


def test_a_package_without_releases_is_refused() -> None:
    with pytest.raises(TenderParseError) as raised:
        parse_package({"version": "1.1"}, "ocds")
    assert raised.value.reason is TenderProblem.NO_RELEASES


def test_the_romanian_feed() -> None:
    parsed = parse_feed((DATA / "romanian_feed.xml").read_bytes(), "cj-cluj")
    solar, compost = parsed.tenders
    assert solar.source_id == "cn-1001"
    assert solar.title == {"ro": "Achiziție panouri fotovoltaice pentru şcoala din Bistriţa"}
    assert solar.links == {"ro": "https://example.org/licitatii/cn-1001"}
    assert solar.published_at == datetime(2026, 10, 14, 6, 0, tzinfo=UTC)
    # The category's code, then the text's; neither the phone number nor the date in the text.
    assert solar.cpv == ("09332000", "45261215", "09331200")
    assert "<p>" not in solar.description["ro"]
    # No guid: the link identifies the item.
    assert compost.source_id == "https://example.org/licitatii/cn-1002"
    assert compost.cpv == ("77120000",)
    assert compost.published_at == datetime(2026, 10, 15, 12, 30, tzinfo=UTC)
    assert [(problem.position, problem.reason) for problem in parsed.problems] == [(3, TenderProblem.NO_ID)]


def test_an_atom_feed_without_a_language_takes_the_default() -> None:
    atom = """<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>T</title>
    <entry><title>Heat pumps for the town hall</title><id>urn:x:1</id><link href="https://example.org/1"/>
    <updated>2026-10-14T09:00:00Z</updated><category term="42511110"/></entry></feed>"""
    (tender,) = parse_feed(atom, "atom", default_language="en").tenders
    assert (tender.title, tender.cpv, tender.source_id) == (
        {"en": "Heat pumps for the town hall"},
        ("42511110",),
        "urn:x:1",
    )
    assert tender.published_at == datetime(2026, 10, 14, 9, 0, tzinfo=UTC)


def test_text_that_is_not_a_feed_nor_a_path_to_open() -> None:
    with pytest.raises(TenderParseError) as raised:
        parse_feed("/etc/passwd", "rss")
    assert raised.value.reason is TenderProblem.NOT_A_FEED


def test_the_cluster_csv_with_its_bad_rows_reported_by_line() -> None:
    parsed = parse_csv((DATA / "romanian_tenders.csv").read_bytes(), "cluster-csv")
    first, biomass, plan = parsed.tenders
    assert first.title == {
        "ro": "Furnizare şi montare sisteme fotovoltaice, comuna Florești",
        "en": "Supply and installation of photovoltaic systems",
    }
    assert first.cpv == ("09331200", "45261215")
    assert (first.value, first.currency, first.country) == (Decimal("2450000.50"), "RON", "RO")
    assert first.deadline == datetime(2026, 11, 20, 15, 0, tzinfo=BUCHAREST)
    assert first.procedure_id == "ocds-xxxxxx-RO-CN1012345"
    assert first.links == {"ro": "https://example.org/cn/1012345"}
    assert (biomass.country, biomass.kind, biomass.buyer) == ("RO", TenderKind.COMPETITION, "Primăria Târgu Mureș")
    assert biomass.deadline == datetime(2026, 12, 1, 12, 0, tzinfo=PLUS_TWO)
    assert biomass.published_at == datetime(2026, 10, 14, tzinfo=BUCHAREST)
    assert (plan.kind, plan.cpv) == (TenderKind.PLANNING, ("90000000",))
    assert plan.deadline == datetime(2027, 1, 31, 23, 59, 59, tzinfo=BUCHAREST)
    assert [(problem.position, problem.reason) for problem in parsed.problems] == [
        (4, TenderProblem.BAD_DATE),
        (5, TenderProblem.BAD_COUNTRY),
        # The record with a line break in its title starts on line 6.
        (6, TenderProblem.BAD_VALUE),
        (8, TenderProblem.NO_ID),
        (9, TenderProblem.BAD_CPV),
        (10, TenderProblem.BAD_KIND),
    ]


def test_a_csv_without_bom_and_a_repeated_id() -> None:
    text = "title_en,id\nFirst,A\nSecond,A\nThird,B\n"
    parsed = parse_csv(text, "list")
    assert [tender.title["en"] for tender in parsed.tenders] == ["First", "Third"]
    assert [(problem.position, problem.reason) for problem in parsed.problems] == [(3, TenderProblem.BAD_ROW)]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"id,title_ro\n\xff\xfe,x\n", TenderProblem.NOT_UTF8),
        ("name,buyer\nx,y\n", TenderProblem.NO_HEADER),
        ("", TenderProblem.NO_HEADER),
    ],
)
def test_a_csv_that_is_no_tender_file(content: str | bytes, reason: TenderProblem) -> None:
    with pytest.raises(TenderParseError) as raised:
        parse_csv(content, "list")
    assert raised.value.reason is reason


# Fuzzing: whatever a source sends, a parser gives tenders and problems or a TenderParseError, nothing else.
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
_TED_KEYS = [
    "publication-number",
    "notice-title",
    "title-proc",
    "buyer-name",
    "buyer-country",
    "notice-type",
    "form-type",
    "notice-version",
    "change-reason-code",
    "classification-cpv",
    "main-classification-proc",
    "estimated-value-proc",
    "estimated-value-lot",
    "estimated-value-cur-lot",
    "publication-date",
    "deadline-receipt-tender-date-lot",
    "deadline-receipt-tender-time-lot",
    "links",
    "place-of-performance",
    "procedure-identifier",
]
_TED_VALUES = _JSON | st.sampled_from(
    [
        "2026-09-28+02:00",
        "2026-10-14Z",
        "15:00:00+02:00",
        "25:99:00Z",
        "9999-12-31Z",
        "185000",
        "NaN",
        "1e99999",
        "ROU",
        "ron",
        "cn-standard",
        "pin-only",
    ]
)
_NOTICES = st.dictionaries(
    st.sampled_from(_TED_KEYS),
    _TED_VALUES
    | st.lists(_TED_VALUES, max_size=3)
    | st.dictionaries(st.sampled_from(["ron", "ENG", "html", "RON"]), _TED_VALUES, max_size=3),
)


def _never_crashes(parse, value) -> None:  # type: ignore[no-untyped-def]
    try:
        result = parse(value)
    except TenderParseError as error:
        assert isinstance(error.reason, TenderProblem)
        return
    assert result is None or isinstance(result, ParsedTenders) or result.source_id


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_NOTICES | _JSON)
def test_fuzzed_notices_never_crash(notice: object) -> None:
    _never_crashes(parse_notice, notice)
    _never_crashes(parse_response, {"notices": [notice]})


@settings(max_examples=200, deadline=None)
@given(
    _JSON,
    st.lists(
        st.fixed_dictionaries(
            {"ocid": st.sampled_from(["a", "b"])},
            optional={
                "date": _TED_VALUES,
                "tag": _JSON,
                "tender": _JSON,
                "language": _JSON,
                "buyer": _JSON,
                "parties": _JSON,
            },
        )
    ),
)
def test_fuzzed_ocds_packages_never_crash(junk: object, releases: list) -> None:
    _never_crashes(lambda value: parse_package(value, "ocds"), junk)
    _never_crashes(lambda value: parse_package(value, "ocds"), {"releases": [*releases, junk]})


_FEED_PIECES = st.sampled_from(
    [
        "<rss>",
        "<channel>",
        "<item>",
        "<title>",
        "</title>",
        "<link>",
        "</item>",
        "<category>09332000-5</category>",
        "CPV 0933",
        "<pubDate>Wed, 99 Oct 2026</pubDate>",
        "&amp;",
        "&bogus;",
        "ş",
        "ț",
        "<![CDATA[",
        "]]>",
        "\x00",
        "</rss>",
    ]
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_FEED_PIECES | st.text(max_size=20), max_size=25).map("".join))
def test_fuzzed_feeds_never_crash(text: str) -> None:
    _never_crashes(lambda value: parse_feed(value, "rss"), text)


_CSV_PIECES = st.sampled_from(
    [
        "id",
        "title_ro",
        "cpv",
        "value",
        "deadline",
        "country",
        "kind",
        ",",
        ",",
        "\n",
        '"',
        "\r\n",
        "\ufeff",
        "31.02.2026",
        "2026-13-01",
        "1.2.3,4",
        "ROU",
        "09332000-5;x",
        "ş",
        "ț",
        "\x00",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_CSV_PIECES | st.text(max_size=10), max_size=40).map("".join) | st.binary(max_size=60))
def test_fuzzed_csv_files_never_crash(text: str | bytes) -> None:
    header = "id,title_ro,cpv,value,deadline,country,kind,published\n"
    _never_crashes(lambda value: parse_csv(value, "csv"), text)
    _never_crashes(lambda value: parse_csv(value, "csv"), header + text if isinstance(text, str) else text)

"""Which members' alert profiles a tender reaches: CPV starts, keywords in Romanian and English, filters, and the
index giving exactly what the definition gives."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.services.tenders.matching import Profile, ProfileIndex, cpv_prefix, naive_match, parse_keywords
from bot.services.tenders.model import Tender, TenderKind

NOW = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)
RATES = {"EUR": Decimal(1), "RON": Decimal("4.97")}


def tender(
    title_ro: str = "",
    title_en: str = "",
    *,
    description: str = "",
    cpv: tuple[str, ...] = (),
    country: str | None = "RO",
    value: Decimal | None = None,
    currency: str | None = None,
    deadline: datetime | None = None,
    kind: TenderKind = TenderKind.COMPETITION,
    number: int = 1,
) -> Tender:
    title = {lang: text for lang, text in (("ro", title_ro), ("en", title_en)) if text}
    return Tender(
        source="ted",
        source_id=f"{number}-2026",
        kind=kind,
        title=title,
        description={"ro": description} if description else {},
        cpv=cpv,
        country=country,
        value=value,
        currency=currency,
        deadline=deadline,
    )


def matched(profiles: Iterable[Profile], notice: Tender, now: datetime = NOW) -> set[int]:
    """What both the index and the definition find: the test fails if they ever disagree."""
    profiles = list(profiles)
    by_index = ProfileIndex(profiles, RATES).match(notice, now)
    assert by_index == naive_match(profiles, notice, now, RATES)
    return by_index


def test_a_division_or_group_covers_every_code_below_it_and_a_code_only_itself() -> None:
    energy = Profile(1, 10, cpv=("09000000",))
    solar = Profile(2, 11, cpv=("09330000-1",))
    installation = Profile(3, 12, cpv=("09332000",))
    environment = Profile(4, 13, cpv=("90000000",))
    profiles = [energy, solar, installation, environment]

    assert matched(profiles, tender("Panouri", cpv=("09332000",))) == {1, 2, 3}
    assert matched(profiles, tender("Combustibil", cpv=("09111400",))) == {1}
    assert matched(profiles, tender("Reciclare", cpv=("90514000",))) == {4}
    # "9" alone is not a division: 9xxx codes outside 90 are not the environment's.
    assert matched(profiles, tender("Altceva", cpv=("98000000",))) == set()
    # The lot's codes count too, not only the main one.
    assert matched(profiles, tender("Mixt", cpv=("45000000", "09331200"))) == {1, 2}
    assert cpv_prefix("09300000") == "093"
    with pytest.raises(ValueError, match="not a CPV code"):
        cpv_prefix("0930")


def test_romanian_keywords_match_their_inflected_forms_and_english_ones_too() -> None:
    biomass = Profile(1, 10, include=("biomasă",))
    typed_plain = Profile(2, 11, include=("biomasa",))
    genitive = Profile(3, 12, include=("biomasei",))
    english = Profile(4, 13, include=("biomass",))
    profiles = [biomass, typed_plain, genitive, english]

    assert matched(profiles, tender("Furnizare de biomasă pentru centrala termică")) == {1, 2, 3}
    assert matched(profiles, tender("Achiziția biomasei pentru încălzire")) == {1, 2, 3}
    assert matched(profiles, tender("BIOMASA LEMNOASĂ")) == {1, 2, 3}
    # The Romanian stem begins the English word; the English word is not a Romanian one.
    assert matched(profiles, tender(title_en="Supply of Biomass boilers")) == {1, 2, 3, 4}
    assert matched(profiles, tender("Biomasă", "Biomass")) == {1, 2, 3, 4}
    assert matched(profiles, tender("Servicii de curățenie", "Cleaning services")) == set()


def test_cedilla_and_comma_below_are_the_same_letter_on_both_sides() -> None:
    cedilla = Profile(1, 10, include=("deşeuri",))
    comma = Profile(2, 11, include=("deșeurilor",))
    assert matched([cedilla, comma], tender("Colectarea deșeurilor municipale")) == {1, 2}
    assert matched([cedilla, comma], tender("Colectarea deşeurilor municipale")) == {1, 2}
    assert matched([cedilla, comma], tender("Colectarea deseurilor")) == {1, 2}


def test_a_phrase_matches_its_words_in_order_within_one_text() -> None:
    renewable = Profile(1, 10, include=parse_keywords('"energie regenerabilă"'))
    heat_pumps = Profile(2, 11, include=parse_keywords("„pompe de căldură”"))
    assert parse_keywords('biomasă, "energie regenerabilă" pellets') == ("biomasă", "energie regenerabilă", "pellets")

    assert matched([renewable, heat_pumps], tender("Producția de energie regenerabilă")) == {1}
    assert matched([renewable, heat_pumps], tender("Energiei regenerabile în școli")) == {1}
    # The words, but not side by side, or in another order.
    assert matched([renewable, heat_pumps], tender("Energie electrică și surse regenerabile")) == set()
    assert matched([renewable, heat_pumps], tender("Regenerabilă energie")) == set()
    # Not across the title and the description.
    assert matched([renewable], tender("Studiu privind energie", description="regenerabilă și eficientă")) == set()
    assert matched([heat_pumps], tender("Montaj pompe de caldura in cladiri publice")) == {2}


def test_an_exclusion_vetoes_whatever_else_matched() -> None:
    solar = Profile(1, 10, cpv=("09330000",), include=("solar",), exclude=("întreținere",))
    phrase = Profile(2, 11, include=("solar",), exclude=parse_keywords('"street lighting"'))
    profiles = [solar, phrase]

    assert matched(profiles, tender("Panouri solare", cpv=("09331200",))) == {1, 2}
    assert matched(profiles, tender("Intretinerea panourilor solare", cpv=("09331200",))) == {2}
    assert matched(profiles, tender(title_en="Solar street lighting")) == {1}
    assert matched(profiles, tender(title_en="Solar lighting of the street")) == {1, 2}


def test_countries_value_deadline_and_kind_filter_what_the_topic_found() -> None:
    anywhere = Profile(1, 10, include=("biomasă",))
    abroad = Profile(2, 11, include=("biomasă",), countries=frozenset({"AT", "HU"}))
    in_ron = Profile(
        3, 12, include=("biomasă",), value_min=Decimal(100_000), value_max=Decimal(1_000_000), currency="RON"
    )
    in_eur = Profile(4, 13, include=("biomasă",), value_min=Decimal(50_000))
    soon = Profile(5, 14, include=("biomasă",), min_days_left=10)
    results = Profile(6, 15, include=("biomasă",), kinds=frozenset({TenderKind.RESULT, TenderKind.PLANNING}))
    profiles = [anywhere, abroad, in_ron, in_eur, soon, results]

    assert matched(profiles, tender("Biomasă")) == {1, 3, 4, 5}
    assert matched(profiles, tender("Biomasă", country="AT")) == {1, 2, 3, 4, 5}
    assert matched(profiles, tender("Biomasă", country=None)) == {1, 3, 4, 5}
    # 40,000 EUR is 198,800 RON: inside the RON range, under the EUR minimum.
    assert matched(profiles, tender("Biomasă", value=Decimal(40_000), currency="EUR")) == {1, 5, 3}
    assert matched(profiles, tender("Biomasă", value=Decimal(5_000_000), currency="RON")) == {1, 4, 5}
    # A currency without a rate says nothing about the range.
    assert matched(profiles, tender("Biomasă", value=Decimal(1), currency="HUF")) == {1, 3, 4, 5}
    assert matched(profiles, tender("Biomasă", deadline=NOW + timedelta(days=9, hours=23))) == {1, 3, 4}
    assert matched(profiles, tender("Biomasă", deadline=NOW + timedelta(days=10))) == {1, 3, 4, 5}
    assert matched(profiles, tender("Biomasă", deadline=NOW - timedelta(minutes=1))) == set()
    assert matched(profiles, tender("Biomasă", kind=TenderKind.RESULT)) == {6}
    assert matched(profiles, tender("Biomasă", kind=TenderKind.PLANNING)) == {6}


def test_a_profile_about_nothing_matches_nothing() -> None:
    only_filters = Profile(1, 10, countries=frozenset({"RO"}))
    assert matched([only_filters], tender("Orice", cpv=("09000000",))) == set()


# Random profiles and tenders over a small vocabulary and a few codes, so that they meet often.
_VOCABULARY = [
    "biomasă", "biomasei", "biomasa", "biomass", "energie", "energiei", "regenerabilă", "energy", "renewable",
    "deşeuri", "deșeurilor", "waste", "solar", "solare", "panouri", "pompe", "căldură", "heat", "pumps", "lemn",
    "compost", "recycling", "laborator", "research", "cercetare", "de", "și", "the", "of", "întreținere",
]  # fmt: skip
_CODES = ["09000000", "09300000", "09330000", "09332000", "09111400", "03413000", "90000000", "90514000",
          "77120000", "42511110", "73000000", "71900000", "45251160", "98000000"]  # fmt: skip
_words = st.lists(st.sampled_from(_VOCABULARY), min_size=1, max_size=3).map(" ".join)
_keywords = st.lists(_words, max_size=3).map(tuple)
_kinds = st.frozensets(st.sampled_from(list(TenderKind)), max_size=3)
_amounts = st.none() | st.integers(0, 2_000_000).map(Decimal)


@st.composite
def _profiles(draw: st.DrawFn) -> list[Profile]:
    count = draw(st.integers(0, 12))
    return [
        Profile(
            id=n,
            member_id=n % 4,
            cpv=tuple(draw(st.lists(st.sampled_from(_CODES), max_size=3))),
            include=draw(_keywords),
            exclude=draw(_keywords),
            countries=draw(st.frozensets(st.sampled_from(["RO", "AT", "HU"]), max_size=2)),
            value_min=draw(_amounts),
            value_max=draw(_amounts),
            currency=draw(st.sampled_from(["EUR", "RON"])),
            min_days_left=draw(st.integers(0, 20)),
            kinds=draw(_kinds),
        )
        for n in range(count)
    ]


_tenders = st.builds(
    tender,
    title_ro=st.lists(st.sampled_from(_VOCABULARY), max_size=6).map(" ".join),
    title_en=st.lists(st.sampled_from(_VOCABULARY), max_size=6).map(" ".join),
    description=st.lists(st.sampled_from(_VOCABULARY), max_size=8).map(" ".join),
    cpv=st.lists(st.sampled_from(_CODES), max_size=3, unique=True).map(tuple),
    country=st.sampled_from([None, "RO", "AT", "DE"]),
    value=_amounts,
    currency=st.sampled_from([None, "EUR", "RON", "HUF"]),
    deadline=st.none() | st.integers(-3 * 24, 30 * 24).map(lambda hours: NOW + timedelta(hours=hours)),
    kind=st.sampled_from(list(TenderKind)),
)


@settings(max_examples=300, deadline=None)
@given(profiles=_profiles(), notices=st.lists(_tenders, min_size=1, max_size=5))
def test_the_index_finds_exactly_what_the_definition_finds(profiles: list[Profile], notices: list[Tender]) -> None:
    index = ProfileIndex(profiles, RATES)
    for notice in notices:
        assert index.match(notice, NOW) == naive_match(profiles, notice, NOW, RATES)


@settings(max_examples=100, deadline=None)
@given(profiles=_profiles(), notices=st.lists(_tenders, min_size=1, max_size=30))
def test_one_index_gives_the_definition_tender_after_tender_while_it_remembers_words(
    profiles: list[Profile], notices: list[Tender]
) -> None:
    """An index remembers what each word, code and combination of filters found; reading the same words in other
    tenders (and the same tenders again) must still give exactly the definition."""
    index = ProfileIndex(profiles, RATES)
    for notice in [*notices, *reversed(notices)]:
        assert index.match(notice, NOW) == naive_match(profiles, notice, NOW, RATES)


def test_an_index_that_forgets_what_it_remembered_still_finds_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.services.tenders import matching

    monkeypatch.setattr(matching, "_HIT_CACHE", 3)
    monkeypatch.setattr(matching, "_ADMIT_CACHE", 2)
    profiles = [
        Profile(1, 10, include=parse_keywords('"pompe de căldură" biomasă'), exclude=("întreținere",)),
        Profile(2, 11, cpv=("09300000",), countries=frozenset({"RO"}), min_days_left=5),
        Profile(3, 12, include=("solar",), value_min=Decimal(10_000), currency="RON"),
    ]
    index = ProfileIndex(profiles, RATES)
    notices = [
        tender("Montaj pompe de căldură și biomasă", cpv=("09331200",), deadline=NOW + timedelta(days=9)),
        tender("Panouri solare", value=Decimal(10_000), currency="EUR", number=2),
        tender("Întreținere pompe de căldură", country="AT", number=3),
        tender("Biomasă", "Solar", cpv=("09310000",), deadline=NOW + timedelta(days=2), number=4),
    ]
    expected = [{1, 2}, {3}, set(), {1, 3}]
    for _ in range(3):
        assert [index.match(notice, NOW) for notice in notices] == expected
        assert [naive_match(profiles, notice, NOW, RATES) for notice in notices] == expected
    assert len(index._seen) <= 3 + 8


def test_a_member_with_several_matching_profiles_is_found_once() -> None:
    profiles = [
        Profile(1, 10, include=("biomasă",)),
        Profile(2, 10, cpv=("09111400",)),
        Profile(3, 11, include=("biomass",)),
        Profile(4, 12, include=("solar",)),
    ]
    index = ProfileIndex(profiles, RATES)
    notice = tender("Furnizare biomasă", "Supply of biomass", cpv=("09111400",))
    assert index.match(notice, NOW) == {1, 2, 3}
    assert index.match_members(notice, NOW) == {10, 11}
    mask = index.match_mask(notice, NOW)
    assert index.ids_of(mask) == {1, 2, 3} and index.members_of(mask) == {10, 11}
    assert index.match_members(tender("Altceva"), NOW) == set() and index.ids_of(0) == set()


def test_a_phrase_some_include_and_others_exclude_is_read_once_for_both() -> None:
    wants = Profile(1, 10, include=parse_keywords('"heat pumps"'))
    refuses = Profile(2, 11, include=("installation",), exclude=parse_keywords('"heat pumps"'))
    profiles = [wants, refuses]
    assert matched(profiles, tender(title_en="Installation of heat pumps")) == {1}
    assert matched(profiles, tender(title_en="Installation of pumps for heat")) == {2}
    assert matched(profiles, tender(title_en="Heat pumps", description="installation")) == {1}


def test_a_word_is_read_by_its_first_64_letters_so_a_pasted_blob_costs_little() -> None:
    import time

    blob = "a" * 200_000
    long_word = "b" * 70
    profiles = [
        Profile(1, 10, include=(long_word,)),
        Profile(2, 11, include=("aaaa",)),
    ]
    started = time.perf_counter()
    assert matched(profiles[:2], tender(f"{blob} {'b' * 64 + 'c' * 10}")) == {1, 2}
    assert time.perf_counter() - started < 2
    # Two words that differ only after their 64th letter are one word.
    assert matched(profiles[:1], tender("b" * 63 + "c")) == set()

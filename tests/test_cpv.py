"""The CPV 2008 vocabulary shipped with the bot (issue 11): a member browses division -> group -> class in their
language, types a code or words in Romanian or English, and the alerts show the codes' labels."""

from __future__ import annotations

import json
import time
import tracemalloc
from importlib import resources

import pytest

from bot.services.tenders import cpv
from bot.services.tenders.cpv import Level, Vocabulary, covers, vocabulary

CEDILLA = "şţŞŢ"

# The clusters' sector codes (docs/TENDERS.md), with their labels as a Romanian reader expects them.
SECTOR_LABELS = {
    "09000000": (
        "Produse petroliere, combustibil, electricitate și alte surse de energie",
        "Petroleum products, fuel, electricity and other sources of energy",
    ),
    "09111400": ("Combustibili pe bază de lemn", "Wood fuels"),
    "03413000": ("Lemn de foc", "Fuel wood"),
    "09330000": ("Energie solară", "Solar energy"),
    "09332000": ("Instalație solară", "Solar installation"),
    "09323000": ("Încălzire urbană", "District heating"),
    "42511110": ("Pompe termice", "Heat pumps"),
    "45251160": ("Instalații cu energie eoliană", "Wind-power installation works"),
    "90000000": (
        "Servicii de evacuare a apelor reziduale, de eliminare a deșeurilor, de igienizare și servicii privind mediul",
        "Sewage, refuse, cleaning and environmental services",
    ),
    "90514000": ("Servicii de reciclare a deșeurilor menajere", "Refuse recycling services"),
    "77120000": ("Servicii de compostare", "Composting services"),
    "71313000": ("Servicii de consultanță în ingineria mediului", "Environmental engineering consultancy services"),
    "71314300": ("Servicii de consultanță în eficiență energetică", "Energy-efficiency consultancy services"),
    "73000000": (
        "Servicii de cercetare și de dezvoltare și servicii conexe de consultanță",
        "Research and development services and related consultancy services",
    ),
    "71900000": ("Servicii de laborator", "Laboratory services"),
    "33698100": ("Culturi microbiologice", "Microbiological cultures"),
}


@pytest.fixture(scope="module")
def vocab() -> Vocabulary:
    return vocabulary()


def codes(found: list[cpv.CpvCode]) -> list[str]:
    return [entry.code for entry in found]


# --- what ships ------------------------------------------------------------------------------------------------------


def test_every_code_of_cpv_2008_is_loaded_once_from_the_package(vocab: Vocabulary) -> None:
    assert len(vocab) == 9454
    assert vocabulary() is vocab
    counts = {level: 0 for level in Level}
    for entry in vocab.codes.values():
        counts[entry.level] += 1
    assert counts == {Level.DIVISION: 45, Level.GROUP: 272, Level.CLASS: 1002, Level.CATEGORY: 2379, Level.DEEPER: 5756}
    folder = resources.files("bot").joinpath("data/cpv")
    assert "Apache License" in folder.joinpath("LICENSE-openprocurement-standards.txt").read_text(encoding="utf-8")
    assert "openprocurement/standards" in folder.joinpath("README.md").read_text(encoding="utf-8")


def test_the_sector_codes_read_in_both_languages_with_the_comma_below(vocab: Vocabulary) -> None:
    for code, (ro, en) in SECTOR_LABELS.items():
        entry = vocab.get(code)
        assert entry is not None, code
        assert (entry.label("ro"), entry.label("en")) == (ro, en)
    # The files keep their cedillas; nothing the bot shows has one.
    raw = resources.files("bot").joinpath("data/cpv/ro.json").read_text(encoding="utf-8")
    assert "ş" in json.loads(raw)["09000000-3"]
    assert not [e.code for e in vocab.codes.values() if set(e.label_ro) & set(CEDILLA)]


def test_a_code_is_found_with_or_without_its_check_digit_and_a_wrong_one_is_refused(vocab: Vocabulary) -> None:
    modules = vocab.get("09331200")
    assert modules is not None
    assert modules.full == "09331200-0"
    assert modules.label_en == "Solar photovoltaic modules"
    assert vocab.get("09331200-0") == modules
    assert vocab.get(" 09331200-0 ") == modules
    # The check digit of 09331200 is 0: a 5 is a mistyped code, not another spelling of this one.
    assert vocab.get("09331200-5") is None
    assert cpv.code8("09331200-5") == "09331200"  # the form alone, for a source's own codes
    for wrong in ("0933120", "093312000", "09331200-", "09331200-05", "O9331200", "", "solar", "99999999"):
        assert vocab.get(wrong) is None, wrong
    assert cpv.code8("45233130.0") is None


# --- the tree --------------------------------------------------------------------------------------------------------


def test_a_member_browses_from_the_division_down_to_the_class(vocab: Vocabulary) -> None:
    divisions = vocab.divisions()
    assert len(divisions) == 45
    assert codes(divisions)[:3] == ["03000000", "09000000", "14000000"]
    assert all(vocab.parent(d.code) is None for d in divisions)

    groups = vocab.children("09000000")
    assert "09300000" in codes(groups)
    assert {g.level for g in groups} == {Level.GROUP}
    classes = vocab.children("09300000-2")
    assert codes(classes) == ["09310000", "09320000", "09330000", "09340000"]
    assert [c.label("ro") for c in classes][2] == "Energie solară"
    assert codes(vocab.children("09330000")) == ["09331000", "09332000"]
    assert codes(vocab.children("09331000")) == ["09331100", "09331200"]
    assert vocab.children("09331200") == []
    assert vocab.children("99000000") == []


def test_a_code_knows_its_level_parent_and_ancestors(vocab: Vocabulary) -> None:
    levels = {"09000000": Level.DIVISION, "09300000": Level.GROUP, "09330000": Level.CLASS}
    levels |= {"09332000": Level.CATEGORY, "09331200": Level.DEEPER, "42511110": Level.DEEPER}
    for code, level in levels.items():
        assert cpv.level_of(code) is level, code
    # Division 30 keeps both digits though the second is a zero.
    assert cpv.level_of("30000000") is Level.DIVISION
    assert cpv.significant("30000000") == "30"

    parent = vocab.parent("09331200")
    assert parent is not None and parent.code == "09331000"
    assert codes(vocab.ancestors("09331200")) == ["09000000", "09300000", "09330000", "09331000"]
    # Not every level exists: a code may sit right under a class, and its parent is that class.
    for entry in vocab.codes.values():
        above = vocab.parent(entry.code)
        if above is not None:
            assert entry.code.startswith(cpv.significant(above.code))
            assert len(cpv.significant(above.code)) < len(cpv.significant(entry.code))
            assert entry in vocab.children(above.code)


def test_a_division_or_group_covers_everything_below_it_and_nothing_beside_it() -> None:
    assert covers("09000000", "09331200")
    assert covers("09000000-3", "09331200-0")
    assert covers("09300000", "09332000")
    assert covers("09330000", "09331200")
    assert covers("09331200", "09331200")
    assert not covers("09330000", "09310000")
    assert not covers("09331200", "09330000")  # a narrower code does not cover a broader one
    assert not covers("09000000", "90000000")
    assert covers("30000000", "30200000")
    assert not covers("30000000", "03000000")
    assert not covers("biomass", "09111400")
    assert not covers("09000000", "")


# --- search ----------------------------------------------------------------------------------------------------------


def test_search_finds_the_same_codes_whatever_diacritics_and_case_are_typed(vocab: Vocabulary) -> None:
    # CPV 2008 says "wood fuels", never "biomass": the word members type finds the wood fuels.
    biomass = codes(vocab.search("biomasa"))
    assert "09111400" in biomass and "03413000" in biomass
    assert codes(vocab.search("biomasă")) == biomass == codes(vocab.search("BIOMASS", language="en"))

    assert codes(vocab.search("licitatie")) == codes(vocab.search("licitaţie")) == codes(vocab.search("licitație"))
    assert "79342400" in codes(vocab.search("licitatie"))  # Servicii de licitaţie, with a cedilla in the file
    assert codes(vocab.search("stiinta")) == codes(vocab.search("ŞTIINŢĂ"))


def test_search_ranks_the_label_typed_first_in_either_language(vocab: Vocabulary) -> None:
    assert codes(vocab.search("energie solară"))[0] == "09330000"
    assert codes(vocab.search("energie solara"))[0] == "09330000"
    assert codes(vocab.search("solar energy", language="en"))[0] == "09330000"
    # Either word order finds it; the broader group, which also says solar energy, comes with it.
    assert {"09330000", "09300000"} <= set(codes(vocab.search("solară energie")))

    compost = codes(vocab.search("compost"))
    assert {"77120000", "39234000", "45213280", "45253800"} <= set(compost)
    assert codes(vocab.search("composting", language="en"))[0] == "77120000"

    laboratory = codes(vocab.search("laborator"))
    assert "71900000" in laboratory[:3]
    assert codes(vocab.search("servicii de laborator"))[0] == "71900000"
    assert codes(vocab.search("laboratory services", language="en"))[0] == "71900000"


def test_search_matches_words_by_their_start_not_their_middle(vocab: Vocabulary) -> None:
    # "lab" begins "laborator"; "orator" only ends it.
    assert "71900000" in codes(vocab.search("lab", limit=100))
    assert "71900000" not in codes(vocab.search("orator", limit=1000))
    # Every word must be there: a laboratory that is not a service is left out.
    assert "38000000" not in codes(vocab.search("servicii laborator", limit=1000))


def test_search_returns_at_most_the_number_asked(vocab: Vocabulary) -> None:
    assert len(vocab.search("servicii")) == cpv.SEARCH_LIMIT
    assert len(vocab.search("servicii", limit=5)) == 5
    assert vocab.search("servicii", limit=0) == []
    assert vocab.search("") == vocab.search(" , ") == []
    assert vocab.search("xyzzyq") == []


def test_a_typed_code_or_its_first_digits_find_the_code_and_what_is_below_it(vocab: Vocabulary) -> None:
    assert codes(vocab.search("09330000-1")) == ["09330000", "09331000", "09332000"]
    assert codes(vocab.search("09331200")) == ["09331200"]
    assert vocab.search("09331200-5") == []
    assert codes(vocab.search("0933")) == ["09330000", "09331000", "09332000", "09331100", "09331200"]
    assert codes(vocab.search("0933", limit=2)) == ["09330000", "09331000"]


def test_loading_costs_are_printed(capsys: pytest.CaptureFixture[str]) -> None:
    ro = json.loads(resources.files("bot").joinpath("data/cpv/ro.json").read_text(encoding="utf-8"))
    en = json.loads(resources.files("bot").joinpath("data/cpv/en.json").read_text(encoding="utf-8"))
    tracemalloc.start()
    started = time.perf_counter()
    fresh = Vocabulary(ro, en)
    loaded = time.perf_counter()
    memory, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    fresh.prepare_search()
    indexed = time.perf_counter()
    with capsys.disabled():
        print(
            f"\nCPV: {len(fresh)} codes built in {loaded - started:.3f} s ({memory / 1e6:.1f} MB), "
            f"search index in {indexed - loaded:.2f} s (stems cached by the first search)"
        )
    assert fresh.get("09330000") == vocabulary().get("09330000")

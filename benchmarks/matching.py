"""Matching tenders against members' alert profiles: the indexes against the all-pairs definition.

10,000 members of the three clusters (energy, environment, bio-medical), one to three profiles each: CPV codes of
their sector from the CPV 2008 vocabulary shipped with the bot (energy 09, 65, 71, 45; environment 90, 77, 79;
bio-medical 33, 85, 73; any level from a group to an 8-digit code, now and then a whole division), Romanian and
English keywords of the sector (inflected forms, cedilla and comma-below spellings, phrases in quotes) and
exclusions, countries, value ranges, days left, kinds. They meet 25,000, 50,000 and 100,000 generated tenders:
half in the sectors' divisions, half anywhere else in the vocabulary, titled by their main code's label in
Romanian and English (cedilla and comma below mixed; a notice from abroad in English only), now and then with a
sector's phrase in the title, a buyer and a reference number. For each size it prints the time to match every
tender through `ProfileIndex` (a new index each time; cold: with empty word caches, so the run pays for stemming
the vocabulary; warm: with the stems of the run before), wall clock and CPU, the matches found, and the rate;
then it runs `naive_match` on a sample of the tenders in the same run, checks that both find exactly the same
profiles for each, and prints the speed-up.

    python benchmarks/matching.py [--members 10000] [--sizes 25000 50000 100000] [--sample 100] [--seed 11]
        [--repeat 1]
"""

from __future__ import annotations

import argparse
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from bot.services.tenders.cpv import CpvCode, Level, vocabulary
from bot.services.tenders.matching import Profile, ProfileIndex, clear_word_caches, naive_match, parse_keywords
from bot.services.tenders.model import Tender, TenderKind

NOW = datetime(2026, 9, 1, 6, 0, tzinfo=UTC)
RATES = {"EUR": Decimal(1), "RON": Decimal("4.97")}


@dataclass(frozen=True)
class Sector:
    """A cluster's sector: its CPV divisions (with how often its members pick each), keywords, exclusions, and
    phrases its tenders' titles carry now and then."""

    share: float
    divisions: dict[str, float]
    include: tuple[str, ...]
    exclude: tuple[str, ...]
    phrases: tuple[tuple[str, str], ...]


SECTORS = {
    "energy": Sector(
        share=0.4,
        divisions={"09": 0.35, "65": 0.15, "71": 0.25, "45": 0.25},
        include=(
            "biomasă", "biomasa", "biomasei", "peleți", "peleti", "pellets", "biomass", "solar", "solare",
            "fotovoltaic", "fotovoltaice", "photovoltaic", "eolian", "eoliene", "wind", "hidrogen", "hydrogen",
            "termoficare", "cazane", "boilers", "izolație", "izolaţie", "insulation", "electricitate",
            "electricity", "cogenerare", "cogeneration", "biogaz", "biogas",
            '"energie regenerabilă"', '"energiei regenerabile"', '"renewable energy"', '"pompe de căldură"',
            '"pompe de caldura"', '"heat pumps"', '"eficiență energetică"', '"eficienţă energetică"',
            '"energy efficiency"', '"audit energetic"', '"energy audit"', '"panouri fotovoltaice"',
            '"district heating"', '"iluminat public"', '"street lighting"',
        ),
        exclude=(
            "motorină", "diesel", "nuclear", "nucleară", "cărbune", "coal", "întreținere", "maintenance",
            '"lucrări de reparații"', '"repair work"', "petrol", "petroleum",
        ),
        phrases=(
            ("cu panouri fotovoltaice", "with photovoltaic panels"),
            ("pentru eficiență energetică", "for energy efficiency"),
            ("din surse de energie regenerabilă", "from renewable energy sources"),
            ("cu pompe de căldură", "with heat pumps"),
            ("pe bază de biomasă", "biomass-fired"),
            ("inclusiv audit energetic", "including an energy audit"),
        ),
    ),
    "environment": Sector(
        share=0.35,
        divisions={"90": 0.6, "77": 0.25, "79": 0.15},
        include=(
            "compost", "compostare", "reciclare", "recycling", "deșeuri", "deşeuri", "deșeurilor", "waste",
            "epurare", "sewage", "poluare", "poluării", "pollution", "decontaminare", "decontamination",
            "salubrizare", "împădurire", "afforestation", "biodiversitate", "biodiversity",
            '"ape uzate"', '"apelor uzate"', '"waste water"', '"calitatea aerului"', '"air quality"',
            '"impact asupra mediului"', '"environmental impact"', '"colectare selectivă"',
            '"separate collection"',
        ),
        exclude=(
            "curățenie", "curăţenie", "cleaning", "deratizare", "pest", '"road works"', "publicitate",
            "advertising", "zăpadă", "snow",
        ),
        phrases=(
            ("cu colectare selectivă", "with separate collection"),
            ("pentru reciclarea deșeurilor", "for waste recycling"),
            ("privind calitatea aerului", "on air quality"),
            ("și epurarea apelor uzate", "and waste water treatment"),
            ("cu evaluarea impactului asupra mediului", "with an environmental impact assessment"),
        ),
    ),
    "biomedical": Sector(
        share=0.25,
        divisions={"33": 0.5, "85": 0.2, "73": 0.3},
        include=(
            "reactivi", "reagents", "laborator", "laboratory", "laboratoare", "microbiologice",
            "microbiological", "diagnostic", "implanturi", "implants", "cercetare", "research",
            "biotehnologie", "biotechnology", "vaccinuri", "vaccines", "sterilizare", "sterilisation",
            "genomică", "genomics", "imagistică", "imaging",
            '"dispozitive medicale"', '"medical devices"', '"analize medicale"', '"echipamente medicale"',
            '"medical equipment"', '"teste rapide"', '"rapid tests"', '"cercetare clinică"',
            '"clinical research"',
        ),
        exclude=(
            "veterinare", "veterinary", "mobilier", "furniture", "catering", "alimente", "food", "curățenie",
            "cleaning", '"servicii de pază"', '"security services"',
        ),
        phrases=(
            ("pentru laboratorul de analize medicale", "for the medical analysis laboratory"),
            ("și reactivi de diagnostic", "and diagnostic reagents"),
            ("pentru proiectul de cercetare", "for the research project"),
            ("cu dispozitive medicale", "with medical devices"),
            ("pentru sterilizare", "for sterilisation"),
        ),
    ),
}  # fmt: skip
# What a member picks: a code at some depth of its sector's tree (and now and then a whole division).
LEVELS = {Level.GROUP: 0.1, Level.CLASS: 0.25, Level.CATEGORY: 0.3, Level.DEEPER: 0.35}
WHOLE_DIVISION = 0.02
SECTOR_TENDERS = 0.5
EU = [
    "AT",
    "BE",
    "BG",
    "CY",
    "CZ",
    "DE",
    "DK",
    "EE",
    "ES",
    "FI",
    "FR",
    "GR",
    "HR",
    "HU",
    "IE",
    "IT",
    "LT",
    "LU",
    "LV",
    "MT",
    "NL",
    "PL",
    "PT",
    "SE",
    "SI",
    "SK",
]
BUYERS = [
    ("Primăria Municipiului {town}", "Municipality of {town}"),
    ("Consiliul Județean {town}", "{town} County Council"),
    ("Spitalul Județean de Urgență {town}", "{town} County Emergency Hospital"),
    ("Universitatea din {town}", "University of {town}"),
    ("Compania de Apă {town}", "{town} Water Company"),
    ("Şcoala Gimnazială nr. {number} {town}", "{town} Secondary School no. {number}"),
]
TOWNS = [
    "Cluj-Napoca",
    "Timișoara",
    "Iași",
    "Brașov",
    "Constanța",
    "Craiova",
    "Galați",
    "Ploiești",
    "Oradea",
    "Brăila",
    "Arad",
    "Pitești",
    "Sibiu",
    "Bacău",
    "Târgu Mureș",
    "Baia Mare",
    "Buzău",
    "Botoșani",
    "Satu Mare",
    "Râmnicu Vâlcea",
    "Suceava",
    "Piatra Neamț",
    "Drobeta-Turnu Severin",
    "Focșani",
    "Bistrița",
]
GENERIC_RO = (
    "lotul 1",
    "lotul 2",
    "în cadrul proiectului",
    "finanțat din PNRR",
    "pentru clădiri publice",
    "acord-cadru",
    "pe o perioadă de 24 de luni",
    "cu montaj și punere în funcțiune",
    "inclusiv transport",
    "pentru școli și grădinițe",
    "servicii de întreținere incluse",
)
GENERIC_EN = (
    "lot 1",
    "lot 2",
    "within the project",
    "funded by the RRF",
    "for public buildings",
    "framework agreement",
    "for 24 months",
    "including installation",
    "including transport",
    "for schools",
    "maintenance included",
)
# How often a sector's tender carries one of the sector's phrases in its title.
SECTOR_PHRASE = 0.25


def comma_or_cedilla(text: str, rng: random.Random) -> str:
    """Real titles mix both spellings: half are given with comma below, half with the cedilla."""
    return text if rng.random() < 0.5 else text.translate(str.maketrans("șțȘȚ", "şţŞŢ"))


@dataclass
class Codes:
    """The vocabulary's codes by division and level, and those outside every sector."""

    by_level: dict[str, dict[Level, list[CpvCode]]]
    everything: dict[str, list[CpvCode]]
    elsewhere: list[CpvCode]


def codes() -> Codes:
    by_level: dict[str, dict[Level, list[CpvCode]]] = {}
    everything: dict[str, list[CpvCode]] = {}
    elsewhere = []
    sectors = {division for sector in SECTORS.values() for division in sector.divisions}
    for cpv in vocabulary().codes.values():
        division = cpv.code[:2]
        if division in sectors:
            by_level.setdefault(division, {}).setdefault(cpv.level, []).append(cpv)
            everything.setdefault(division, []).append(cpv)
        else:
            elsewhere.append(cpv)
    return Codes(by_level, everything, elsewhere)


def pick(weights: dict[str, float] | dict[Level, float], rng: random.Random):  # type: ignore[no-untyped-def]
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def sector_code(sector: Sector, vocab: Codes, rng: random.Random) -> str:
    division = pick(sector.divisions, rng)
    if rng.random() < WHOLE_DIVISION:
        return division.ljust(8, "0")
    levels = vocab.by_level[division]
    level = pick(LEVELS, rng)
    while level not in levels:
        level = pick(LEVELS, rng)
    return rng.choice(levels[level]).code


def make_profiles(members: int, rng: random.Random, vocab: Codes) -> list[Profile]:
    profiles = []
    shares = {name: sector.share for name, sector in SECTORS.items()}
    for member in range(members):
        sector = SECTORS[pick(shares, rng)]
        for _ in range(rng.choice((1, 1, 1, 2, 2, 3))):
            cpv = [sector_code(sector, vocab, rng) for _ in range(rng.randint(0, 3))]
            include = [
                keyword
                for entry in rng.sample(sector.include, rng.randint(0 if cpv else 1, 3))
                for keyword in parse_keywords(entry)
            ]
            exclude = [
                keyword
                for entry in rng.sample(sector.exclude, rng.choice((0, 0, 1, 2)))
                for keyword in parse_keywords(entry)
            ]
            roll = rng.random()
            countries = (
                frozenset({"RO"}) if roll < 0.6 else frozenset() if roll < 0.85 else frozenset(rng.sample(EU, 3))
            )
            low = high = None
            currency = rng.choice(("RON", "EUR"))
            if rng.random() < 0.3:
                low = Decimal(rng.choice((0, 10_000, 50_000, 100_000, 250_000)))
                high = rng.choice((None, Decimal(1_000_000), Decimal(5_000_000)))
            kinds = {TenderKind.COMPETITION}
            if rng.random() < 0.1:
                kinds.add(TenderKind.PLANNING)
            if rng.random() < 0.05:
                kinds = {TenderKind.RESULT}
            profiles.append(
                Profile(
                    id=len(profiles) + 1,
                    member_id=member,
                    cpv=tuple(dict.fromkeys(cpv)),
                    include=tuple(include),
                    exclude=tuple(exclude),
                    countries=countries,
                    value_min=low,
                    value_max=high,
                    currency=currency,
                    min_days_left=rng.choice((0, 0, 0, 3, 5, 7, 10, 14)),
                    kinds=frozenset(kinds),
                )
            )
    return profiles


def make_tenders(count: int, rng: random.Random, vocab: Codes) -> list[Tender]:
    tenders = []
    shares = {name: sector.share for name, sector in SECTORS.items()}
    for n in range(count):
        sector = SECTORS[pick(shares, rng)] if rng.random() < SECTOR_TENDERS else None
        if sector is None:
            pool = vocab.elsewhere
        else:
            pool = vocab.everything[pick(sector.divisions, rng)]
        main = rng.choice(pool)
        codes = [main.code] + [rng.choice(pool).code for _ in range(rng.choice((0, 0, 1, 2)))]
        town = rng.choice(TOWNS)
        buyer_ro, buyer_en = rng.choice(BUYERS)
        number = rng.randint(1, 40)
        reference = f"{rng.randint(1000, 99999)}/{rng.randint(2025, 2026)}"
        if sector is not None and rng.random() < SECTOR_PHRASE:
            extra_ro, extra_en = rng.choice(sector.phrases)
        else:
            extra = rng.randrange(len(GENERIC_RO))
            extra_ro, extra_en = GENERIC_RO[extra], GENERIC_EN[extra]
        buyer_ro, buyer_en = buyer_ro.format(town=town, number=number), buyer_en.format(town=town, number=number)
        title_ro = comma_or_cedilla(f"{main.label_ro} {extra_ro} pentru {buyer_ro} ({reference})", rng)
        title_en = f"{main.label_en} {extra_en} for {buyer_en} ({reference})"
        country = "RO" if rng.random() < 0.5 else rng.choice(EU)
        if country != "RO":
            title = {"en": title_en}
        elif rng.random() < 0.7:
            title = {"ro": title_ro, "en": title_en}
        else:
            title = {"ro": title_ro}
        description = {}
        if rng.random() < 0.5:
            other = rng.choice(pool)
            language, label, other_label = (
                ("ro", main.label_ro, other.label_ro) if "ro" in title else ("en", main.label_en, other.label_en)
            )
            description[language] = comma_or_cedilla(f"{label}: {other_label.lower()}.", rng)
        kind = rng.choices(list(TenderKind), weights=(1, 8, 1))[0]
        value = Decimal(rng.randint(5, 5000) * 1000) if rng.random() < 0.7 else None
        tenders.append(
            Tender(
                source="ted",
                source_id=f"{n}-2026",
                kind=kind,
                title=title,
                description=description,
                country=country,
                cpv=tuple(dict.fromkeys(codes)),
                value=value,
                currency=rng.choice(("RON", "EUR")) if value is not None else None,
                deadline=NOW + timedelta(hours=rng.randint(-48, 60 * 24)) if kind is not TenderKind.RESULT else None,
            )
        )
    return tenders


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--sizes", type=int, nargs="+", default=[25_000, 50_000, 100_000])
    parser.add_argument("--sample", type=int, default=100)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--repeat", type=int, default=1, help="match each size this many times, print each")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    vocab = codes()
    profiles = make_profiles(args.members, rng, vocab)
    started = time.perf_counter()
    index = ProfileIndex(profiles, RATES)
    built = time.perf_counter() - started
    print(f"{args.members:,} members, {len(profiles):,} profiles; index built in {built:.2f} s")
    tenders = make_tenders(max(args.sizes), rng, vocab)
    per_tender = 0.0
    for size in args.sizes:
        for _ in range(args.repeat):
            for cold in (True, False):
                # A new index each time (its words' and codes' hits forgotten); cold: the word caches emptied too,
                # so the run pays for stemming the vocabulary; warm: the stems of the run before kept, as a bot's
                # alert job finds them after its first run.
                index = ProfileIndex(profiles, RATES)
                if cold:
                    clear_word_caches()
                started, cpu = time.perf_counter(), time.process_time()
                found = sum(len(index.match(tender, NOW)) for tender in tenders[:size])
                elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
                per_tender = elapsed / size
                reached = sum(bool(index.match_mask(tender, NOW)) for tender in tenders[:size])
                print(
                    f"index, {'cold' if cold else 'warm'}: {size:>7,} tenders matched in {elapsed:.2f} s "
                    f"(CPU {cpu:.2f} s, {size / elapsed:,.0f}/s), {found:,} matches ({found / size:.1f} per "
                    f"tender, {reached / size:.0%} of tenders matched by someone, "
                    f"{found / size / len(profiles):.2%} of profiles per tender)"
                )
    sample = rng.sample(tenders, min(args.sample, len(tenders)))
    started = time.perf_counter()
    naive = [naive_match(profiles, tender, NOW, RATES) for tender in sample]
    naive_elapsed = time.perf_counter() - started
    indexed = [index.match(tender, NOW) for tender in sample]
    differ = sum(a != b for a, b in zip(naive, indexed, strict=True))
    naive_per_tender = naive_elapsed / len(sample)
    print(
        f"naive: {len(sample):,} tenders in {naive_elapsed:.2f} s ({naive_per_tender * 1000:.1f} ms each, "
        f"{sum(map(len, naive)):,} matches); index {naive_per_tender / per_tender:,.0f}x faster; "
        f"same matches for {len(sample) - differ} of {len(sample)} tenders"
    )
    if differ:
        raise SystemExit("the index and the definition disagree")


if __name__ == "__main__":
    main()

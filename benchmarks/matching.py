"""Matching tenders against members' alert profiles: the indexes against the all-pairs definition.

10,000 members (one to three profiles each: CPV codes from the clusters' sectors, Romanian and English keywords,
phrases and exclusions, countries, value ranges, days left, kinds) meet 25,000, 50,000 and 100,000 generated
tenders (15% in the clusters' sectors, the rest elsewhere; Romanian and English titles, cedilla and
comma-below mixed, a reference number each). For each size it prints the time to match every tender through
`ProfileIndex` (word caches emptied first, so every run pays for its own stemming), the matches found, and the
rate; then it runs `naive_match` on a sample of the tenders in the same run, checks that both find exactly the
same profiles for each, and prints the speed-up.

    python benchmarks/matching.py [--members 10000] [--sizes 25000 50000 100000] [--sample 100] [--seed 11]

CPV codes and labels below are from the CPV 2008 vocabulary (openprocurement/standards, Apache-2.0).
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from bot.services.tenders.matching import Profile, ProfileIndex, naive_match, parse_keywords, text_prefixes
from bot.services.tenders.model import Tender, TenderKind
from bot.text import stems

NOW = datetime(2026, 9, 1, 6, 0, tzinfo=UTC)
RATES = {"EUR": Decimal(1), "RON": Decimal("4.97")}
SECTOR = [
    ("03413000", "Lemn de foc", "Fuel wood"),
    ("09111400", "Combustibili pe bază de lemn", "Wood fuels"),
    ("09111100", "Cărbune", "Coal"),
    ("09120000", "Combustibili gazoşi", "Gaseous fuels"),
    ("09134232", "Biodiesel (B100)", "Biodiesel (B100)"),
    (
        "09300000",
        "Electricitate, încălzire, energie solară şi nucleară",
        "Electricity, heating, solar and nuclear energy",
    ),
    ("09310000", "Electricitate", "Electricity"),
    ("09320000", "Aburi, apă caldă şi produse conexe", "Steam, hot water and associated products"),
    ("09323000", "Încălzire urbană", "District heating"),
    ("09330000", "Energie solară", "Solar energy"),
    ("09331000", "Panouri solare", "Solar panels"),
    ("09331100", "Captori solari pentru producerea căldurii", "Solar collectors for heat production"),
    ("09331200", "Module solare fotovoltaice", "Solar photovoltaic modules"),
    ("09332000", "Instalaţie solară", "Solar installation"),
    ("42511110", "Pompe termice", "Heat pumps"),
    ("45251160", "Instalaţii cu energie eoliană", "Wind-power installation works"),
    (
        "45331000",
        "Lucrări de instalare de echipamente de încălzire, de ventilare şi de aer condiţionat",
        "Heating, ventilation and air-conditioning installation work",
    ),
    ("45331100", "Lucrări de instalare de echipamente de încălzire centrală", "Central-heating installation work"),
    (
        "90000000",
        "Servicii de evacuare a apelor reziduale, de eliminare a deşeurilor, de igienizare şi servicii privind mediul",
        "Sewage, refuse, cleaning and environmental services",
    ),
    ("90500000", "Servicii privind deşeurile menajere şi deşeurile", "Refuse and waste related services"),
    ("90511000", "Servicii de colectare a deşeurilor menajere", "Refuse collection services"),
    ("90512000", "Servicii de transport de deşeuri menajere", "Refuse transport services"),
    (
        "90513000",
        "Servicii de tratare şi eliminare de deşeuri menajere şi deşeuri nepericuloase",
        "Non-hazardous refuse and waste treatment and disposal services",
    ),
    ("90514000", "Servicii de reciclare a deşeurilor menajere", "Refuse recycling services"),
    ("90524300", "Servicii de înlăturare a deşeurilor biologice", "Removal services of biological waste"),
    ("90533000", "Servicii de gestionare a haldelor de deşeuri", "Waste-tip management services"),
    ("90700000", "Servicii privind mediul", "Environmental services"),
    ("90710000", "Management de mediu", "Environmental management"),
    ("90713000", "Servicii de consultanţă în probleme de mediu", "Environmental issues consultancy services"),
    ("90720000", "Protecţia mediului", "Environmental protection"),
    ("90731000", "Servicii privind poluarea atmosferică", "Services related to air pollution"),
    ("77120000", "Servicii de compostare", "Composting services"),
    ("71313000", "Servicii de consultanţă în ingineria mediului", "Environmental engineering consultancy services"),
    (
        "71313400",
        "Evaluare a impactului asupra mediului pentru construcţii",
        "Environmental impact assessment for construction",
    ),
    ("71314000", "Servicii de energie electrică şi servicii conexe", "Energy and related services"),
    ("71314300", "Servicii de consultanţă în eficienţă energetică", "Energy-efficiency consultancy services"),
    (
        "73000000",
        "Servicii de cercetare şi de dezvoltare şi servicii conexe de consultanţă",
        "Research and development services and related consultancy services",
    ),
    (
        "73100000",
        "Servicii de cercetare şi de dezvoltare experimentală",
        "Research and experimental development services",
    ),
    ("73110000", "Servicii de cercetare", "Research services"),
    ("73210000", "Servicii de consultanţă în cercetare", "Research consultancy services"),
    ("71900000", "Servicii de laborator", "Laboratory services"),
    ("33698100", "Culturi microbiologice", "Microbiological cultures"),
    ("45261215", "Lucrări de acoperire cu panouri solare", "Solar panel roof-covering work"),
    ("31121340", "Centrală eoliană", "Wind farm"),
    ("45232120", "Lucrări de irigaţie", "Irrigation works"),
    ("24440000", "Diverse tipuri de îngrăşăminte", "Miscellaneous fertilisers"),
    ("03419000", "Cherestea", "Timber"),
]
OTHER = [
    ("45233120", "Lucrări de construcţii de drumuri", "Road construction works"),
    (
        "72000000",
        "Servicii IT: consultanţă, dezvoltare de software, internet şi asistenţă",
        "IT services: consulting, software development, Internet and support",
    ),
    ("15800000", "Diverse produse alimentare", "Miscellaneous food products"),
    ("33600000", "Produse farmaceutice", "Pharmaceutical products"),
    ("34100000", "Autovehicule", "Motor vehicles"),
    ("79341000", "Servicii de publicitate", "Advertising services"),
    ("55520000", "Servicii de catering", "Catering services"),
    ("60100000", "Servicii de transport rutier", "Road transport services"),
    ("30213000", "Computere personale", "Personal computers"),
    ("85140000", "Diverse servicii de sănătate", "Miscellaneous health services"),
    ("39160000", "Mobilier şcolar", "School furniture"),
    ("44100000", "Materiale de construcţii şi articole conexe", "Construction materials and associated items"),
    (
        "50110000",
        "Servicii de reparare şi de întreţinere a autovehiculelor şi a echipamentelor conexe",
        "Repair and maintenance services of motor vehicles and associated equipment",
    ),
    ("79710000", "Servicii de siguranţă", "Security services"),
    ("90910000", "Servicii de curăţenie", "Cleaning services"),
    ("66510000", "Servicii de asigurare", "Insurance services"),
    ("98341000", "Servicii de cazare", "Accommodation services"),
    ("71320000", "Servicii de concepţie tehnică", "Engineering design services"),
]
INCLUDE = [
    "biomasă",
    "biomasa",
    "peleți",
    "peleti",
    "pellets",
    "biomass",
    "compost",
    "compostare",
    "reciclare",
    "recycling",
    "deșeuri",
    "deşeuri",
    "waste",
    "solar",
    "solare",
    "fotovoltaic",
    "fotovoltaice",
    "photovoltaic",
    "biogaz",
    "biogas",
    "termoficare",
    "eolian",
    "wind",
    "hidrogen",
    "hydrogen",
    "cercetare",
    "research",
    "laborator",
    "laboratory",
    "microbiologice",
    "izolație",
    "insulation",
    "cazane",
    "boilers",
    '"energie regenerabilă"',
    '"renewable energy"',
    '"pompe de căldură"',
    '"heat pumps"',
    '"eficiență energetică"',
    '"energy efficiency"',
    '"audit energetic"',
    '"energy audit"',
    '"panouri fotovoltaice"',
    '"district heating"',
]
EXCLUDE = [
    "motorină",
    "diesel",
    "nuclear",
    "nucleari",
    "radioactive",
    "radioactiv",
    "cărbune",
    "coal",
    "întreținere",
    "maintenance",
    "curățenie",
    "cleaning",
    '"lucrări de reparații"',
    '"road works"',
]
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
BROAD = ["09000000", "09300000", "90000000", "90500000", "73000000", "71300000", "45300000"]
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
EXTRA_RO = [
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
    "energie regenerabilă",
    "reciclare",
]
EXTRA_EN = [
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
    "renewable energy",
    "recycling",
]


def comma_or_cedilla(text: str, rng: random.Random) -> str:
    """Real titles mix both spellings: half are given with comma below, half as the vocabulary writes them."""
    return text.translate(str.maketrans("şţŞŢ", "șțȘȚ")) if rng.random() < 0.5 else text


def make_profiles(members: int, rng: random.Random) -> list[Profile]:
    profiles = []
    for member in range(members):
        for _ in range(rng.choice((1, 1, 1, 2, 2, 3))):
            cpv = [rng.choice(SECTOR)[0] for _ in range(rng.randint(0, 3))]
            if rng.random() < 0.03:
                cpv.append(rng.choice(BROAD))
            include = [
                kw for entry in rng.sample(INCLUDE, rng.randint(0 if cpv else 1, 3)) for kw in parse_keywords(entry)
            ]
            exclude = [kw for entry in rng.sample(EXCLUDE, rng.choice((0, 0, 1, 2))) for kw in parse_keywords(entry)]
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


def make_tenders(count: int, rng: random.Random) -> list[Tender]:
    tenders = []
    for n in range(count):
        pool = SECTOR if rng.random() < 0.15 else OTHER
        main = rng.choice(pool)
        codes = [main[0]] + [rng.choice(pool)[0] for _ in range(rng.choice((0, 0, 1, 2)))]
        town = rng.choice(TOWNS)
        buyer_ro, buyer_en = rng.choice(BUYERS)
        number = rng.randint(1, 40)
        reference = f"{rng.randint(1000, 99999)}/{rng.randint(2025, 2026)}"
        extra = rng.randrange(len(EXTRA_RO) if pool is SECTOR else len(EXTRA_RO) - 2)
        title_ro = comma_or_cedilla(
            f"Achiziție {main[1].lower()} {EXTRA_RO[extra]} pentru {buyer_ro.format(town=town, number=number)}", rng
        )
        title_en = f"Purchase of {main[2].lower()} {EXTRA_EN[extra]} for {buyer_en.format(town=town, number=number)}"
        description = {}
        if rng.random() < 0.5:
            other = rng.choice(pool)
            description["ro"] = comma_or_cedilla(
                f"Anunț nr. {reference}: {main[1]}, {other[1].lower()}. {rng.choice(EXTRA_RO)}.", rng
            )
        kind = rng.choices(list(TenderKind), weights=(1, 8, 1))[0]
        value = Decimal(rng.randint(5, 5000) * 1000) if rng.random() < 0.7 else None
        tenders.append(
            Tender(
                source="ted",
                source_id=f"{n}-2026",
                kind=kind,
                title={"ro": title_ro, "en": title_en} if rng.random() < 0.7 else {"en": title_en},
                description=description,
                country="RO" if rng.random() < 0.5 else rng.choice(EU),
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
    args = parser.parse_args()
    rng = random.Random(args.seed)
    profiles = make_profiles(args.members, rng)
    started = time.perf_counter()
    index = ProfileIndex(profiles, RATES)
    built = time.perf_counter() - started
    print(f"{args.members:,} members, {len(profiles):,} profiles; index built in {built:.2f} s")
    tenders = make_tenders(max(args.sizes), rng)
    per_tender = 0.0
    for size in args.sizes:
        # Every size starts cold: a new index (its words' and codes' hits forgotten) and empty word caches.
        index = ProfileIndex(profiles, RATES)
        text_prefixes.cache_clear()
        stems.cache_clear()
        started = time.perf_counter()
        found = sum(len(index.match(tender, NOW)) for tender in tenders[:size])
        elapsed = time.perf_counter() - started
        per_tender = elapsed / size
        print(
            f"index: {size:>7,} tenders matched in {elapsed:.2f} s ({size / elapsed:,.0f}/s), "
            f"{found:,} matches ({found / size:.1f} per tender)"
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

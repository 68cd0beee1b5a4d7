"""TED pages parsed per second, and the memory of fetching 10,000 notices from the TED stand-in into SQLite.

1. Parsing: `parse_response` over pages of 100 notices made of the sample notices in `tests/data/ted/` (the real
   and reconstructed notices of ../shared/data/ted/, cycled with new publication numbers), and over the pages the
   stand-in actually serves (generated notices in TED's shape, lots repeated, only the fields the bot asks for).
2. A fetch: `TedFetcher` over real HTTP against `bot.sandbox.ted.TedStandIn` (run in a child process, so that
   its own copy of every notice is not counted), 100 notices a page, each page parsed and stored with
   `store_tenders` in a unit of work of its own in a fresh, migrated SQLite file, as the fetch job does. It runs
   twice per size: once plain (the time, and the process's peak resident memory, VmHWM, above what it was once
   everything was imported and the database migrated), once under `tracemalloc` (the peak of Python's
   allocations during the fetch). Each size runs in a process of its own. The figures for 2,000 and 10,000
   notices show whether memory follows a page or the whole fetch.

    python benchmarks/ted_fetch.py [--sizes 2000 10000] [--rounds 200]
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import random
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from bot.sandbox.ted import TedStandIn
from bot.services.tenders.cpv import vocabulary
from bot.services.tenders.fetch import FetchPolicy, TedFetcher
from bot.services.tenders.parse_ted import parse_response
from bot.services.tenders.store import store_tenders
from bot.services.tenders.ted_query import EU_MEMBER_STATES, TED_FIELDS, TedQuery
from storage.db import create_engine, create_session_factory, migrate, unit_of_work
from storage.repositories import Repositories

SAMPLES = sorted((Path(__file__).resolve().parent.parent / "tests" / "data" / "ted").glob("*.json"))
TODAY = date(2026, 10, 20)
SINCE = date(2026, 10, 1)
NOW = datetime(2026, 10, 20, 6, 0, tzinfo=UTC)
# The divisions the generated notices are in (the clusters' sectors), and so what the query asks for.
PAGE = 100
DIVISIONS = ("09", "65", "71", "45", "90", "77", "79", "33", "85", "73")


def sample_page(size: int) -> dict[str, Any]:
    """A search response of `size` notices: the samples over and over, each with its own publication number."""
    samples = TedStandIn.load(SAMPLES)
    notices = []
    for number in range(size):
        notice = copy.deepcopy(samples[number % len(samples)])
        notice["publication-number"] = f"{800000 + number}-2026"
        notices.append(notice)
    return {"notices": notices, "totalNoticeCount": size, "iterationNextToken": None, "timedOut": False}


def generated_notices(count: int, seed: int = 11) -> list[dict[str, Any]]:
    """`count` notices in TED's shape (the reconstructed Romanian call as a model): titles from CPV labels in
    Romanian and English, 1 to 5 lots each with its deadline, values as strings, cedilla and comma below."""
    rng = random.Random(seed)
    model = TedStandIn.load(SAMPLES[:1])[0]
    codes = [cpv for cpv in vocabulary().codes.values() if cpv.code[:2] in DIVISIONS]
    notices = []
    for n in range(count):
        main = rng.choice(codes)
        others = [rng.choice(codes).code for _ in range(rng.randint(0, 3))]
        lots = rng.randint(1, 5)
        number = f"{600000 + n}-2026"
        deadline = TODAY + timedelta(days=rng.randint(5, 60))
        country = "ROU" if rng.random() < 0.5 else rng.choice(EU_MEMBER_STATES)
        title_ro = f"{main.label_ro} – lotul {rng.randint(1, 9)} – {rng.randint(1000, 99999)}/{2026}"
        if rng.random() < 0.5:
            title_ro = title_ro.translate(str.maketrans("șțȘȚ", "şţŞŢ"))
        notice = copy.deepcopy(model)
        notice.update(
            {
                "publication-number": number,
                "notice-identifier": f"{rng.getrandbits(128):032x}",
                "procedure-identifier": f"{rng.getrandbits(128):032x}",
                "notice-version": rng.choice((1, 1, 1, "2")),
                "publication-date": f"{TODAY - timedelta(days=rng.randint(0, 18)):%Y-%m-%d}+02:00",
                "notice-title": {"ron": title_ro, "eng": f"{main.label_en} – lot {rng.randint(1, 9)}"},
                "title-proc": {"ron": main.label_ro},
                "buyer-name": {"ron": [f"Primăria {rng.choice(('Florești', 'Cluj-Napoca', 'Iași', 'Brașov'))}"]},
                "buyer-country": [country],
                "place-of-performance": [f"RO{rng.randint(11, 42)}{rng.randint(1, 9)}", country],
                "classification-cpv": [main.code, *others, main.code],
                "main-classification-proc": [main.code],
                "estimated-value-proc": str(rng.randint(10, 50_000) * 100),
                "estimated-value-cur-proc": rng.choice(("RON", "EUR")),
                "deadline-receipt-tender-date-lot": [f"{deadline:%Y-%m-%d}+02:00"] * lots,
                "deadline-receipt-tender-time-lot": ["15:00:00+02:00"] * lots,
                "links": {
                    kind: {language: f"https://ted.europa.eu/{language.lower()[:2]}/notice/{number}/{kind}"}
                    for kind in ("xml", "pdf", "html")
                    for language in ("RON", "ENG")
                },
            }
        )
        notices.append(notice)
    return notices


def query() -> TedQuery:
    """Every code of the sectors' divisions, published since `SINCE`, `PAGE` a page."""
    codes = [cpv.code for cpv in vocabulary().codes.values() if cpv.code[:2] in DIVISIONS]
    return TedQuery.build(cpv_codes=codes, since=SINCE, limit=PAGE)


def parse_rate(pages: list[dict[str, Any]], rounds: int) -> tuple[float, float]:
    """Pages and notices parsed per second over `rounds` passes of `pages`."""
    notices = sum(len(page["notices"]) for page in pages)
    started = time.perf_counter()
    for _ in range(rounds):
        for page in pages:
            parse_response(page)
    elapsed = time.perf_counter() - started
    return rounds * len(pages) / elapsed, rounds * notices / elapsed


def rss_kib(field: str = "VmRSS") -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def reset_peak_rss() -> None:
    # Linux: writing 5 to clear_refs resets the peak resident set size (VmHWM) to the current one.
    Path("/proc/self/clear_refs").write_text("5")


async def fetch_into(url: str, base_url: str, *, traced: bool) -> dict[str, Any]:
    engine = create_engine(url)
    try:
        await migrate(engine)
        factory = create_session_factory(engine)
        async with aiohttp.ClientSession() as session:
            fetcher = TedFetcher(session, base_url, FetchPolicy(page_delay=0))
            baseline = rss_kib()
            reset_peak_rss()
            if traced:
                tracemalloc.start()
            started = time.perf_counter()
            notices = pages = stored = 0
            rss_after_pages = []
            async for page in fetcher.pages(query()):
                parsed = parse_response({"notices": page})
                async with unit_of_work(factory) as db:
                    result = await store_tenders(Repositories(db), parsed.tenders, now=NOW)
                notices += len(page)
                pages += 1
                stored += result.new + result.updated
                rss_after_pages.append(rss_kib())
            elapsed = time.perf_counter() - started
            peak_traced = tracemalloc.get_traced_memory()[1] if traced else 0
            if traced:
                tracemalloc.stop()
            peak_rss = rss_kib("VmHWM")
    finally:
        await engine.dispose()
    return {
        "notices": notices,
        "pages": pages,
        "stored": stored,
        "seconds": elapsed,
        "baseline_kib": baseline,
        "peak_rss_growth_kib": peak_rss - baseline,
        "rss_growth_half_kib": rss_after_pages[len(rss_after_pages) // 2] - baseline if rss_after_pages else 0,
        "rss_growth_end_kib": rss_after_pages[-1] - baseline if rss_after_pages else 0,
        "traced_peak_kib": peak_traced // 1024,
    }


async def serve(count: int) -> None:
    """The stand-in with `count` generated notices, its address on standard output, until standard input closes."""
    async with TedStandIn(generated_notices(count), today=TODAY) as ted:
        print(ted.base_url, flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


def measure(count: int) -> dict[str, Any]:
    """Fetch `count` notices from a stand-in in a child process, plain and traced, each into a fresh file."""
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(count)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        base_url = server.stdout.readline().strip()
        figures = {}
        for traced in (False, True):
            with tempfile.TemporaryDirectory() as directory:
                url = f"sqlite+aiosqlite:///{Path(directory) / 'tenders.sqlite3'}"
                figures["traced" if traced else "plain"] = asyncio.run(fetch_into(url, base_url, traced=traced))
        return figures
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.wait(timeout=30)


async def stand_in_pages(count: int) -> list[dict[str, Any]]:
    """The pages the stand-in serves for `count` generated notices (as JSON decoded by the fetcher)."""
    pages = []
    async with TedStandIn(generated_notices(count), today=TODAY) as ted, aiohttp.ClientSession() as session:
        fetcher = TedFetcher(session, ted.base_url, FetchPolicy(page_delay=0))
        async for page in fetcher.pages(query()):
            pages.append({"notices": page})
    return pages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2_000, 10_000])
    parser.add_argument("--rounds", type=int, default=200, help="passes over the sample pages when timing parsing")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--fetch", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        asyncio.run(serve(args.serve))
        return
    if args.fetch is not None:
        print(json.dumps(measure(args.fetch)))
        return

    samples = [sample_page(PAGE)]
    pages, notices = parse_rate(samples, args.rounds)
    kinds = len(TedStandIn.load(SAMPLES))
    print(f"parse_ted, the {kinds} sample notices in pages of {PAGE}: {pages:,.0f} pages/s ({notices:,.0f} notices/s)")
    served = asyncio.run(stand_in_pages(2_000))
    pages, notices = parse_rate(served, max(1, args.rounds // 20))
    fields = len(TED_FIELDS)
    print(
        f"parse_ted, the stand-in's pages ({len(served)} pages of {PAGE}, {fields} fields asked, 1-5 lots): "
        f"{pages:,.0f} pages/s ({notices:,.0f} notices/s)"
    )
    for size in args.sizes:
        answer = subprocess.run(
            [sys.executable, __file__, "--fetch", str(size)], capture_output=True, text=True, check=True
        )
        figures = json.loads(answer.stdout.strip().splitlines()[-1])
        plain, traced = figures["plain"], figures["traced"]
        print(
            f"fetch {plain['notices']:,} notices ({plain['pages']} pages) into SQLite, stored {plain['stored']:,}: "
            f"{plain['seconds']:.1f} s ({plain['notices'] / plain['seconds']:,.0f} notices/s); peak RSS "
            f"+{plain['peak_rss_growth_kib'] / 1024:.1f} MiB over {plain['baseline_kib'] / 1024:.0f} MiB "
            f"(+{plain['rss_growth_half_kib'] / 1024:.1f} MiB half-way, +{plain['rss_growth_end_kib'] / 1024:.1f} "
            f"MiB at the end); tracemalloc peak {traced['traced_peak_kib'] / 1024:.1f} MiB"
        )


if __name__ == "__main__":
    main()

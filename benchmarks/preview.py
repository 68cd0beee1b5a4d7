"""How long a member waits for an alert profile's preview ("it would match N current tenders") and a page of
its current matches, with many open tenders stored: a real SQLite file (or DATABASE_URL), the tenders the
matching benchmark generates, stored with store_tenders, the profiles it generates.

    python benchmarks/preview.py [--tenders 20000] [--profiles 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from matching import codes, make_profiles, make_tenders

from bot.services.tenders.profiles import Draft, open_matches
from bot.services.tenders.store import store_tenders
from storage.db import create_engine, create_session_factory, migrate, unit_of_work
from storage.repositories import Repositories

RATES = {"EUR": Decimal(1), "RON": Decimal("4.97")}


async def run(tenders: int, profiles: int) -> None:
    rng = random.Random(5)
    vocab = codes()
    now = datetime.now(UTC)
    made = [
        replace(t, deadline=now + timedelta(days=rng.randint(5, 90)), source_id=f"{n}-2030")
        for n, t in enumerate(make_tenders(tenders, rng, vocab))
    ]
    url = os.environ.get("DATABASE_URL") or f"sqlite+aiosqlite:///{tempfile.mkdtemp()}/preview.sqlite3"
    engine = create_engine(url)
    await migrate(engine)
    factory = create_session_factory(engine)
    started = time.perf_counter()
    for start in range(0, len(made), 1000):
        async with unit_of_work(factory) as session:
            await store_tenders(Repositories(session), made[start : start + 1000], now=now)
    print(f"{tenders:,} open tenders stored in {time.perf_counter() - started:.1f} s ({url.split(':')[0]})")
    for label, keep_keywords in (("CPV codes and keywords", True), ("CPV codes only", False)):
        waits: list[float] = []
        found: list[int] = []
        for profile in make_profiles(profiles, rng, vocab)[:profiles]:
            draft = Draft(
                cpv=profile.cpv,
                include=profile.include if keep_keywords else (),
                exclude=profile.exclude,
                countries=tuple(sorted(profile.countries)),
                currency=profile.currency,
                value_min=None if profile.value_min is None else int(profile.value_min * 100),
                value_max=None if profile.value_max is None else int(profile.value_max * 100),
                min_days_left=profile.min_days_left,
                kinds=tuple(sorted(k.value for k in profile.kinds)),
            )
            if not draft.about_something:
                continue
            async with unit_of_work(factory) as session:
                began = time.perf_counter()
                found.append(len(await open_matches(Repositories(session), draft, now=now, rates=RATES)))
                waits.append(time.perf_counter() - began)
        waits.sort()
        print(
            f"preview, {label}: {len(waits)} profiles, median {statistics.median(waits) * 1000:.0f} ms, "
            f"worst {waits[-1] * 1000:.0f} ms, median {statistics.median(found):.0f} matches"
        )
    await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenders", type=int, default=20_000)
    parser.add_argument("--profiles", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(run(args.tenders, args.profiles))


if __name__ == "__main__":
    main()

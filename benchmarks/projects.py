"""Opening a project's card (its needs against what stands committed, the ranking, the history) in a cluster of
200 projects, 300 member organisations and 20,000 commitment changes, on SQLite (a file) and PostgreSQL: p50/p99;
and the CSV export of the largest project.

Every change goes through the service (`bot.services.projects.commit` and `withdraw`, about 15% withdrawals of a
line that stands), so the rows are exactly what the bot writes, each change taking the project's turn (its
`standing_change` is commit order); they are committed 200 to a unit of work to save time. Projects are chosen
with a skewed weight (a few large projects, many small), organisations and resources at random. Every card is
read in a unit of work of its own, as an update reads it, by a random member for a random project; the time
covers the transaction, the service and, in the second figure, the card's text in English too. The export is
the manager's (`project_reports.commitments` and the CSV writing of `handlers.projects.reports`), and so are this
year's totals per organisation. On PostgreSQL the tables are vacuumed once loaded, as autovacuum does a live
database.

    python benchmarks/projects.py [--projects 200] [--organisations 300] [--changes 20000] [--opens 2000]
                                  [--pg-admin-url postgresql://postgres@127.0.0.1:5432/test] [--seed 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from scratch import database, pg_available
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.app import build_i18n
from bot.services import members, project_reports, project_views, projects
from bot.services.members import PersonView
from bot.services.projects import UNITS
from handlers.projects.reports import commitments_csv
from handlers.projects.texts import card_text
from storage.db import create_engine, create_session_factory, unit_of_work
from storage.models import Commitment, ProjectState, ResourceKind, Role
from storage.repositories import Repositories

BATCH = 200
TZ_NAME = "Europe/Bucharest"
RESOURCES = [(kind.value, unit.value) for kind in ResourceKind for unit in UNITS[kind]]


def quantile(samples: list[float], q: float) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[round(q * 100) - 1]


async def populate(
    factory: async_sessionmaker[AsyncSession], args: argparse.Namespace, rng: random.Random
) -> tuple[list[PersonView], PersonView, list[int]]:
    """The cluster: organisations with a representative each, a manager, projects in preparation, the changes."""
    async with unit_of_work(factory) as session:
        repos = Repositories(session)
        manager = await members.provision(repos, telegram_id=900_000, first_name="Maria", role=Role.MANAGER)
        people = [
            await members.provision(
                repos,
                telegram_id=800_000 + n,
                first_name=f"Reprezentant {n}",
                last_name="Popescu",
                role=Role.MEMBER,
                organisation=f"Organizația {n} SRL",
            )
            for n in range(args.organisations)
        ]
        project_ids = []
        for n in range(args.projects):
            proposer = rng.choice(people)
            project = await projects.propose(
                repos, proposer, title=f"Proiectul {n}", description="Compost din deșeuri verzi urbane.", locale="ro"
            )
            owners = rng.sample(people, 3)
            await projects.set_plan(
                repos,
                proposer,
                project.id,
                [(f"Etapa {s}", owners[s].organisation_id, date(2027, 1 + s, 1)) for s in range(3)],
            )
            await projects.set_budget(repos, proposer, project.id, rng.randint(10_000, 500_000) * 100, "RON")
            needs = rng.sample(RESOURCES, 3)
            await projects.set_needs(
                repos, proposer, project.id, {need: rng.randint(10, 100_000) * 100 for need in needs}
            )
            if n % 3 == 0:
                project.places = rng.randint(3, 15)
            await projects.move(repos, manager, project.id, ProjectState.PREPARATION, reason="Plan și buget.")
            project_ids.append(project.id)

    # A few large projects, many small: the n-th is chosen with weight 1 / n^0.8.
    weights = [1 / (n + 1) ** 0.8 for n in range(args.projects)]
    standing: set[tuple[int, int, str, str]] = set()
    when = datetime(2026, 1, 5, 8, tzinfo=UTC)
    started = time.perf_counter()
    done = 0
    while done < args.changes:
        async with unit_of_work(factory) as session:
            repos = Repositories(session)
            for _ in range(min(BATCH, args.changes - done)):
                project_id = rng.choices(project_ids, weights)[0]
                who = rng.choice(people)
                kind, unit = rng.choice(RESOURCES)
                line = (project_id, who.organisation_id or 0, kind, unit)
                when += timedelta(seconds=rng.randint(1, 600))
                if line in standing and rng.random() < 0.3:
                    await projects.withdraw(repos, who, project_id, kind=kind, unit=unit, now=when)
                    standing.discard(line)
                else:
                    amount = rng.randint(1, 2_000) * 100
                    note = "Din bugetul propriu" if rng.random() < 0.2 else None
                    await projects.commit(
                        repos, who, project_id, kind=kind, unit=unit, hundredths=amount, note=note, now=when
                    )
                    standing.add(line)
                done += 1
    elapsed = time.perf_counter() - started
    print(f"   {done} changes through the service in {elapsed:.1f} s ({elapsed / done * 1000:.2f} ms each)")
    return people, manager, project_ids


async def measure(kind: str, url: str, args: argparse.Namespace) -> None:
    rng = random.Random(args.seed)
    engine = create_engine(url)
    i18n = build_i18n("ro")
    tz = ZoneInfo(TZ_NAME)
    try:
        factory = create_session_factory(engine)
        print(f"\n{kind}")
        people, manager, project_ids = await populate(factory, args, rng)
        async with factory() as session:
            versions = int(await session.scalar(select(func.count(Commitment.id))) or 0)
            sizes = (
                await session.execute(
                    select(Commitment.project_id, func.count(Commitment.id))
                    .group_by(Commitment.project_id)
                    .order_by(func.count(Commitment.id).desc())
                )
            ).all()
        if kind == "postgresql":
            # What autovacuum does to a live database after this many inserts (its threshold is 1,000 rows and
            # 20%): the visibility map lets the standing lines' partial index be read without the table.
            async with engine.connect() as connection:
                await (await connection.execution_options(isolation_level="AUTOCOMMIT")).exec_driver_sql(
                    "VACUUM ANALYZE"
                )
        largest, largest_size = sizes[0]
        print(
            f"   {versions} commitment versions; largest project {largest_size} versions, median "
            f"{statistics.median(size for _id, size in sizes):.0f}"
        )

        async def open_card(render: bool) -> float:
            viewer, project_id = rng.choice(people), rng.choice(project_ids)
            begun = time.perf_counter()
            async with unit_of_work(factory) as session:
                card = await project_views.card(Repositories(session), viewer, project_id)
            if render:
                with i18n.context(), i18n.use_locale("en"):
                    card_text(card, "en", tz)
            return (time.perf_counter() - begun) * 1000

        for _ in range(50):
            await open_card(False)
        for render in (False, True):
            samples = [await open_card(render) for _ in range(args.opens)]
            what = "card + its text" if render else "card (service)"
            # The machine's load while measuring: on a shared one, others' work shows in the p99.
            p99 = quantile(samples, 0.99)
            print(
                f"   {what:<16} {args.opens} opens: p50 {quantile(samples, 0.50):6.2f} ms  p99 {p99:6.2f} ms  "
                f"max {max(samples):6.2f} ms  {'OK' if p99 < 20 else 'OVER'} (target p99 < 20 ms; "
                f"load {os.getloadavg()[0]:.1f})"
            )

        # The largest project's card alone, and its export.
        samples = []
        for _ in range(200):
            begun = time.perf_counter()
            async with unit_of_work(factory) as session:
                await project_views.card(Repositories(session), rng.choice(people), largest)
            samples.append((time.perf_counter() - begun) * 1000)
        print(f"   largest project's card: p50 {quantile(samples, 0.5):6.2f} ms  p99 {quantile(samples, 0.99):6.2f} ms")
        exports = []
        for _ in range(5):
            begun = time.perf_counter()
            async with unit_of_work(factory) as session:
                report = await project_reports.commitments(Repositories(session), manager, largest)
            with i18n.context(), i18n.use_locale("ro"):
                data = commitments_csv(report, tz)
            exports.append((time.perf_counter() - begun) * 1000)
        print(
            f"   CSV export of the largest project: {len(report.rows)} rows, {len(data) / 1024:.0f} KiB, "
            f"median {statistics.median(exports):.1f} ms (of 5)"
        )
        totals_times = []
        for _ in range(5):
            begun = time.perf_counter()
            async with unit_of_work(factory) as session:
                totals = await project_reports.yearly_totals(Repositories(session), manager, 2026, tz)
            totals_times.append((time.perf_counter() - begun) * 1000)
        print(
            f"   this year's totals: {len(totals)} organisations, "
            f"median {statistics.median(totals_times):.1f} ms (of 5)"
        )
    finally:
        await engine.dispose()


async def main(args: argparse.Namespace) -> None:
    backends = ["sqlite"]
    if await pg_available(args.pg_admin_url):
        backends.append("postgresql")
    else:
        print(f"PostgreSQL not reachable at {args.pg_admin_url}: SQLite only")
    print(
        f"{args.projects} projects, {args.organisations} organisations, {args.changes} commitment changes; "
        f"Python {sys.version.split()[0]}"
    )
    for kind in backends:
        async with database(kind, args.pg_admin_url) as url:
            await measure(kind, url, args)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--projects", type=int, default=200)
    parser.add_argument("--organisations", type=int, default=300)
    parser.add_argument("--changes", type=int, default=20_000)
    parser.add_argument("--opens", type=int, default=2000, help="cards opened for each figure")
    parser.add_argument("--seed", type=int, default=10)
    parser.add_argument("--pg-admin-url", default="postgresql://postgres@127.0.0.1:5432/test")
    asyncio.run(main(parser.parse_args()))

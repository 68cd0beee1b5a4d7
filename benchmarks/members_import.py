"""Time of `clusterbot members import` for a member list of N rows (default 3,000), on SQLite and PostgreSQL.

The list is what a cluster's secretariat sends: about 3 representatives per organisation, most organisations
with a CUI, half the people with a Telegram id (added at once) and half without (an invite link each), a few
managers. Each database is fresh and migrated; the import runs as the command runs it (parse, then one unit
of work), then a second time over the same list, which must change nothing.

    python benchmarks/members_import.py [--rows 3000] [--rounds 1]
                                        [--pg-admin-url postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import sys
import time

from scratch import database, pg_available
from sqlalchemy import func, select

from bot.services import members
from storage.db import create_engine, create_session_factory, unit_of_work
from storage.models import InviteCode, Organisation, Person
from storage.repositories import Repositories


def member_list(rows: int) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(members.IMPORT_COLUMNS)
    for i in range(rows):
        org = i // 3
        cui = "RO" + members.with_check_digit(1_000_000 + org) if org % 5 else ""
        telegram_id = str(700_000_000 + i) if i % 2 == 0 else ""
        role = "manager" if i % 97 == 0 and telegram_id else ""
        writer.writerow(
            [f"Firma {org} SRL", cui, "environment", f"Persoana{i}", f"Nume{i}", telegram_id, "director", role]
        )
    return out.getvalue()


async def one_import(url: str, text: str) -> tuple[float, members.ImportReport, tuple[int, int, int]]:
    engine = create_engine(url)
    try:
        factory = create_session_factory(engine)
        started = time.perf_counter()
        rows, errors = members.parse_member_csv(text)
        assert not errors, errors[:3]
        async with unit_of_work(factory) as session:
            report = await members.import_members(Repositories(session), rows)
        elapsed = time.perf_counter() - started
        async with factory() as session:
            counts = (
                int(await session.scalar(select(func.count(Organisation.id))) or 0),
                int(await session.scalar(select(func.count(Person.id))) or 0),
                int(await session.scalar(select(func.count(InviteCode.id))) or 0),
            )
        return elapsed, report, counts
    finally:
        await engine.dispose()


async def main(args: argparse.Namespace) -> None:
    backends = ["sqlite"]
    if await pg_available(args.pg_admin_url):
        backends.append("postgresql")
    else:
        print(f"PostgreSQL not reachable at {args.pg_admin_url}: SQLite only")
    text = member_list(args.rows)
    print(f"member list: {args.rows} rows; Python {sys.version.split()[0]}")
    for kind in backends:
        for _round in range(args.rounds):
            async with database(kind, args.pg_admin_url) as url:
                first, report, counts = await one_import(url, text)
                again, second, counts_again = await one_import(url, text)
            unchanged = counts == counts_again and second.organisations == 0
            print(
                f"{kind:<10} import {first:6.2f} s  ({report.organisations} organisations, {report.people} people, "
                f"{len(report.invites or [])} invites)   re-run {again:6.2f} s  "
                f"({'nothing new' if unchanged else f'CHANGED: {counts} -> {counts_again}'})"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--pg-admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    asyncio.run(main(parser.parse_args()))

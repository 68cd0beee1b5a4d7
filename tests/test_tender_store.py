"""Storing tenders (issue 11): each notice once, a change notice updating its tender, an older version never
winning, the same procedure seen through TED and the national list linked as one, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.services.tenders.model import Tender, TenderKind
from bot.services.tenders.store import StoreResult, find_procedure, procedure_key, store_tenders
from storage.db import unit_of_work
from storage.models import TenderCpv, TenderRow
from storage.repositories import Repositories

MONDAY = datetime(2026, 9, 14, 6, 0, tzinfo=UTC)
BUCHAREST = timezone(timedelta(hours=3))
PROCEDURE = "a8692d2e-d3f1-4fa3-875a-0bd56a31824e"

SOLAR = Tender(
    source="ted",
    source_id="626569-2026",
    kind=TenderKind.COMPETITION,
    title={"ro": "Panouri fotovoltaice pentru școala din Florești", "en": "Photovoltaic panels for Florești school"},
    procedure_id=PROCEDURE,
    buyer="Comuna Florești",
    country="RO",
    places=("RO113",),
    cpv=("09331200", "45261215"),
    value=Decimal("498857.88"),
    currency="RON",
    deadline=datetime(2026, 10, 14, 12, 0, tzinfo=BUCHAREST),
    links={"ro": "https://ted.europa.eu/ro/notice/-/detail/626569-2026"},
    published_at=datetime(2026, 9, 12, 0, 0, tzinfo=UTC),
)
# TED's change notice of the same procedure: its own publication number, version 2, a later deadline.
SOLAR_CHANGE = replace(
    SOLAR,
    source_id="713002-2026",
    version=2,
    is_change=True,
    deadline=datetime(2026, 10, 28, 12, 0, tzinfo=BUCHAREST),
    links={"ro": "https://ted.europa.eu/ro/notice/-/detail/713002-2026"},
)


async def store(
    factory: async_sessionmaker[AsyncSession], tenders: Sequence[Tender], now: datetime = MONDAY
) -> StoreResult:
    async with unit_of_work(factory) as session:
        return await store_tenders(Repositories(session), tenders, now=now)


async def stored(factory: async_sessionmaker[AsyncSession]) -> list[TenderRow]:
    async with factory() as session:
        return list((await session.scalars(select(TenderRow).order_by(TenderRow.id))).all())


async def read(factory: async_sessionmaker[AsyncSession], method: str, *args: Any) -> Any:
    async with factory() as session:
        return await getattr(Repositories(session).tenders, method)(*args)


async def test_a_new_tender_is_stored_whole_and_seeing_it_again_changes_nothing(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    assert await store(session_factory, [SOLAR]) == StoreResult(new=1)

    [row] = await stored(session_factory)
    assert (row.source, row.source_id, row.procedure_id, row.version, row.is_change) == (
        "ted",
        "626569-2026",
        PROCEDURE,
        1,
        False,
    )
    assert row.kind == "competition"
    assert row.title["ro"] == "Panouri fotovoltaice pentru școala din Florești"
    assert row.cpv == ["09331200", "45261215"]
    assert row.value_hundredths == 49885788 and row.currency == "RON"
    # The deadline keeps its instant (stored in UTC, given in Bucharest time).
    assert row.deadline == datetime(2026, 10, 14, 9, 0, tzinfo=UTC)
    assert row.first_seen_at == row.updated_at == MONDAY and row.changed_at is None
    assert row.same_as_id is None
    assert await read(session_factory, "codes", row.id) == ["09331200", "45261215"]

    # The next day's fetch gives the same notice again: nothing new, nothing touched.
    assert await store(session_factory, [SOLAR], MONDAY + timedelta(days=1)) == StoreResult(unchanged=1)
    [again] = await stored(session_factory)
    assert again.updated_at == MONDAY and again.changed_at is None


async def test_a_change_notice_updates_its_tender_and_marks_the_change(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await store(session_factory, [SOLAR])
    tuesday = MONDAY + timedelta(days=1)

    assert await store(session_factory, [SOLAR_CHANGE], tuesday) == StoreResult(updated=1, changes=1)

    [row] = await stored(session_factory)  # one tender, not two: the change is to the notice stored
    assert row.source_id == "626569-2026"
    assert (row.version, row.is_change) == (2, True)
    assert row.deadline == datetime(2026, 10, 28, 9, 0, tzinfo=UTC)
    assert row.links == {"ro": "https://ted.europa.eu/ro/notice/-/detail/713002-2026"}
    assert (row.first_seen_at, row.updated_at, row.changed_at) == (MONDAY, tuesday, tuesday)
    # What the alerting job reads: Monday's run saw it new, Tuesday's sees it changed (and not new).
    assert [t.id for t in await read(session_factory, "new_since", MONDAY, tuesday)] == [row.id]
    assert await read(session_factory, "new_since", tuesday) == []
    assert [t.id for t in await read(session_factory, "changed_since", tuesday)] == [row.id]
    assert await read(session_factory, "changed_since", tuesday + timedelta(hours=1)) == []

    # The change notice seen again on Wednesday, in the same batch as the original: nothing changes.
    wednesday = tuesday + timedelta(days=1)
    assert await store(session_factory, [SOLAR_CHANGE, SOLAR], wednesday) == StoreResult(unchanged=2)
    [same] = await stored(session_factory)
    assert (same.version, same.updated_at, same.changed_at) == (2, tuesday, tuesday)


async def test_an_older_version_never_overwrites_a_newer_one(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    # The change notice arrives first (a window that began after the original), the original later.
    assert await store(session_factory, [SOLAR_CHANGE]) == StoreResult(new=1)
    assert await store(session_factory, [SOLAR], MONDAY + timedelta(hours=6)) == StoreResult(unchanged=1)

    [row] = await stored(session_factory)
    assert (row.source_id, row.version) == ("713002-2026", 2)
    assert row.deadline == datetime(2026, 10, 28, 9, 0, tzinfo=UTC)
    assert row.changed_at is None

    # Even the same notice id with a lower version is ignored.
    older = replace(SOLAR_CHANGE, version=1, title={"en": "Old title"})
    assert await store(session_factory, [older]) == StoreResult(unchanged=1)
    [row] = await stored(session_factory)
    assert row.title["en"] == "Photovoltaic panels for Florești school"

    # A notice of the same version corrected updates the tender; a plain notice quietly, a change notice as a change.
    tuesday = MONDAY + timedelta(days=1)
    corrected = replace(SOLAR_CHANGE, is_change=False, buyer="Comuna Florești, județul Cluj")
    assert await store(session_factory, [corrected], tuesday) == StoreResult(updated=1)
    [row] = await stored(session_factory)
    assert (row.buyer, row.updated_at, row.changed_at) == ("Comuna Florești, județul Cluj", tuesday, None)
    assert await store(session_factory, [SOLAR_CHANGE], tuesday) == StoreResult(updated=1, changes=1)
    [row] = await stored(session_factory)
    assert (row.buyer, row.changed_at) == ("Comuna Florești", tuesday)


async def test_the_same_procedure_from_two_sources_is_linked_as_one(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    # The national list's CSV gives the procedure's ocid; its local part is TED's procedure identifier.
    national = Tender(
        source="sicap-csv",
        source_id="CN1012345",
        kind=TenderKind.COMPETITION,
        title={"ro": "Panouri fotovoltaice școala Florești"},
        procedure_id=f"ocds-xxxxxx-{PROCEDURE.upper()}",
        cpv=("09331200",),
    )
    other = replace(SOLAR, source_id="700000-2026", procedure_id="3a900895-eb45-4b55-80fb-63d3c97e29f0")
    award = replace(SOLAR, source="sicap-csv", source_id="CAN1012345", kind=TenderKind.RESULT, procedure_id=None)
    assert procedure_key(national.procedure_id) == procedure_key(PROCEDURE) == PROCEDURE

    assert await store(session_factory, [SOLAR, other]) == StoreResult(new=2)
    assert await store(session_factory, [national, award]) == StoreResult(new=2)

    ted, unrelated, csv, result = await stored(session_factory)
    assert (ted.same_as_id, csv.same_as_id) == (None, ted.id)
    assert unrelated.same_as_id is None and result.same_as_id is None
    async with session_factory() as session:
        assert [t.id for t in await find_procedure(Repositories(session), PROCEDURE)] == [ted.id, csv.id]

    # TED's change notice updates TED's row; the link stays, and storing everything again changes nothing.
    assert await store(session_factory, [SOLAR_CHANGE]) == StoreResult(updated=1, changes=1)
    everything = [SOLAR, other, national, award, SOLAR_CHANGE]
    assert await store(session_factory, everything) == StoreResult(unchanged=5)
    assert [(t.id, t.same_as_id) for t in await stored(session_factory)] == [
        (ted.id, None),
        (unrelated.id, None),
        (csv.id, ted.id),
        (result.id, None),
    ]


async def test_both_sources_new_in_one_batch_are_linked_to_the_first(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    national = replace(SOLAR, source="ocds-ro", source_id="ocds-xxxxxx-1", procedure_id=f"ocds-xxxxxx-{PROCEDURE}")
    assert await store(session_factory, [national, SOLAR]) == StoreResult(new=2)
    first, second = await stored(session_factory)
    assert (first.source, first.same_as_id, second.same_as_id) == ("ocds-ro", None, first.id)


async def test_storing_a_batch_twice_is_idempotent(session_factory: async_sessionmaker[AsyncSession]) -> None:
    batch = [tender(number) for number in range(50)] + [SOLAR, SOLAR_CHANGE]
    first = await store(session_factory, batch)
    # Numbers 2k and 2k+1 of one source share a procedure (one tender), and the change merges into SOLAR.
    assert first.new == len(await stored(session_factory)) and first.new + first.unchanged == 52
    before = [(t.id, t.version, t.updated_at, t.changed_at, t.same_as_id) for t in await stored(session_factory)]

    assert await store(session_factory, batch, MONDAY + timedelta(days=1)) == StoreResult(unchanged=52)
    after = [(t.id, t.version, t.updated_at, t.changed_at, t.same_as_id) for t in await stored(session_factory)]
    assert after == before


async def test_bad_entries_are_skipped_and_a_database_error_undoes_only_its_batch(
    session_factory: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    await store(session_factory, [SOLAR])
    naive = replace(tender(1), deadline=datetime(2026, 10, 1, 12, 0))
    nameless = replace(tender(2), source_id="")
    huge = replace(tender(3), value=Decimal("1e40"), currency="euro")
    assert await store(session_factory, [naive, nameless, huge]) == StoreResult(new=1, skipped=2)
    [_, kept] = await stored(session_factory)
    assert (kept.source_id, kept.value_hundredths, kept.currency) == ("GEN-3", None, None)

    async def broken(self: Any, codes: Any) -> None:
        raise RuntimeError("the database went away")

    # A batch failing half-way leaves nothing of itself, and the caller's transaction goes on.
    monkeypatch.setattr("storage.repositories.TenderRepository.replace_cpv", broken)
    async with unit_of_work(session_factory) as session:
        repos = Repositories(session)
        with pytest.raises(RuntimeError):
            await store_tenders(repos, [tender(10), SOLAR_CHANGE], now=MONDAY)
        assert [t.source_id for t in await repos.tenders.new_since(MONDAY)] == ["626569-2026", "GEN-3"]
    rows = await stored(session_factory)
    assert [(t.source_id, t.version) for t in rows] == [("626569-2026", 1), ("GEN-3", 1)]


def tender(number: int) -> Tender:
    """One of many generated calls for competition, in the clusters' sectors."""
    codes = ("09331200", "45261215", "90514000", "71314300", "42511110", "77120000")
    return Tender(
        source="csv" if number % 5 == 0 else "ted",
        source_id=f"GEN-{number}",
        kind=TenderKind.COMPETITION,
        title={"ro": f"Achiziție nr. {number}: pompe de căldură", "en": f"Purchase no. {number}: heat pumps"},
        procedure_id=f"proc-{number // 2}" if number % 3 else None,
        buyer=f"Primăria {number}",
        country="RO",
        places=("RO113",),
        cpv=(codes[number % 6], codes[(number + 1) % 6]),
        value=Decimal(number * 1000) + Decimal("0.5"),
        currency="EUR",
        deadline=MONDAY + timedelta(days=20 + number % 30),
        published_at=MONDAY - timedelta(days=1),
    )


async def test_five_thousand_tenders_are_stored_in_one_call(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    batch = [tender(number) for number in range(5000)]
    result = await store(session_factory, batch)
    # Pairs of numbers share a procedure: in one source they are one tender, across sources linked.
    assert result.new + result.unchanged == 5000 and result.skipped == 0
    rows = await stored(session_factory)
    assert len(rows) == result.new
    async with session_factory() as session:
        codes = await session.scalar(select(func.count()).select_from(TenderCpv))
    assert codes == 2 * len(rows)
    linked = [row for row in rows if row.same_as_id is not None]
    assert linked and all(row.source != "ted" or row.procedure_id for row in linked)

    # A day later the same 5,000 come again with a tenth changed by a change notice.
    later = [
        replace(t, version=2, is_change=True, title={"en": "Changed"}) if n % 10 == 1 else t
        for n, t in enumerate(batch)
    ]
    again = await store(session_factory, later, MONDAY + timedelta(days=1))
    assert again.new == 0 and again.changes == again.updated > 0
    assert len(await stored(session_factory)) == len(rows)

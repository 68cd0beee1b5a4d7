"""Alembic migrations: the stairway on both engines, schema equals the models at head, clean downgrade."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import Script, ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.db import alembic_config, create_engine, current_revision, migrate, normalise_url
from storage.models import Base


def _revisions_in_order() -> list[Script]:
    script = ScriptDirectory.from_config(alembic_config())
    heads = script.get_heads()
    assert len(heads) == 1, f"migrations must have a single head, found {heads}"
    # walk_revisions goes from the head down to the base.
    return list(reversed(list(script.walk_revisions("base", "heads"))))


def _step_down_target(revision: Script) -> str:
    down = revision.down_revision
    if down is None:
        return "base"
    if isinstance(down, str):
        return down
    return "-1"  # a merge revision: one step down along the history


def _schema_differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return compare_metadata(context, Base.metadata)


def _schema_leftovers(connection: Connection) -> dict[str, list[str]]:
    inspector = inspect(connection)
    leftovers = {"tables": sorted(set(inspector.get_table_names()) - {"alembic_version"})}
    if connection.dialect.name == "postgresql":
        leftovers["sequences"] = sorted(inspector.get_sequence_names())
        leftovers["enums"] = sorted(e["name"] for e in inspector.get_enums())  # type: ignore[attr-defined]
    return leftovers


def test_revisions_are_a_single_line() -> None:
    revisions = _revisions_in_order()
    assert revisions, "no Alembic revisions found"
    assert revisions[0].down_revision is None
    ids = [r.revision for r in revisions]
    assert len(ids) == len(set(ids))


async def test_stairway_and_head_matches_models(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        assert await current_revision(engine) is None
        for revision in _revisions_in_order():
            await migrate(engine, revision.revision)
            assert await current_revision(engine) == revision.revision

            down = _step_down_target(revision)
            await migrate(engine, down, downgrade=True)
            expected_down = None if down == "base" else down
            if down != "-1":
                assert await current_revision(engine) == expected_down, f"downgrade of {revision.revision}"

            await migrate(engine, revision.revision)
            assert await current_revision(engine) == revision.revision

        async with engine.connect() as connection:
            differences = await connection.run_sync(_schema_differences)
        assert differences == [], f"schema at head differs from storage.models: {differences}"

        await migrate(engine, "base", downgrade=True)
        assert await current_revision(engine) is None
        async with engine.connect() as connection:
            leftovers = await connection.run_sync(_schema_leftovers)
        assert all(not names for names in leftovers.values()), f"left after downgrade to base: {leftovers}"
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgres://u:p@h:5433/db", "postgresql+asyncpg://u:p@h:5433/db"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("sqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("sqlite:////abs/x.db", "sqlite+aiosqlite:////abs/x.db"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite:///x.db"),
    ],
)
def test_normalise_url_picks_async_drivers(given: str, expected: str) -> None:
    assert normalise_url(given) == expected


async def test_row_ids_are_64_bit_with_their_sequences(engine: AsyncEngine) -> None:
    """A SERIAL's sequence stops at 2^31 - 1 even in a BIGINT column: at head, every id sequence is bigint."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite's INTEGER primary key is the rowid, 64-bit already")
    async with engine.connect() as connection:
        sequences = (await connection.execute(text("SELECT sequencename, data_type FROM pg_sequences"))).all()
    assert sequences
    assert {name: kind for name, kind in sequences if kind != "bigint"} == {}

"""Helpers of the repositories' bulk statements: chunks of values within both drivers' parameter bounds, and
the dialect's INSERT (for ON CONFLICT)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from itertools import islice
from typing import Any

from sqlalchemy import RowMapping, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

# Values per IN list or rows per INSERT in the bulk methods: well under both drivers' 32,767 bound parameters.
BULK_CHUNK = 1000


def _chunks(values: Iterable[Any], size: int = BULK_CHUNK) -> Iterable[list[Any]]:
    iterator = iter(values)
    while chunk := list(islice(iterator, size)):
        yield chunk


async def _rows_where_in(
    session: AsyncSession, columns: Sequence[Any], column: Any, values: Collection[Any], *conditions: Any
) -> list[RowMapping]:
    """Plain rows whose `column` is one of `values`, read a chunk of values per query."""
    found: list[RowMapping] = []
    for chunk in _chunks(sorted(values)):
        rows = await session.execute(select(*columns).where(column.in_(chunk), *conditions))
        found.extend(rows.mappings())
    return found


def _insert_for(session: AsyncSession) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


__all__ = ["BULK_CHUNK", "_chunks", "_insert_for", "_rows_where_in"]

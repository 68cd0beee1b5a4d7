"""Scratch databases for the benchmarks: a migrated SQLite file or PostgreSQL database, gone afterwards."""

from __future__ import annotations

import secrets
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from storage.db import create_engine, migrate


def _connect_arguments(pg_admin_url: str) -> dict[str, object]:
    admin = make_url(pg_admin_url)
    return {"host": admin.host, "port": admin.port or 5432, "user": admin.username, "database": admin.database}


@asynccontextmanager
async def database(kind: str, pg_admin_url: str) -> AsyncIterator[str]:
    """A fresh, migrated database: an SQLite file, or a PostgreSQL database created from `pg_admin_url`'s
    server and dropped afterwards."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as directory:
            url = f"sqlite+aiosqlite:///{Path(directory) / 'bench.sqlite3'}"
            await _migrate(url)
            yield url
        return
    name = f"cb_bench_{secrets.token_hex(4)}"
    connect = _connect_arguments(pg_admin_url)
    conn = await asyncpg.connect(**connect)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    url = make_url(pg_admin_url).set(drivername="postgresql+asyncpg", database=name).render_as_string(False)
    try:
        await _migrate(url)
        yield url
    finally:
        conn = await asyncpg.connect(**connect)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


async def _migrate(url: str) -> None:
    engine = create_engine(url)
    try:
        await migrate(engine)
    finally:
        await engine.dispose()


async def pg_available(pg_admin_url: str) -> bool:
    try:
        conn = await asyncpg.connect(**_connect_arguments(pg_admin_url), timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    await conn.close()
    return True

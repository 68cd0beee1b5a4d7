"""The database going away under the bot and the pool under load, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import asyncpg
import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from bot.config import Settings
from bot.sandbox.harness import SandboxBot
from storage.db import create_engine, create_session_factory, engine_for, migrate, unit_of_work
from storage.models import Organisation

TRY_AGAIN = "Please try again in a moment"


async def terminate_backends(url: str) -> int:
    """What a PostgreSQL restart or failover does to a pool: every server process of the database is gone."""
    parsed = make_url(url)
    conn = await asyncpg.connect(
        host=parsed.host, port=parsed.port or 5432, user=parsed.username, database=parsed.database
    )
    try:
        killed = await conn.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await conn.close()
    return sum(1 for row in killed if row[0])


async def test_after_the_server_drops_every_connection_the_next_update_is_answered(
    pg_url: str, make_settings: Callable[..., Settings]
) -> None:
    async with SandboxBot(make_settings(pg_url)) as sandbox:
        ana = await sandbox.person("ana", 1001, "Ana", language_code="en")
        await ana.send("/profile")
        assert "Your profile" in (ana.last_text or "")

        # The pool keeps the connection that update used; the server closes it.
        assert await terminate_backends(pg_url) >= 1

        await ana.send("/profile")
        assert "Your profile" in (ana.last_text or "")
        assert TRY_AGAIN not in (ana.last_text or "")


async def test_pre_ping_is_what_replaces_the_dropped_connections(pg_url: str) -> None:
    """The counterpart of the test above: without the check the pooled connection is simply dead."""
    for pre_ping in (False, True):
        engine = create_engine(pg_url, pool_pre_ping=pre_ping)
        try:
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
            await terminate_backends(pg_url)
            async with engine.connect() as connection:
                if pre_ping:
                    assert await connection.scalar(text("SELECT 2")) == 2
                else:
                    with pytest.raises(DBAPIError) as raised:
                        await connection.execute(text("SELECT 2"))
                    assert raised.value.connection_invalidated
        finally:
            await engine.dispose()


def test_pool_settings_have_defaults_and_reach_the_engine(make_settings: Callable[..., Settings]) -> None:
    defaults = make_settings("postgresql://u@127.0.0.1/x").database
    assert (defaults.pool_size, defaults.max_overflow, defaults.pool_timeout) == (10, 20, 30.0)
    engine = engine_for(
        make_settings("postgresql://u@127.0.0.1/x", db_pool_size=3, db_max_overflow=4, db_pool_timeout=7).database
    )
    pool: Any = engine.pool
    assert (pool.size(), pool._max_overflow, pool._timeout, pool._pre_ping) == (3, 4, 7, True)
    sqlite: Any = engine_for(make_settings().database).pool
    # A local file has no server to lose: no round trip per checkout there.
    assert sqlite.size() == 10 and not sqlite._pre_ping
    # An in-memory database keeps its one connection.
    assert type(engine_for(make_settings("sqlite+aiosqlite:///:memory:").database).pool).__name__ == "StaticPool"


async def test_500_updates_at_once_each_get_a_connection_within_the_default_pool(
    migrated_url: str, make_settings: Callable[..., Settings]
) -> None:
    """The defaults (10 + 20 connections, 30 s) against 500 updates arriving together, each holding its
    connection only for its short database work, as an update does: everyone is served, none times out."""
    engine = engine_for(make_settings(migrated_url).database)
    checked_out = 0
    most = 0

    def checkout(*_args: Any) -> None:
        nonlocal checked_out, most
        checked_out += 1
        most = max(most, checked_out)

    def checkin(*_args: Any) -> None:
        nonlocal checked_out
        checked_out -= 1

    try:
        await migrate(engine)
        event.listen(engine.sync_engine.pool, "checkout", checkout)
        event.listen(engine.sync_engine.pool, "checkin", checkin)
        factory = create_session_factory(engine)

        async def update(i: int) -> None:
            async with unit_of_work(factory) as session:
                await session.scalar(select(func.count(Organisation.id)))
                session.add(Organisation(name=f"Org {i}", name_key=f"org {i}"))
                # A little work inside the transaction, as a handler's service call has.
                await asyncio.sleep(0.005)

        await asyncio.wait_for(asyncio.gather(*(update(i) for i in range(500))), 60)
        async with unit_of_work(factory) as session:
            assert await session.scalar(select(func.count(Organisation.id))) == 500
    finally:
        await engine.dispose()
    assert most <= 30

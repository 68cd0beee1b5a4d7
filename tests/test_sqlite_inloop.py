"""SQLite in the event loop's thread: concurrent writing transactions wait for each other on the loop."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from storage.db import create_engine, create_session_factory, migrate, unit_of_work
from storage.models import Organisation
from storage.sqlite_inloop import in_loop_creator


async def test_two_writers_with_an_await_in_between_do_not_lock_each_other_out(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'w.sqlite3'}")
    await migrate(engine)
    factory = create_session_factory(engine)
    order: list[str] = []

    async def writer(name: str) -> None:
        async with unit_of_work(factory) as session:
            session.add(Organisation(name=name, name_key=name.lower()))
            await session.flush()
            order.append(f"{name} wrote")
            # A Telegram call in the middle of a transaction: the loop must keep running.
            await asyncio.sleep(0.05)
            order.append(f"{name} commits")

    started = time.monotonic()
    await asyncio.gather(writer("A"), writer("B"), writer("C"))
    # Without the writer lock the second writer would sit in SQLite's busy handler, loop held, for 5 s.
    assert time.monotonic() - started < 2
    assert order == ["A wrote", "A commits", "B wrote", "B commits", "C wrote", "C commits"]
    async with unit_of_work(factory) as session:
        assert await session.scalar(select(func.count(Organisation.id))) == 3
        # Off by default in SQLite; every connection of ours turns them on.
        assert await session.scalar(text("PRAGMA foreign_keys")) == 1

    async def failing_writer() -> None:
        async with unit_of_work(factory) as session:
            session.add(Organisation(name="dup", name_key="a"))  # name_key "a" exists: integrity error
            await session.flush()

    results = await asyncio.gather(failing_writer(), writer("D"), return_exceptions=True)
    assert isinstance(results[0], Exception) and results[1] is None
    await engine.dispose()


async def test_thread_driver_is_still_available(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 't.sqlite3'}", sqlite_in_loop=False)
    try:
        await migrate(engine)
        factory = create_session_factory(engine)
        async with unit_of_work(factory) as session:
            session.add(Organisation(name="X", name_key="x"))
        async with factory() as session:
            assert await session.scalar(select(Organisation.name)) == "X"
        async with engine.connect() as connection:
            # It waits for another process's lock in its own thread, up to 5 s; foreign keys hold as in the loop.
            assert await connection.scalar(text("PRAGMA busy_timeout")) == 5000
            assert await connection.scalar(text("PRAGMA foreign_keys")) == 1
    finally:
        await engine.dispose()


# ---------------------------------------------------------------------------------------------- other processes

# Another process (a CLI command, a second bot on the same file) holding SQLite's write lock.
LOCK_HOLDER = """
import sqlite3, sys, time
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("BEGIN IMMEDIATE")
connection.execute("INSERT INTO organisations (name, name_key, created_at) VALUES ('Holder', 'holder', '2026-01-01')")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
connection.execute("COMMIT")
print("released", flush=True)
"""


class LoopWatch:
    """A task ticking every millisecond on the loop; `longest` is the longest gap it saw between two ticks."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._last = 0.0
        self._ticking = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        self._last = time.monotonic()
        self._ticking.set()
        while True:
            await asyncio.sleep(0.001)
            self._note()

    def _note(self) -> None:
        now = time.monotonic()
        self.longest = max(self.longest, now - self._last)
        self._last = now

    async def __aenter__(self) -> LoopWatch:
        self._task = asyncio.get_running_loop().create_task(self._tick())
        await self._ticking.wait()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._note()
        self._task.cancel()


async def hold_write_lock(database: Path, seconds: float) -> asyncio.subprocess.Process:
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", LOCK_HOLDER, str(database), str(seconds), stdout=asyncio.subprocess.PIPE
    )
    assert holder.stdout is not None
    assert (await holder.stdout.readline()).strip() == b"locked"
    return holder


async def migrated(path: Path, **options: Any) -> tuple[AsyncEngine, async_sessionmaker[AsyncSession]]:
    engine = create_engine(f"sqlite+aiosqlite:///{path}", **options)
    await migrate(engine)
    return engine, create_session_factory(engine)


async def test_a_write_waiting_for_another_process_leaves_the_loop_running(tmp_path: Path) -> None:
    engine, factory = await migrated(tmp_path / "p.sqlite3")
    holder = await hold_write_lock(tmp_path / "p.sqlite3", 2.0)
    async with LoopWatch() as watch:
        started = time.monotonic()
        async with unit_of_work(factory) as session:
            session.add(Organisation(name="Mine", name_key="mine"))
        waited = time.monotonic() - started
    assert await holder.wait() == 0
    # The write went through once the other process let go, and the loop ran all along.
    assert 1.5 < waited < 4.0
    assert watch.longest < 0.2, f"the loop stalled for {watch.longest:.3f} s"
    async with unit_of_work(factory) as session:
        names = set((await session.scalars(select(Organisation.name))).all())
    assert {"Holder", "Mine"} <= names
    await engine.dispose()


async def test_a_write_waiting_longer_than_its_deadline_fails(tmp_path: Path) -> None:
    path = tmp_path / "d.sqlite3"
    engine, factory = await migrated(path, async_creator=in_loop_creator(str(path), lock_wait=0.5))
    holder = await hold_write_lock(path, 3.0)
    try:
        async with LoopWatch() as watch:
            started = time.monotonic()
            with pytest.raises(OperationalError, match="database is locked"):
                async with unit_of_work(factory) as session:
                    session.add(Organisation(name="Late", name_key="late"))
            waited = time.monotonic() - started
        assert 0.5 <= waited < 1.5
        assert watch.longest < 0.2
    finally:
        holder.kill()
        await holder.wait()
    await engine.dispose()


async def test_a_stale_snapshot_fails_at_once_rather_than_waiting(tmp_path: Path) -> None:
    """SQLITE_BUSY_SNAPSHOT: a transaction that read, then tries to write after another process committed,
    can never write (its snapshot is stale); only a new transaction can. Waiting would only delay the error."""
    path = tmp_path / "s.sqlite3"
    engine, _factory = await migrated(path)
    async with engine.connect() as connection:
        await connection.exec_driver_sql("BEGIN")
        await connection.exec_driver_sql("SELECT count(*) FROM organisations")
        holder = await hold_write_lock(path, 0.0)
        assert await holder.wait() == 0
        started = time.monotonic()
        with pytest.raises(OperationalError, match="locked"):
            await connection.exec_driver_sql(
                "INSERT INTO organisations (name, name_key, created_at) VALUES ('Stale', 'stale', '2026-01-01')"
            )
        assert time.monotonic() - started < 0.5
        await connection.rollback()
    await engine.dispose()

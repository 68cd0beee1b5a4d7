"""SQLite in the event loop's thread: concurrent writing transactions wait for each other on the loop."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from sqlalchemy import func, select

from storage.db import create_engine, create_session_factory, migrate, unit_of_work
from storage.models import Organisation


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

    async def failing_writer() -> None:
        async with unit_of_work(factory) as session:
            session.add(Organisation(name="dup", name_key="a"))  # name_key "a" exists: integrity error
            await session.flush()

    results = await asyncio.gather(failing_writer(), writer("D"), return_exceptions=True)
    assert isinstance(results[0], Exception) and results[1] is None
    await engine.dispose()


async def test_thread_driver_is_still_available(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 't.sqlite3'}", sqlite_in_loop=False)
    await migrate(engine)
    async with unit_of_work(create_session_factory(engine)) as session:
        session.add(Organisation(name="X", name_key="x"))
    await engine.dispose()

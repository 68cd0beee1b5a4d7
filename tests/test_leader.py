"""Leader locks: with two processes racing for one job, one runs it and the other skips; the lock is free again
afterwards; a Redis lock whose holder died expires after its TTL. PostgreSQL's advisory lock across two engines
(two processes), Redis's across two clients, and the in-process lock of a single SQLite process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config import Settings
from bot.jobs import SCHEDULE, Jobs
from bot.leader import Leader, LocalLeader, PgLeader, RedisLeader, leader_for
from storage.db import create_engine, create_session_factory


async def race(first: Leader, second: Leader, name: str = "job:tender_digest") -> list[str]:
    """Both try to run the job while the first holds it; what each did."""
    done: list[str] = []
    started = asyncio.Event()
    finish = asyncio.Event()

    async def one(leader: Leader, who: str, hold_on: bool) -> None:
        async with leader.hold(name) as got:
            done.append(f"{who} {'runs' if got else 'skips'}")
            if hold_on:
                started.set()
                await finish.wait()

    holder = asyncio.create_task(one(first, "first", True))
    await started.wait()
    await one(second, "second", False)
    finish.set()
    await holder
    return done


@pytest.fixture
async def two_pg_engines(pg_url: str) -> AsyncIterator[tuple[AsyncEngine, AsyncEngine]]:
    one, two = create_engine(pg_url), create_engine(pg_url)
    try:
        yield one, two
    finally:
        await one.dispose()
        await two.dispose()


async def test_postgresql_advisory_lock_runs_a_job_in_one_process(
    two_pg_engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    one, two = two_pg_engines
    first, second = PgLeader(one), PgLeader(two)
    assert await race(first, second) == ["first runs", "second skips"]
    # Released after: the other process gets it now, and a different job was never blocked.
    async with second.hold("job:tender_digest") as got:
        assert got
    assert await race(second, first, "job:deadline_reminders") == ["first runs", "second skips"]


async def test_a_postgresql_lock_dies_with_its_connection(two_pg_engines: tuple[AsyncEngine, AsyncEngine]) -> None:
    one, two = two_pg_engines
    async with one.connect() as holder:
        from sqlalchemy import text

        from bot.leader import advisory_key

        assert await holder.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": advisory_key("job:x")})
        async with PgLeader(two).hold("job:x") as got:
            assert not got
        # The process dies: its connection goes, and the lock with it.
        await holder.invalidate()
    async with PgLeader(two).hold("job:x") as got:
        assert got


async def test_redis_lock_runs_a_job_once_and_expires_when_its_holder_died(redis_url: str) -> None:
    first, second = RedisLeader(redis_url, ttl=0.6), RedisLeader(redis_url, ttl=0.6)
    assert await race(first, second) == ["first runs", "second skips"]
    async with second.hold("job:tender_digest") as got:
        assert got

    # A holder that died: it took the lock and never released nor renewed it.
    token = await first.acquire("job:fetch_tenders")
    assert token is not None
    async with second.hold("job:fetch_tenders") as got:
        assert not got
    await asyncio.sleep(0.8)
    async with second.hold("job:fetch_tenders") as got:
        assert got
        # The dead holder's token no longer releases what is now someone else's.
        assert not await first.release("job:fetch_tenders", token)
    async with first.hold("job:fetch_tenders") as got:
        assert got


async def test_a_held_redis_lock_is_renewed_past_its_ttl(redis_url: str) -> None:
    first, second = RedisLeader(redis_url, ttl=0.3), RedisLeader(redis_url, ttl=0.3)
    async with first.hold("job:long") as got:
        assert got
        await asyncio.sleep(0.8)
        async with second.hold("job:long") as other:
            assert not other


async def test_one_sqlite_process_runs_a_job_once() -> None:
    assert await race(LocalLeader("a.sqlite3"), LocalLeader("a.sqlite3")) == ["first runs", "second skips"]
    # Another database's bot in the same process has its own locks.
    assert await race(LocalLeader("a.sqlite3"), LocalLeader("b.sqlite3")) == ["first runs", "second runs"]


def test_the_leader_follows_the_deployment(make_settings: Callable[..., Settings], tmp_path: Any) -> None:
    sqlite = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'x.sqlite3'}")
    pg = create_engine("postgresql+asyncpg://postgres@127.0.0.1:5432/nothing")
    try:
        assert isinstance(leader_for(make_settings(), sqlite), LocalLeader)
        assert isinstance(leader_for(make_settings(redis_url="redis://127.0.0.1:6379/1"), sqlite), RedisLeader)
        assert isinstance(leader_for(make_settings(redis_url="redis://127.0.0.1:6379/1"), pg), PgLeader)
    finally:
        asyncio.run(sqlite.dispose())
        asyncio.run(pg.dispose())


async def test_two_processes_scheduled_at_once_run_each_job_once(
    two_pg_engines: tuple[AsyncEngine, AsyncEngine], make_settings: Callable[..., Settings]
) -> None:
    one, two = two_pg_engines
    ran: list[str] = []
    gate, running = asyncio.Event(), asyncio.Event()

    async def slow_job(now: datetime | None) -> str:
        ran.append("ran")
        running.set()
        await gate.wait()
        return "done"

    jobs = []
    for engine in (one, two):
        job = Jobs(make_settings(), create_session_factory(engine), None)
        job.by_name["announcements"] = slow_job
        jobs.append(job)
    first = asyncio.create_task(jobs[0].run_led("announcements", datetime.now(UTC)))
    await running.wait()
    assert await jobs[1].run_led("announcements") is None
    gate.set()
    assert await first == "done" and ran == ["ran"]


def test_every_job_present_is_scheduled_under_the_lock(make_settings: Callable[..., Settings], tmp_path: Any) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'x.sqlite3'}")
    try:
        jobs = Jobs(make_settings(), create_session_factory(engine), None)

        async def nothing(now: datetime | None) -> None:
            return None

        # Every job of the bot is scheduled; one without a schedule is not.
        jobs.by_name["unscheduled"] = nothing
        scheduler = jobs.scheduler()
        scheduled = {job.id: job for job in scheduler.get_jobs()}
        assert set(scheduled) == {
            "announcements",
            "fetch_tenders",
            "tender_alerts",
            "tender_digest",
            "deadline_reminders",
            "purge",
        }
        assert set(SCHEDULE) | {"announcements"} == set(scheduled)
        for job in scheduled.values():
            assert job.coalesce and job.max_instances == 1 and job.misfire_grace_time == 300
            assert job.args == (job.id,)
    finally:
        asyncio.run(engine.dispose())

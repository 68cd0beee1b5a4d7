"""Leader locks: with several processes of the bot, each scheduled job (and each source's fetch) runs in one.

`Leader.hold(name)` is an async context manager that yields True when this process got the lock (run the job)
and False when another holds it (skip this run); the lock is released when the block ends. Three kinds:

- `PgLeader`: a PostgreSQL session-level advisory lock (`pg_try_advisory_lock`) on a connection of its own,
  kept for the run and unlocked after (a process that dies loses its connection and with it the lock);
- `RedisLeader`: `SET key token NX PX ttl`, renewed while the run lasts and released only by its holder (a
  token-checked Lua script); a holder that died stops renewing and its lock expires after the TTL;
- `LocalLeader`: a lock in this process, enough for a single process on SQLite.

`leader_for(settings, engine)` picks one: PostgreSQL's lock when the database is PostgreSQL (every process
shares it already), else Redis's when REDIS_URL is set, else the in-process lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
from collections.abc import AsyncIterator
from typing import Protocol

from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.config import Settings

log = logging.getLogger(__name__)

# Redis keys of the locks; the name follows.
REDIS_PREFIX = "clusterbot:leader:"
DEFAULT_TTL = 60.0

# Delete the key only if it still holds our token (a lock that expired and was taken by another stays theirs).
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""
# Extend the key's life only while it holds our token.
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""


class Leader(Protocol):
    def hold(self, name: str) -> contextlib.AbstractAsyncContextManager[bool]:
        """True inside the block when this process holds the lock `name`, False when another does."""
        ...


def advisory_key(name: str) -> int:
    """A lock name as PostgreSQL's 64-bit advisory lock key (signed), the same in every process."""
    return int.from_bytes(hashlib.sha256(f"clusterbot:{name}".encode()).digest()[:8], "big", signed=True)


class LocalLeader:
    """Locks in this process, one set per `scope` (the database's URL: two bots on two databases in one test
    process do not share their locks)."""

    _held: set[tuple[str, str]] = set()

    def __init__(self, scope: str = "") -> None:
        self.scope = scope

    @contextlib.asynccontextmanager
    async def hold(self, name: str) -> AsyncIterator[bool]:
        key = (self.scope, name)
        if key in self._held:
            yield False
            return
        self._held.add(key)
        try:
            yield True
        finally:
            self._held.discard(key)


class PgLeader:
    """PostgreSQL advisory locks, on a connection of their own for as long as the run holds them."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @contextlib.asynccontextmanager
    async def hold(self, name: str) -> AsyncIterator[bool]:
        key = advisory_key(name)
        async with self.engine.connect() as connection:
            got = bool(await connection.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}))
            # A session-level lock outlives the transaction: end it, so the connection does not sit idle in one.
            await connection.commit()
            if not got:
                yield False
                return
            try:
                yield True
            finally:
                try:
                    await asyncio.shield(self._unlock(connection, key))
                except BaseException:
                    # The connection is in an unknown state: close it for good, which ends its locks too.
                    await connection.invalidate()
                    raise

    @staticmethod
    async def _unlock(connection: AsyncConnection, key: int) -> None:
        await connection.scalar(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
        await connection.commit()


class RedisLeader:
    """Redis locks with a TTL, renewed every third of it while held; released by their holder only."""

    def __init__(self, url: str, ttl: float = DEFAULT_TTL) -> None:
        self.url = url
        self.ttl = ttl

    def _client(self) -> Redis:
        return Redis.from_url(self.url)

    async def acquire(self, name: str) -> str | None:
        """Take the lock without renewing it: its token, or None when another holds it. (What `hold` does
        first; on its own, a holder that then dies.)"""
        client = self._client()
        try:
            return await self._acquire(client, name)
        finally:
            await client.aclose()

    async def release(self, name: str, token: str) -> bool:
        client = self._client()
        try:
            return bool(await client.eval(_RELEASE, 1, REDIS_PREFIX + name, token))
        finally:
            await client.aclose()

    async def _acquire(self, client: Redis, name: str) -> str | None:
        token = secrets.token_hex(16)
        got = await client.set(REDIS_PREFIX + name, token, nx=True, px=int(self.ttl * 1000))
        return token if got else None

    @contextlib.asynccontextmanager
    async def hold(self, name: str) -> AsyncIterator[bool]:
        client = self._client()
        try:
            token = await self._acquire(client, name)
            if token is None:
                yield False
                return
            renewing = asyncio.create_task(self._renew(client, name, token))
            try:
                yield True
            finally:
                renewing.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await renewing
                try:
                    await asyncio.shield(client.eval(_RELEASE, 1, REDIS_PREFIX + name, token))
                except Exception:
                    log.warning("could not release the leader lock %s; it expires in %.0f s", name, self.ttl)
        finally:
            await client.aclose()

    async def _renew(self, client: Redis, name: str, token: str) -> None:
        while True:
            await asyncio.sleep(self.ttl / 3)
            try:
                kept = await client.eval(_RENEW, 1, REDIS_PREFIX + name, token, int(self.ttl * 1000))
            except Exception:
                log.warning("could not renew the leader lock %s", name)
                continue
            if not kept:
                log.warning("the leader lock %s expired while held: another process may run it too", name)
                return


def leader_for(settings: Settings, engine: AsyncEngine) -> Leader:
    """PostgreSQL's advisory locks on PostgreSQL, else Redis's with REDIS_URL, else this process's."""
    if engine.dialect.name == "postgresql":
        return PgLeader(engine)
    if settings.redis_url:
        return RedisLeader(settings.redis_url)
    return LocalLeader(engine.url.render_as_string(hide_password=True))


__all__ = ["Leader", "LocalLeader", "PgLeader", "RedisLeader", "advisory_key", "leader_for"]

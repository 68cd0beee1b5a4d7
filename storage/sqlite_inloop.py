"""SQLite run in the event loop's own thread, behind the interface SQLAlchemy's aiosqlite dialect drives.

Why: aiosqlite sends every call (cursor, execute, fetch, close, commit) to a worker thread and back, about
70 µs each here, while the statements the bot runs on a local file take a few µs. One update's transaction
made some eight such trips, most of the cost of handling it. Running sqlite3 directly removes them.
SQLite lets one connection write at a time. Two transactions of this process that both write would, run
in one thread, wait for each other inside SQLite's busy handler with the loop held: so a connection takes
an asyncio lock, one per database file, before its first writing statement, and keeps it until it commits
or rolls back; the other waits on the loop. What remains is that a statement waiting for ANOTHER process's
write lock holds the loop; those transactions are short, and `busy_timeout` bounds the wait. Used for
`sqlite+aiosqlite` URLs unless asked otherwise (`storage.db.create_engine(url, sqlite_in_loop=False)`).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import Any


class _ImmediateQueue:
    """Stands in for aiosqlite's request queue, which SQLAlchemy uses to set the isolation level."""

    def put_nowait(self, item: tuple[asyncio.Future[Any], Callable[[], Any]]) -> None:
        future, function = item
        try:
            future.set_result(function())
        except Exception as error:
            future.set_exception(error)


_READ_ONLY = ("SELECT", "PRAGMA", "EXPLAIN", "WITH")


def _writes(sql: str) -> bool:
    head = sql.lstrip().split(None, 1)
    return bool(head) and head[0].upper() not in _READ_ONLY


class InLoopCursor:
    def __init__(self, cursor: sqlite3.Cursor, owner: InLoopConnection) -> None:
        self._cursor = cursor
        self._owner = owner

    async def __aenter__(self) -> InLoopCursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def execute(self, sql: str, parameters: Sequence[Any] | dict[str, Any] | None = None) -> InLoopCursor:
        if _writes(sql):
            await self._owner.hold_writer_lock()
        self._cursor.execute(sql, () if parameters is None else parameters)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> InLoopCursor:
        await self._owner.hold_writer_lock()
        self._cursor.executemany(sql, parameters)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(size if size is not None else self._cursor.arraysize)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()


class InLoopConnection:
    """The parts of `aiosqlite.Connection` that SQLAlchemy's adapter calls, answered synchronously."""

    def __init__(self, connection: sqlite3.Connection, writer_lock: asyncio.Lock) -> None:
        self._conn: sqlite3.Connection | None = connection
        self._tx = _ImmediateQueue()
        self._writer_lock = writer_lock
        self._writing = False

    async def hold_writer_lock(self) -> None:
        if not self._writing:
            await self._writer_lock.acquire()
            self._writing = True

    def _release_writer_lock(self) -> None:
        if self._writing:
            self._writing = False
            self._writer_lock.release()

    @property
    def _connection(self) -> sqlite3.Connection | None:
        return self._conn

    def _open(self) -> sqlite3.Connection:
        if self._conn is None:
            raise ValueError("Connection closed")
        return self._conn

    @property
    def isolation_level(self) -> str | None:
        return self._open().isolation_level

    def cursor(self) -> InLoopCursor:
        return InLoopCursor(self._open().cursor(), self)

    async def execute(self, sql: str, parameters: Sequence[Any] | dict[str, Any] | None = None) -> InLoopCursor:
        return await self.cursor().execute(sql, parameters)

    async def commit(self) -> None:
        try:
            self._open().commit()
        finally:
            if not self._open().in_transaction:
                self._release_writer_lock()

    async def rollback(self) -> None:
        try:
            self._open().rollback()
        finally:
            self._release_writer_lock()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._open().create_function(*args, **kwargs)

    async def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self._release_writer_lock()


def in_loop_creator(database: str) -> Callable[[], Any]:
    """An `async_creator` for `create_async_engine` opening `database` with the standard sqlite3 module."""
    # One engine, one file, one event loop (an asyncio.Lock binds to the loop that first waits on it).
    writer_lock = asyncio.Lock()

    async def connect() -> InLoopConnection:
        # check_same_thread=False: the pool may close a connection from the garbage collector's thread.
        return InLoopConnection(sqlite3.connect(database, check_same_thread=False), writer_lock)

    return connect

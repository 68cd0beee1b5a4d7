"""SQLite run in the event loop's own thread, behind the interface SQLAlchemy's aiosqlite dialect drives.

Why: aiosqlite sends every call (cursor, execute, fetch, close, commit) to a worker thread and back, about
70 µs each here, while the statements the bot runs on a local file take a few µs. One update's transaction
made some eight such trips, most of the cost of handling it. Running sqlite3 directly removes them.
SQLite lets one connection write at a time. Two transactions of this process that both write would, run
in one thread, wait for each other inside SQLite's busy handler with the loop held: so a connection takes
an asyncio lock, one per database file, before its first writing statement, and keeps it until it commits
or rolls back; the other waits on the loop.

Another PROCESS holding the write lock (a CLI command, a second bot on the file) cannot be waited for that
way, and SQLite's own busy handler sleeps in the calling thread: with the old `busy_timeout` of 5 s a write
behind a 2 s lock froze the whole loop for 2.05 s (measured, tests/test_sqlite_inloop.py). So the busy
timeout here is short (`BUSY_TIMEOUT_MS`, 10 ms: a brief lock is still waited out inside SQLite, at no extra
cost), and a statement or commit that still finds the database locked is tried again after an
`asyncio.sleep` backing off from 2 ms to 50 ms, the loop serving everything else meanwhile, until
`lock_wait` seconds (5, the old timeout) have passed; then the "database is locked" error is raised. The
same case measured: longest loop stall 10-15 ms, the write done within 50 ms of the other's commit.
Retrying is sound for plain SQLITE_BUSY: the statement failed before it changed anything. It is not for
SQLITE_BUSY_SNAPSHOT (WAL): a transaction that began, read, and then tries to write after another process
committed holds a snapshot that can never be written from; only a new transaction can. That error is
raised at once (the unit of work rolls back; the person is told to try again). The bot's own transactions
do not meet it: sqlite3 begins a transaction only at the first writing statement, reads before it are
outside it, and from then on this connection holds the write lock.

Used for `sqlite+aiosqlite` URLs unless asked otherwise (`storage.db.create_engine(url, sqlite_in_loop=False)`,
the thread driver, which keeps the 5 s busy timeout in its own thread).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")

# How long SQLite's own busy handler may hold the loop, per attempt.
BUSY_TIMEOUT_MS = 10
# How long a statement may wait, in all, for another process's write lock.
LOCK_WAIT = 5.0
_FIRST_PAUSE = 0.002
_LONGEST_PAUSE = 0.05
_SQLITE_BUSY_SNAPSHOT = 517


def _locked(error: sqlite3.OperationalError) -> bool:
    """SQLITE_BUSY or one of its extended codes that a later attempt can get past (not BUSY_SNAPSHOT)."""
    code = getattr(error, "sqlite_errorcode", None)
    return code is not None and code & 0xFF == sqlite3.SQLITE_BUSY and code != _SQLITE_BUSY_SNAPSHOT


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
        arguments = () if parameters is None else parameters
        try:
            self._cursor.execute(sql, arguments)
        except sqlite3.OperationalError as error:
            await self._owner.retry_while_locked(error, lambda: self._cursor.execute(sql, arguments))
        return self

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> InLoopCursor:
        await self._owner.hold_writer_lock()
        # Held as a list: a second attempt needs the rows again.
        rows = parameters if isinstance(parameters, list) else list(parameters)
        try:
            self._cursor.executemany(sql, rows)
        except sqlite3.OperationalError as error:
            await self._owner.retry_while_locked(error, lambda: self._cursor.executemany(sql, rows))
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

    def __init__(self, connection: sqlite3.Connection, writer_lock: asyncio.Lock, lock_wait: float = LOCK_WAIT) -> None:
        self._conn: sqlite3.Connection | None = connection
        self._tx = _ImmediateQueue()
        self._writer_lock = writer_lock
        self._writing = False
        self.lock_wait = lock_wait
        connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")

    async def retry_while_locked(self, error: sqlite3.OperationalError, attempt: Callable[[], T]) -> T:
        """`attempt` failed with `error`: try it again, off the loop's back, while another process holds the
        write lock and `lock_wait` allows; re-raise anything else at once."""
        if not _locked(error):
            raise error
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.lock_wait
        pause = _FIRST_PAUSE
        while True:
            left = deadline - loop.time()
            if left <= 0:
                raise error
            await asyncio.sleep(min(pause, left))
            pause = min(pause * 2, _LONGEST_PAUSE)
            try:
                return attempt()
            except sqlite3.OperationalError as again:
                if not _locked(again):
                    raise
                error = again

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
        connection = self._open()
        try:
            try:
                connection.commit()
            except sqlite3.OperationalError as error:
                # A failed COMMIT leaves the transaction open: committing again is sound.
                await self.retry_while_locked(error, connection.commit)
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


def in_loop_creator(database: str, *, lock_wait: float = LOCK_WAIT) -> Callable[[], Any]:
    """An `async_creator` for `create_async_engine` opening `database` with the standard sqlite3 module;
    a statement waits up to `lock_wait` seconds for another process's write lock."""
    # One engine, one file, one event loop (an asyncio.Lock binds to the loop that first waits on it).
    writer_lock = asyncio.Lock()

    async def connect() -> InLoopConnection:
        # check_same_thread=False: the pool may close a connection from the garbage collector's thread.
        return InLoopConnection(sqlite3.connect(database, check_same_thread=False), writer_lock, lock_wait)

    return connect

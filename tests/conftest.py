"""Shared fixtures: empty and migrated databases on SQLite and PostgreSQL, and a private Redis database.

Fixtures (names are a contract with the other test modules):

* ``db_backend``      -- "sqlite" / "postgresql" (ids ``sqlite`` / ``pg``); parametrises every test that uses it.
* ``db_url``          -- URL of a fresh, EMPTY (unmigrated) database on ``db_backend``; removed afterwards.
* ``pg_url``          -- URL of a fresh, empty PostgreSQL database (not parametrised).
* ``migrated_url``    -- URL of a fresh database of ``db_backend`` already migrated to head, for a test that
  builds its own engine or bot on it (a bot starting there finds it at head, as a restart does, instead of
  migrating an empty one: 0.5 s on PostgreSQL). Not the same database as ``engine``'s.
* ``engine``          -- AsyncEngine on a fresh database of ``db_backend`` already migrated to head.
* ``sqlite_engine``   -- the same on SQLite only (not parametrised).
* ``session_factory`` -- ``storage.db.create_session_factory(engine)``.
* ``redis_url``       -- ``redis://127.0.0.1:6379/<n>`` on a Redis database that this test alone uses, flushed
  before and after.
* ``make_settings``   -- builds Settings (``Settings.from_values``, flat names) with every setting pinned, whatever
  the shell or `.env` says.
* ``settings``        -- ``make_settings()``, for a test that needs nothing else changed.
* ``captured_logs``   -- a stream for the root log handler, restored afterwards.
* ``cli``             -- runs ``clusterbot ARGS`` (``bot.cli.main``) in this process, for async tests too.
* ``sandbox``         -- the real bot on a fresh, migrated ``db_backend`` database, polling its own sandbox
  server.

Services that are down make the tests needing them skip, except with ``CI=true`` where they fail.
Migrated databases are cloned from a template migrated once per session (``CREATE DATABASE ... TEMPLATE``
on PostgreSQL, a file copy on SQLite), so a test pays for a copy, not for the migrations. On PostgreSQL even a
copy costs 0.3-2 s, so a fresh migrated database there is one emptied after an earlier test (every table
truncated, identities restarted, settings and statistics reset), in a helper thread meanwhile (``_PgCopies``).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import random
import secrets
import shutil
import sys
import threading
from collections import Counter, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from bot.config import Settings
from bot.sandbox.harness import SandboxBot
from storage.db import TrackedSession, create_engine, create_session_factory, migrate

PG_HOST = "127.0.0.1"
PG_PORT = 5432
PG_USER = "postgres"
PG_ADMIN_DATABASES = ("postgres", "test")
REDIS_HOST = "127.0.0.1"
REDIS_PORT = 6379
PROBE_TIMEOUT = 1.5

T = TypeVar("T")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The files that hold tests marked ``slow`` first, most of them first, each file's tests still together and
    in their order: pytest-xdist hands out whole files (``--dist loadfile``), and a file of slow tests handed
    out late keeps one worker busy alone while the others have finished."""
    slow = Counter(item.path for item in items if item.get_closest_marker("slow") is not None)
    items.sort(key=lambda item: -slow[item.path])


# Per-process, filled on first use: service name -> None when reachable, else why it is not.
_service_problems: dict[str, str | None] = {}
# The PostgreSQL database the fixtures connect to for CREATE/DROP DATABASE (found by the probe).
_pg_admin: dict[str, str] = {}


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


def _run_blocking(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion on a private event loop in a helper thread.

    Usable from sync fixtures and from inside a running loop alike, without touching the test's loop.
    """
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = asyncio.run(coro)
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, name="conftest-helper", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["result"]


async def _pg_connect(database: str, connect_timeout: float = 5.0) -> asyncpg.Connection:
    return await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database=database, timeout=connect_timeout)


async def _probe_postgresql() -> str | None:
    errors = []
    for database in PG_ADMIN_DATABASES:
        try:
            conn = await asyncio.wait_for(_pg_connect(database, PROBE_TIMEOUT), PROBE_TIMEOUT + 0.5)
        except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
            errors.append(f"{database}: {type(exc).__name__}: {exc}")
            continue
        try:
            await conn.fetchval("SELECT 1")
        finally:
            await conn.close()
        _pg_admin["database"] = database
        return None
    return f"PostgreSQL is not reachable at {PG_USER}@{PG_HOST}:{PG_PORT} ({'; '.join(errors)})"


async def _probe_redis() -> str | None:
    # No retries: redis-py would otherwise back off and retry a refused connection for seconds.
    client = aioredis.Redis(
        host=REDIS_HOST,
        port=REDIS_PORT,
        socket_connect_timeout=PROBE_TIMEOUT,
        socket_timeout=PROBE_TIMEOUT,
        retry=Retry(NoBackoff(), 0),
    )
    try:
        await client.ping()
    except (OSError, aioredis.RedisError) as exc:
        return f"Redis is not reachable at {REDIS_HOST}:{REDIS_PORT} ({type(exc).__name__}: {exc})"
    finally:
        await client.aclose()
    return None


_PROBES = {"postgresql": _probe_postgresql, "redis": _probe_redis}


def _require(service: str) -> None:
    """Skip (locally) or fail (CI=true) the current test when `service` cannot be reached; probed once."""
    if service not in _service_problems:
        _service_problems[service] = _run_blocking(_PROBES[service]())
    problem = _service_problems[service]
    if problem is None:
        return
    if _in_ci():
        pytest.fail(f"{problem}; CI=true, so this is a failure, not a skip", pytrace=False)
    pytest.skip(problem)


def _pg_url(database: str) -> str:
    return f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}"


async def _create_pg_database(prefix: str, template: str | None = None) -> str:
    name = f"{prefix}_{secrets.token_hex(6)}"
    conn = await _pg_connect(_pg_admin["database"])
    try:
        suffix = f' TEMPLATE "{template}"' if template else ""
        await conn.execute(f'CREATE DATABASE "{name}"{suffix}')
    finally:
        await conn.close()
    return name


async def _drop_pg_database(name: str) -> None:
    conn = await _pg_connect(_pg_admin["database"])
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@asynccontextmanager
async def _fresh_pg_database() -> AsyncIterator[str]:
    """An empty (unmigrated) database, dropped afterwards."""
    _require("postgresql")
    name = await _create_pg_database("cb_test")
    try:
        yield _pg_url(name)
    finally:
        await _drop_pg_database(name)


async def _migrate_new_pg_template() -> str:
    name = await _create_pg_database("cb_tmpl")
    try:
        engine = create_engine(_pg_url(name))
        try:
            await migrate(engine)
        finally:
            # A template must have no open connections when it is copied.
            await engine.dispose()
    except BaseException:
        await _drop_pg_database(name)
        raise
    return name


async def _migrate_sqlite_file(path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        await migrate(engine)
        async with engine.connect() as conn:
            await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        await engine.dispose()


# What makes two migrated databases alike: schemas, columns, constraints, indexes, sequences, the revision.
_PG_SCHEMA_FINGERPRINT = """
SELECT concat_ws(' | ',
  (SELECT string_agg(nspname, ',' ORDER BY nspname) FROM pg_namespace
    WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'),
  (SELECT string_agg(concat_ws(':', table_schema, table_name, column_name, data_type, is_nullable, column_default),
                     ',' ORDER BY table_schema, table_name, ordinal_position)
     FROM information_schema.columns WHERE table_schema NOT IN ('pg_catalog', 'information_schema')),
  (SELECT string_agg(conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid), ','
                     ORDER BY conrelid::regclass::text, conname)
     FROM pg_constraint WHERE connamespace = 'public'::regnamespace),
  (SELECT string_agg(indexdef, ',' ORDER BY indexdef) FROM pg_indexes WHERE schemaname = 'public'),
  (SELECT string_agg(sequencename || ':' || data_type, ',' ORDER BY sequencename) FROM pg_sequences),
  (SELECT string_agg(version_num, ',') FROM alembic_version))
"""


class _PgCopies:
    """The tests' PostgreSQL databases: copies of the migrated template, each emptied after a test and handed to
    a later one. CREATE DATABASE ... TEMPLATE takes 0.3-0.5 s, 1-2 s on a loaded machine; emptying one
    (TRUNCATE ... RESTART IDENTITY, its settings and planner statistics reset) a tenth of that, and it happens
    in a helper thread while other tests run, so a test waits for neither. A database whose schema no longer
    matches the template's is dropped and replaced by a new copy. All are dropped when the session ends."""

    # Databases in rotation from the start: one being emptied while the other serves a test.
    SPARE = 2

    def __init__(self, template: str) -> None:
        self.template = template
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pg-copies")
        self._free: deque[Future[str]] = deque()
        self._fingerprint: str | None = None
        for _ in range(self.SPARE):
            self._free.append(self._executor.submit(asyncio.run, self._make()))

    async def _make(self) -> str:
        name = await _create_pg_database("cb_test", self.template)
        if self._fingerprint is None:
            # Taken from a copy, not from the template: a connection to it would make the next copy fail.
            conn = await _pg_connect(name)
            try:
                self._fingerprint = await conn.fetchval(_PG_SCHEMA_FINGERPRINT)
            finally:
                await conn.close()
        return name

    async def _recycle(self, name: str) -> str:
        try:
            admin = await _pg_connect(_pg_admin["database"])
            try:
                # A test that failed may have left a connection behind, even one inside a transaction.
                await admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = $1 AND pid <> pg_backend_pid()",
                    name,
                )
                await admin.execute(f'ALTER DATABASE "{name}" RESET ALL')
            finally:
                await admin.close()
            conn = await _pg_connect(name)
            try:
                if await conn.fetchval(_PG_SCHEMA_FINGERPRINT) != self._fingerprint:
                    raise RuntimeError(f"{name} no longer has the template's schema")
                tables = await conn.fetchval(
                    "SELECT string_agg(oid::regclass::text, ', ') FROM pg_class"
                    " WHERE relnamespace = 'public'::regnamespace AND relkind = 'r' AND relname <> 'alembic_version'"
                )
                async with conn.transaction():
                    await conn.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
                    # As a new copy has none: the planner must not pick its plans from an earlier test's rows.
                    await conn.execute(
                        "DELETE FROM pg_statistic WHERE starelid IN"
                        " (SELECT oid FROM pg_class WHERE relnamespace = 'public'::regnamespace)"
                    )
            finally:
                await conn.close()
        except Exception:
            await _drop_pg_database(name)
            return await self._make()
        return name

    async def take(self) -> str:
        made = self._free.popleft() if self._free else self._executor.submit(asyncio.run, self._make())
        return await asyncio.wrap_future(made)

    def give_back(self, name: str) -> None:
        self._free.append(self._executor.submit(asyncio.run, self._recycle(name)))

    def close(self) -> None:
        names = []
        for made in self._free:
            with contextlib.suppress(Exception):
                names.append(made.result())
        self._free.clear()
        self._executor.shutdown(wait=True)
        for name in names:
            _run_blocking(_drop_pg_database(name))


class _Templates:
    """Session-wide registry of the migrated templates, created on first need and dropped at the end."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.sqlite: Path | None = None
        self.postgresql: str | None = None
        self._pg_copies: _PgCopies | None = None

    def sqlite_template(self) -> Path:
        if self.sqlite is None:
            path = self.directory / "template.sqlite3"
            _run_blocking(_migrate_sqlite_file(path))
            self.sqlite = path
        return self.sqlite

    def postgresql_template(self) -> str:
        _require("postgresql")
        if self.postgresql is None:
            self.postgresql = _run_blocking(_migrate_new_pg_template())
        return self.postgresql

    def pg_copies(self) -> _PgCopies:
        if self._pg_copies is None:
            self._pg_copies = _PgCopies(self.postgresql_template())
        return self._pg_copies

    def close(self) -> None:
        if self._pg_copies is not None:
            copies, self._pg_copies = self._pg_copies, None
            copies.close()
        if self.postgresql is not None:
            name, self.postgresql = self.postgresql, None
            _run_blocking(_drop_pg_database(name))


@pytest.fixture(scope="session")
def _clusterbot_db_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Templates]:
    templates = _Templates(tmp_path_factory.mktemp("db-templates"))
    yield templates
    templates.close()


def _copy_sqlite(template: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, target)
    wal = template.with_name(template.name + "-wal")
    if wal.exists():
        shutil.copyfile(wal, target.with_name(target.name + "-wal"))


@asynccontextmanager
async def _migrated_url(
    backend: str, templates: _Templates, tmp_path: Path, name: str = "test.sqlite3"
) -> AsyncIterator[str]:
    """URL of a private copy of the migrated template (on SQLite, `name` in `tmp_path`); a PostgreSQL copy
    is dropped afterwards."""
    if backend == "sqlite":
        path = tmp_path / name
        _copy_sqlite(templates.sqlite_template(), path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    copies = templates.pg_copies()
    name = await copies.take()
    try:
        yield _pg_url(name)
    finally:
        copies.give_back(name)


@asynccontextmanager
async def _migrated_engine(backend: str, templates: _Templates, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    async with _migrated_url(backend, templates, tmp_path) as url:
        engine = create_engine(url)
        try:
            yield engine
        finally:
            # Dispose before a PostgreSQL copy is dropped (DROP ... WITH (FORCE) would cope, but stay tidy).
            await engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"], ids=["sqlite", "pg"])
def db_backend(request: pytest.FixtureRequest) -> str:
    backend: str = request.param
    if backend == "postgresql":
        _require("postgresql")
    return backend


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    async with _fresh_pg_database() as url:
        yield url


@pytest.fixture
async def db_url(db_backend: str, tmp_path: Path) -> AsyncIterator[str]:
    if db_backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'test.sqlite3'}"
        return
    async with _fresh_pg_database() as url:
        yield url


@pytest.fixture
async def migrated_url(db_backend: str, tmp_path: Path, _clusterbot_db_templates: _Templates) -> AsyncIterator[str]:
    async with _migrated_url(db_backend, _clusterbot_db_templates, tmp_path, "migrated.sqlite3") as url:
        yield url


@pytest.fixture
async def engine(db_backend: str, tmp_path: Path, _clusterbot_db_templates: _Templates) -> AsyncIterator[AsyncEngine]:
    async with _migrated_engine(db_backend, _clusterbot_db_templates, tmp_path) as created:
        yield created


@pytest.fixture
async def sqlite_engine(tmp_path: Path, _clusterbot_db_templates: _Templates) -> AsyncIterator[AsyncEngine]:
    async with _migrated_engine("sqlite", _clusterbot_db_templates, tmp_path) as created:
        yield created


@pytest.fixture
def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_session_factory(engine)


# Redis: database 0 is left alone (a developer's bot may use it); tests claim one of the others with a
# short-lived key in database 0, so concurrent pytest runs on one machine never flush each other's data.
_REDIS_CLAIM_PREFIX = "clusterbot-tests:claimed-db:"
_REDIS_CLAIM_TTL = 600
_REDIS_CLAIM_WAIT = 15.0


async def _claim_redis_db(control: aioredis.Redis, token: str) -> int:
    try:
        raw = await control.config_get("databases")
        count = int(raw.get("databases", 16))
    except (aioredis.ResponseError, ValueError):
        count = 16
    candidates = list(range(1, count))
    if not candidates:
        pytest.fail("Redis has a single database; the tests need at least two", pytrace=False)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _REDIS_CLAIM_WAIT
    while True:
        random.shuffle(candidates)
        for number in candidates:
            if await control.set(f"{_REDIS_CLAIM_PREFIX}{number}", token, nx=True, ex=_REDIS_CLAIM_TTL):
                return number
        if loop.time() > deadline:
            pytest.fail(f"every Redis database 1..{count - 1} is claimed by other test runs", pytrace=False)
        await asyncio.sleep(0.2)


@pytest.fixture
async def redis_url() -> AsyncIterator[str]:
    _require("redis")
    token = secrets.token_hex(8)
    control = aioredis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=0, socket_connect_timeout=5)
    try:
        number = await _claim_redis_db(control, token)
        url = f"redis://{REDIS_HOST}:{REDIS_PORT}/{number}"
        client = aioredis.Redis.from_url(url)
        try:
            await client.flushdb()
            try:
                yield url
            finally:
                await client.flushdb()
        finally:
            await client.aclose()
            key = f"{_REDIS_CLAIM_PREFIX}{number}"
            if await control.get(key) == token.encode():
                await control.delete(key)
    finally:
        await control.aclose()


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Settings for a test's bot, every setting pinned whatever the developer's environment or `.env` holds:
    `Settings.from_values` reads neither, so what is not given here or in `extra` (flat names, as the
    variables: `make_settings(url, sender_name="x", db_pool_size=3)`) has its default, TIMEZONE included;
    `database_url` empty means the default SQLite file in `tmp_path`."""

    def build(database_url: str = "", **extra: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": database_url,
            "data_dir": tmp_path,
            "bot_token": None,
            "redis_url": None,
            "admin_ids": frozenset(),
            "default_locale": "ro",
            "timezone": "Europe/Bucharest",
            "max_text_length": 1000,
        }
        return Settings.from_values(**{**values, **extra})

    return build


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    """``make_settings()``: the bot's settings, on the default SQLite file in ``tmp_path`` (the console and the
    scenarios put their own database there)."""
    return make_settings()


@pytest.fixture
def cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[Callable[..., Awaitable[tuple[int, str, str]]]]:
    """``clusterbot ARGS`` in this process: ``code, out, err = await cli("deliver", env={"BOT_TOKEN": ...})``
    sets the environment first (``None`` removes a variable; it stays so for the rest of the test), runs
    ``bot.cli.main`` in a worker thread (it runs an event loop of its own, while the test's keeps serving a
    sandbox) and returns its exit code and what it wrote to stdout and stderr, its log lines included. The
    log handlers it installs are undone afterwards. A subprocess costs 3-5 s of importing aiogram; keep those
    for what only a new process shows."""
    from bot.cli import main

    root, alembic = logging.getLogger(), logging.getLogger("alembic")
    saved = (root.handlers[:], root.level, alembic.level)

    async def run(*args: str, env: Mapping[str, str | None] | None = None) -> tuple[int, str, str]:
        for name, value in (env or {}).items():
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
        capsys.readouterr()
        try:
            code: Any = await asyncio.to_thread(main, list(args))
        except SystemExit as exit_:
            # What the interpreter does with a SystemExit that reaches it.
            code = exit_.code
            if isinstance(code, str):
                print(code, file=sys.stderr)
                code = 1
        out, err = capsys.readouterr()
        return int(code or 0), out, err

    yield run
    handlers, level, alembic_level = saved
    root.handlers[:] = handlers
    root.setLevel(level)
    alembic.setLevel(alembic_level)


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    """A stream to point the root log handler at (after `bot.logs.setup_logging`); the handlers come back after."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    stream = io.StringIO()
    yield stream
    root.handlers[:], level = saved
    root.setLevel(level)


@pytest.fixture
async def sandbox(migrated_url: str, make_settings: Callable[..., Settings]) -> AsyncIterator[SandboxBot]:
    """The real bot on a fresh database of ``db_backend``, polling a sandbox of its own (modules that need
    another set-up define their own ``sandbox``)."""
    async with SandboxBot(make_settings(migrated_url)) as running:
        yield running


WRITTEN = "test_written_tables"


@pytest.fixture
def failing_commits(sandbox: SandboxBot) -> Iterator[Callable[[str], None]]:
    """Make the database fail at COMMIT of the transactions that wrote to a table: on PostgreSQL the session's
    own backend is terminated (as a restart or failover does), on SQLite the file turns unwritable."""
    assert sandbox.rt is not None
    engine = sandbox.rt.engine.sync_engine
    installed: list[tuple[Any, str, Callable[..., None]]] = []

    def install(table: str) -> None:
        def note_write(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            words = statement.split()
            if words and words[0].upper() in ("INSERT", "UPDATE", "DELETE") and table in words[:4]:
                conn.info[WRITTEN] = True

        def forget(conn: Any) -> None:
            conn.info.pop(WRITTEN, None)

        def before_commit(session: Session) -> None:
            session.flush()  # commit flushes after this event: write now, so that the statement is seen
            connection = session.connection()
            if not connection.info.pop(WRITTEN, False):
                return
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))
            else:
                # What SQLite says when the file cannot be written (read-only file, full disk).
                connection.execute(text("PRAGMA query_only = ON"))
                try:
                    connection.execute(text("INSERT INTO audit_log (action) VALUES ('never')"))
                finally:
                    connection.execute(text("PRAGMA query_only = OFF"))

        for target, name, listener in (
            (engine, "before_cursor_execute", note_write),
            (engine, "rollback", forget),
            (TrackedSession, "before_commit", before_commit),
        ):
            event.listen(target, name, listener)
            installed.append((target, name, listener))

    yield install
    for target, name, listener in installed:
        event.remove(target, name, listener)

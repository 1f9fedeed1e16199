"""Engine factory: plain database URLs in, configured SQLAlchemy engines out.

Operators write `sqlite:///var/twofold.db` or `postgresql://…`; the driver is our business. SQLite
needs per-connection settings to be a good server database:

- WAL lets readers proceed while one writer commits.
- busy_timeout makes a second writer wait for the lock instead of failing at once.
- foreign_keys=ON is off by default in SQLite, and we rely on ON DELETE CASCADE.
- synchronous=NORMAL is durable enough under WAL (a power cut can lose the last commits, never
  corrupt the file) and avoids an fsync per commit.
- Writes start with BEGIN IMMEDIATE: taking the write lock up front means a transaction never
  has to upgrade a read lock, which is where SQLite gives up with "database is locked" without
  honouring busy_timeout. sqlite3's own implicit BEGIN is switched off so that we control it.
- Within a process, write transactions take turns on an asyncio lock (`write_transaction`).
  SQLite has one writer anyway; letting a dozen pooled connections race for its lock only makes
  the losers sleep in busy_timeout's back-off steps (up to 100 ms each), which is where
  multi-second tail latencies came from.
- Statements on a SQLite file run on the event loop's own thread, through the blocking sqlite3
  driver (`read_connection`, `write_transaction`). An indexed statement costs SQLite microseconds;
  handing it to aiosqlite's thread and back costs about ten times that, in four hops per statement,
  and that was most of a grant's CPU. The loop is never held waiting for a lock: a write
  transaction takes SQLite's write lock without blocking (busy_timeout 0 at BEGIN) and, while
  another process holds it, retries after short asyncio sleeps. Once a transaction has the lock
  it runs to its end without yielding to the loop, so no other task of this process waits behind it
  and another process waits at most that long. The AsyncEngine (aiosqlite) stays for code that
  needs one (migrations' revision check, tests) and for in-memory databases.

PostgreSQL needs no per-connection settings: at READ COMMITTED, each single-use write is one
conditional statement (UPDATE … WHERE, INSERT … ON CONFLICT, DELETE … RETURNING) that re-checks
its condition after waiting for a concurrent writer's row lock, so exactly one of them wins. To
keep the tables in a dedicated schema, put it in the URL: `…/db?options=-csearch_path%3Dtwofold`.
"""

from __future__ import annotations

import asyncio
import math
import sqlite3
import threading
import time
import weakref
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool
from sqlalchemy.sql.base import Executable

from twofold.storage import direct

BUSY_TIMEOUT_MS = 10_000

# Execution option that marks a connection as a writer, so the BEGIN hook takes the write lock.
WRITE_OPTION = "twofold_write"

_SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}",
    "PRAGMA foreign_keys=ON",
    "PRAGMA synchronous=NORMAL",
)
# Migrations keep foreign keys off: SQLite batch migrations copy and drop tables, and dropping a
# parent table with foreign keys on would cascade-delete the children.
_SQLITE_MIGRATION_PRAGMAS = tuple(p for p in _SQLITE_PRAGMAS if "foreign_keys" not in p)


def _parse(url: str | URL) -> URL:
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgres":
        parsed = parsed.set(drivername="postgresql")
    return parsed


def async_url(url: str | URL) -> URL:
    """The URL with the asyncio driver we ship for its backend."""
    parsed = _parse(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite")
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+psycopg")
    raise ValueError(f"unsupported database backend: {backend}")


def sync_url(url: str | URL) -> str:
    """The URL with a blocking driver, for alembic and other code that runs outside the loop."""
    parsed = _parse(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        parsed = parsed.set(drivername="sqlite")
    elif backend == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    else:
        raise ValueError(f"unsupported database backend: {backend}")
    return parsed.render_as_string(hide_password=False)


def is_sqlite(engine: AsyncEngine | Engine) -> bool:
    return engine.dialect.name == "sqlite"


def _sqlite_file(parsed: URL) -> Path | None:
    database = parsed.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    return Path(database)


def _ensure_parent_dir(parsed: URL) -> None:
    path = _sqlite_file(parsed)
    if path is not None:
        path.resolve().parent.mkdir(parents=True, exist_ok=True)


def _install_sqlite_hooks(engine: Engine, pragmas: tuple[str, ...]) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # None = sqlite3 never emits BEGIN itself; the "begin" hook below does.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            for pragma in pragmas:
                cursor.execute(pragma)
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Reads run without BEGIN: under WAL each autocommit SELECT reads a consistent snapshot,
        # and the BEGIN plus the rollback at check-in cost about a third of every read.
        if conn.get_execution_options().get(WRITE_OPTION, False):
            conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(
    url: str,
    *,
    pool_size: int = 15,
    max_overflow: int = 0,
    pool_timeout: float = 30.0,
    connect_timeout: float = 10.0,
) -> AsyncEngine:
    """An AsyncEngine for a plain `sqlite:///…` or `postgresql://…` URL.

    The pool is per process (each uvicorn worker has its own): at most `pool_size` idle plus
    `max_overflow` extra connections; a request that finds none free waits `pool_timeout`
    seconds, then fails. On PostgreSQL, `connect_timeout` bounds opening a connection and every
    checkout is pre-pinged, so connections the server (or a failover) closed are replaced instead
    of failing a request.
    """
    parsed = async_url(url)
    kwargs: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        _ensure_parent_dir(parsed)
        if _sqlite_file(parsed) is not None:
            kwargs.update(pool_size=pool_size, max_overflow=max_overflow, pool_timeout=pool_timeout)
    else:
        kwargs.update(
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_timeout=pool_timeout,
            pool_pre_ping=True,
            connect_args=_postgresql_connect_args(parsed, connect_timeout),
        )
    engine = create_async_engine(parsed, **kwargs)
    if is_sqlite(engine):
        _install_sqlite_hooks(engine.sync_engine, _SQLITE_PRAGMAS)
        if _sqlite_file(parsed) is not None:
            _blocking_twins[engine.sync_engine.pool] = _BlockingTwin(
                _blocking_engine(parsed, pool_size, max_overflow, pool_timeout)
            )
    return engine


# The blocking sqlite3 engine on the same file as an AsyncEngine, found by the async one's pool
# (shared by its `execution_options` copies, such as `writer(engine)`).
_blocking_twins: weakref.WeakKeyDictionary[Any, _BlockingTwin] = weakref.WeakKeyDictionary()


class _BlockingTwin:
    """The blocking engine, and one reading and one writing connection per thread, kept open.

    Nothing yields to the loop while it uses them (reads are single statements, and writers take
    turns on the process's write lock), so one of each per thread is enough, and a pool checkout
    per statement would cost as much again as the statement.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.plans = direct.Plans(engine.dialect)
        self._local = threading.local()
        self._checkpointer: sqlite3.Connection | None = None
        self._checkpoint_lock = threading.Lock()
        self._open: weakref.WeakSet[Connection] = weakref.WeakSet()

    def _connection(self, role: str) -> Connection:
        conn: Connection | None = getattr(self._local, role, None)
        if conn is None or conn.closed or conn.invalidated:
            conn = self.engine.connect()
            setattr(self._local, role, conn)
            self._open.add(conn)
        return conn

    def reader(self) -> Connection:
        return self._connection("reader")

    def writer(self) -> Connection:
        conn = self._connection("writer")
        if not conn.info.get("twofold_writer"):
            # Waits for the write lock happen in `_begin_immediate`, in asyncio sleeps; once a
            # transaction holds the lock nothing it runs waits for another connection under WAL.
            raw = conn.connection.driver_connection
            assert isinstance(raw, sqlite3.Connection)
            raw.execute("PRAGMA busy_timeout=0")
            conn.info["twofold_writer"] = True
        return conn

    def checkpoint(self) -> None:
        # Its own connection: this runs in a worker thread, one call at a time.
        with self._checkpoint_lock:
            if self._checkpointer is None:
                database = self.engine.url.database
                assert database is not None
                self._checkpointer = sqlite3.connect(
                    database, timeout=0, isolation_level=None, check_same_thread=False
                )
            self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def dispose(self) -> None:
        for conn in list(self._open):
            conn.close()
        with self._checkpoint_lock:
            if self._checkpointer is not None:
                self._checkpointer.close()
                self._checkpointer = None
        self.engine.dispose()


# On the loop's connections SQLite checkpoints by itself only as a safety net, when the WAL has
# grown this many pages (~40 MB). A checkpoint writes pages back and fsyncs the database file,
# which must not happen on the event loop: the server runs `checkpoint()` in a thread instead.
_LOOP_AUTOCHECKPOINT_PAGES = 10_000


def _blocking_engine(parsed: URL, pool_size: int, max_overflow: int, pool_timeout: float) -> Engine:
    twin = create_engine(
        parsed.set(drivername="sqlite"),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=pool_timeout,
        # Used from whichever thread runs the loop; the CLI and tests run loops in several.
        connect_args={"check_same_thread": False},
    )
    _install_sqlite_hooks(
        twin, (*_SQLITE_PRAGMAS, f"PRAGMA wal_autocheckpoint={_LOOP_AUTOCHECKPOINT_PAGES}")
    )
    return twin


def blocking_engine(engine: AsyncEngine) -> Engine | None:
    """The blocking sqlite3 engine behind a SQLite-file AsyncEngine (None for any other)."""
    twin = _blocking_twins.get(engine.sync_engine.pool)
    return None if twin is None else twin.engine


def trace_statements(engine: AsyncEngine, callback: Callable[[str], object]) -> bool:
    """For profiling: call `callback(sql)` for every statement SQLite runs on the blocking
    connections of this engine, present and future. False if it has none (not a SQLite file)."""
    twin = _blocking_twins.get(engine.sync_engine.pool)
    if twin is None:
        return False

    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.set_trace_callback(callback)

    event.listen(twin.engine, "connect", _on_connect)
    for conn in list(twin._open):
        raw = conn.connection.driver_connection
        assert isinstance(raw, sqlite3.Connection)
        raw.set_trace_callback(callback)
    return True


async def checkpoint(engine: AsyncEngine) -> bool:
    """Copy a SQLite file's write-ahead log back into the database, in a worker thread, without
    waiting for readers or writers (PASSIVE). False (doing nothing) for any other database.
    The server calls this every second; see `_LOOP_AUTOCHECKPOINT_PAGES`."""
    twin = _blocking_twins.get(engine.sync_engine.pool)
    if twin is None:
        return False
    await asyncio.to_thread(twin.checkpoint)
    return True


async def dispose(engine: AsyncEngine) -> None:
    """Close every pooled connection of the engine, its blocking twin's included."""
    twin = _blocking_twins.pop(engine.sync_engine.pool, None)
    _autocommit_engines.pop(engine.sync_engine.pool, None)
    await engine.dispose()
    if twin is not None:
        twin.dispose()


def _postgresql_connect_args(parsed: URL, connect_timeout: float) -> dict[str, Any]:
    # Settings in the URL's query (…?connect_timeout=3&application_name=x) win over ours.
    args: dict[str, Any] = {}
    if "connect_timeout" not in parsed.query:
        args["connect_timeout"] = max(1, math.ceil(connect_timeout))  # libpq: whole seconds
    if "application_name" not in parsed.query:
        args["application_name"] = "twofold"  # names our sessions in pg_stat_activity
    return args


def writer(engine: AsyncEngine) -> AsyncEngine:
    """The same engine (same pool) whose transactions announce that they will write."""
    return engine.execution_options(**{WRITE_OPTION: True})


# One lock per connection pool and event loop: asyncio locks belong to the loop they run on, and
# the CLI and tests open engines under several loops in one process.
_write_locks: weakref.WeakKeyDictionary[Any, tuple[asyncio.AbstractEventLoop, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


def _write_lock(engine: AsyncEngine) -> asyncio.Lock | None:
    if not is_sqlite(engine):
        return None  # PostgreSQL runs concurrent writers; row locks decide.
    pool = engine.sync_engine.pool
    loop = asyncio.get_running_loop()
    entry = _write_locks.get(pool)
    if entry is None or entry[0] is not loop:
        entry = (loop, asyncio.Lock())
        _write_locks[pool] = entry
    return entry[1]


class Result(Protocol):
    """What repositories use of a statement's result (SQLAlchemy's CursorResult has it all)."""

    @property
    def rowcount(self) -> int: ...

    def first(self) -> Any: ...

    def all(self) -> Sequence[Any]: ...

    def scalar_one(self) -> Any: ...

    def scalar_one_or_none(self) -> Any: ...


class Conn(Protocol):
    """What repositories need of a connection: run a statement, get its result.

    Run a statement with `parameters` only if it is built once (at import or in `__init__`),
    with `bindparam`s: on a SQLite file such statements are compiled once and run straight on
    the driver (see `direct`).
    """

    async def execute(
        self, statement: Executable, parameters: Mapping[str, Any] | None = None
    ) -> Result: ...


class _AsyncConn:
    __slots__ = ("_conn", "_plans", "_raw")

    def __init__(self, conn: AsyncConnection, plans: direct.Plans | None = None) -> None:
        self._conn = conn
        self._plans = plans
        self._raw: Any = None

    async def execute(
        self, statement: Executable, parameters: Mapping[str, Any] | None = None
    ) -> Result:
        if parameters is not None and self._plans is not None:
            plan = self._plans.get(statement)
            if plan is not None:
                if self._raw is None:
                    self._raw = (await self._conn.get_raw_connection()).driver_connection
                return await direct.run_psycopg(self._raw, plan, parameters)
        return await self._conn.execute(statement, parameters)

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        async with self._conn.begin_nested():
            yield


class _BlockingConn:
    __slots__ = ("_conn", "_plans")

    def __init__(self, conn: Connection, plans: direct.Plans) -> None:
        self._conn = conn
        self._plans = plans

    async def execute(
        self, statement: Executable, parameters: Mapping[str, Any] | None = None
    ) -> Result:
        if parameters is not None:
            plan = self._plans.get(statement)
            if plan is not None:
                raw = self._conn.connection.driver_connection
                assert isinstance(raw, sqlite3.Connection)
                return direct.run_sqlite(raw, plan, parameters)
        return self._conn.execute(statement, parameters)


@asynccontextmanager
async def read_connection(engine: AsyncEngine) -> AsyncIterator[Conn]:
    """A connection for reads, without a transaction: each read is one statement, which sees a
    consistent snapshot on its own (SQLite: see `_on_begin`; PostgreSQL: autocommit, which
    saves the BEGIN and the ROLLBACK round trips, about a third of a read's CPU)."""
    twin = _blocking_twins.get(engine.sync_engine.pool)
    if twin is None:
        if is_sqlite(engine):  # an in-memory database: aiosqlite, as the tests' engines
            async with engine.connect() as conn:
                yield _AsyncConn(conn)
            return
        async with _autocommit(engine).connect() as conn:
            yield _AsyncConn(conn, _postgresql_plans(engine))
        return
    blocking = twin.reader()
    try:
        yield _BlockingConn(blocking, twin.plans)
    finally:
        # No BEGIN was sent (see `_on_begin`); this only ends SQLAlchemy's own bookkeeping.
        blocking.rollback()


# The value refers to its key (the options engine shares the pool), so entries outlive their
# engine until `dispose` removes them; one per engine a process makes.
_autocommit_engines: dict[Any, AsyncEngine] = {}


def _autocommit(engine: AsyncEngine) -> AsyncEngine:
    # execution_options() builds a new engine object each call; keep one per pool.
    pool = engine.sync_engine.pool
    reader = _autocommit_engines.get(pool)
    if reader is None:
        reader = _autocommit_engines[pool] = engine.execution_options(isolation_level="AUTOCOMMIT")
    return reader


_plans_by_pool: weakref.WeakKeyDictionary[Any, direct.Plans] = weakref.WeakKeyDictionary()


def _postgresql_plans(engine: AsyncEngine) -> direct.Plans:
    pool = engine.sync_engine.pool
    plans = _plans_by_pool.get(pool)
    if plans is None:
        plans = _plans_by_pool[pool] = direct.Plans(engine.dialect)
    return plans


# The unit of work open in this task, if any: (pool, task, connection).
_unit: ContextVar[tuple[Any, object, Conn] | None] = ContextVar("twofold_unit", default=None)


def _joined(engine: AsyncEngine) -> Conn | None:
    unit = _unit.get()
    if unit is None or unit[0] is not engine.sync_engine.pool:
        return None
    if unit[1] is asyncio.current_task():
        return unit[2]
    # Child tasks inherit context variables. Writing on the unit's connection would interleave
    # with the parent, and waiting for a transaction of its own would wait for the parent,
    # which waits for the child: refuse instead of hanging.
    raise RuntimeError("a task started inside a unit of work cannot write to its database")


@asynccontextmanager
async def unit_of_work(engine: AsyncEngine) -> AsyncIterator[None]:
    """One transaction for every write on this engine in the block, by this task: they commit
    together when the block ends and roll back together if it raises.

    Keep it short and free of slow work (on SQLite it holds the write lock). Inside it, a
    statement that fails must fail the block: PostgreSQL refuses further statements in a
    transaction after an error.
    """
    if _joined(engine) is not None:
        yield
        return
    async with write_transaction(engine) as conn:
        token = _unit.set((engine.sync_engine.pool, asyncio.current_task(), conn))
        try:
            yield
        finally:
            _unit.reset(token)


@asynccontextmanager
async def write_transaction(engine: AsyncEngine) -> AsyncIterator[Conn]:
    """A write transaction; on SQLite one at a time per process (see the module docstring).
    Inside a `unit_of_work` it is that unit's transaction.

    Never open a second one inside the first in the same task: the lock is not re-entrant.
    """
    joined = _joined(engine)
    if joined is not None:
        yield joined
        return
    lock = _write_lock(engine)
    if lock is None:
        async with writer(engine).begin() as conn:
            yield _AsyncConn(conn, _postgresql_plans(engine))
        return
    twin = _blocking_twins.get(engine.sync_engine.pool)
    if twin is None:
        async with lock, writer(engine).begin() as conn:
            yield _AsyncConn(conn)
        return
    async with lock:
        blocking = twin.writer()
        await _begin_immediate(blocking)
        with blocking.begin():
            yield _BlockingConn(blocking, twin.plans)
            raw = blocking.connection.driver_connection
            assert isinstance(raw, sqlite3.Connection)
            if not raw.in_transaction:
                # SQLite rolls a whole transaction back on some errors (SQLITE_FULL, IOERR,
                # NOMEM, a trigger's RAISE(ROLLBACK)). If the caller swallowed that error (the
                # audit trail does), COMMIT would silently commit nothing: fail instead.
                raise OperationalError(
                    "COMMIT", None, sqlite3.OperationalError("the transaction was rolled back")
                )


@asynccontextmanager
async def tolerant_write(engine: AsyncEngine) -> AsyncIterator[Conn]:
    """A write whose failure its caller swallows (the audit trail's): alone, a transaction of
    its own; inside a unit of work on PostgreSQL, a savepoint, because a failed statement there
    aborts the whole transaction and the unit could no longer commit. SQLite undoes only the
    failed statement, so there it simply joins the unit."""
    joined = _joined(engine)
    if joined is None or not isinstance(joined, _AsyncConn) or is_sqlite(engine):
        async with write_transaction(engine) as conn:
            yield conn
        return
    async with joined.savepoint():
        yield joined


_RETRY_FIRST_S = 0.0005
_RETRY_MAX_S = 0.02


async def _begin_immediate(conn: Connection) -> None:
    """BEGIN IMMEDIATE on the writer connection, waiting for another process's lock by sleeping.

    busy_timeout would wait inside sqlite3, on the loop's thread, stalling every request of the
    process; so the writer connection has it at 0 and the wait happens here, in asyncio sleeps.
    """
    raw = conn.connection.driver_connection
    assert isinstance(raw, sqlite3.Connection)
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    delay = _RETRY_FIRST_S
    while True:
        try:
            raw.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            busy = exc.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY  # SQLITE_BUSY_* too
            if not busy or time.monotonic() >= deadline:
                raise OperationalError("BEGIN IMMEDIATE", None, exc) from exc
        await asyncio.sleep(delay)
        delay = min(delay * 2, _RETRY_MAX_S)


def make_sync_engine(url: str) -> Engine:
    """A blocking engine without pooling, for migrations run once before the server starts."""
    parsed = make_url(sync_url(url))
    if parsed.get_backend_name() == "sqlite":
        _ensure_parent_dir(parsed)
    # Every migration transaction writes, so it takes the write lock up front.
    engine = create_engine(parsed, poolclass=NullPool, execution_options={WRITE_OPTION: True})
    if is_sqlite(engine):
        _install_sqlite_hooks(engine, _SQLITE_MIGRATION_PRAGMAS)
    return engine


async def ping(engine: AsyncEngine) -> None:
    """One round trip to the database (a pooled connection and `SELECT 1`); raises if it fails."""
    async with read_connection(engine) as conn:
        await conn.execute(text("SELECT 1"))

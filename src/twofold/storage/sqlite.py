"""SQLite as a server database: per-connection settings, write transactions that take the write
lock up front, and statements on the event loop's own thread.

- WAL lets readers proceed while one writer commits.
- busy_timeout makes a second writer wait for the lock instead of failing at once.
- foreign_keys=ON is off by default in SQLite, and we rely on ON DELETE CASCADE.
- synchronous=NORMAL is durable enough under WAL (a power cut can lose the last commits, never
  corrupt the file) and avoids an fsync per commit.
- Writes start with BEGIN IMMEDIATE: taking the write lock up front means a transaction never
  has to upgrade a read lock, which is where SQLite gives up with "database is locked" without
  honouring busy_timeout. sqlite3's own implicit BEGIN is switched off so that we control it.
- Statements on a SQLite file run on the event loop's own thread, through the blocking sqlite3
  driver (`SqliteFile`). An indexed statement costs SQLite microseconds; handing it to
  aiosqlite's thread and back costs about ten times that, in four hops per statement, and that
  was most of a grant's CPU. The loop is never held waiting for a lock: a write transaction
  takes SQLite's write lock without blocking (busy_timeout 0 at BEGIN) and, while another
  process holds it, retries after short asyncio sleeps (`begin_immediate`). Once a transaction
  has the lock it runs to its end without yielding to the loop, so no other task of this process
  waits behind it and another process waits at most that long. The AsyncEngine (aiosqlite)
  stays for code that needs one (migrations' revision check, tests) and for in-memory databases
  (`SqliteMemory`).

Writers of one process also take turns on an asyncio lock (see `transactions`): SQLite has one
writer anyway, and letting pooled connections race for its lock only makes the losers sleep.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
import weakref
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.base import Executable

from twofold.storage import direct
from twofold.storage.connections import AsyncConn, Conn, Result
from twofold.storage.failures import is_unavailable, translated, unavailable

BUSY_TIMEOUT_MS = 10_000

# Execution option that marks a connection as a writer, so the BEGIN hook takes the write lock.
WRITE_OPTION = "twofold_write"

PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}",
    "PRAGMA foreign_keys=ON",
    "PRAGMA synchronous=NORMAL",
)
# Migrations keep foreign keys off: SQLite batch migrations copy and drop tables, and dropping a
# parent table with foreign keys on would cascade-delete the children.
MIGRATION_PRAGMAS = tuple(p for p in PRAGMAS if "foreign_keys" not in p)

# On the loop's connections SQLite checkpoints by itself only as a safety net, when the WAL has
# grown this many pages (~40 MB). A checkpoint writes pages back and fsyncs the database file,
# which must not happen on the event loop: the server runs `SqliteFile.checkpoint` in a thread.
LOOP_AUTOCHECKPOINT_PAGES = 10_000

_RETRY_FIRST_S = 0.0005
_RETRY_MAX_S = 0.02


def database_file(parsed: URL) -> Path | None:
    """The file a SQLite URL names; None for an in-memory or URI database."""
    database = parsed.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    return Path(database)


def ensure_parent_dir(parsed: URL) -> None:
    path = database_file(parsed)
    if path is not None:
        path.resolve().parent.mkdir(parents=True, exist_ok=True)


def install_hooks(engine: Engine, pragmas: tuple[str, ...]) -> None:
    """Run `pragmas` on every new connection, and BEGIN IMMEDIATE for writers' transactions."""

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


def writer(engine: AsyncEngine) -> AsyncEngine:
    """The same engine (same pool) whose transactions announce that they will write."""
    return engine.execution_options(**{WRITE_OPTION: True})


def _raw(conn: Connection) -> sqlite3.Connection:
    raw = conn.connection.driver_connection
    assert isinstance(raw, sqlite3.Connection)
    return raw


class BlockingConn:
    """A blocking sqlite3 connection; statements that have a plan run straight on sqlite3."""

    __slots__ = ("_conn", "_plans", "_raw")

    def __init__(self, conn: Connection, plans: direct.Plans) -> None:
        self._conn = conn
        self._plans = plans
        self._raw: sqlite3.Connection | None = None

    async def execute(
        self, statement: Executable, parameters: Mapping[str, Any] | None = None
    ) -> Result:
        if parameters is not None:
            plan = self._plans.get(statement)
            if plan is not None:
                raw = self._raw
                if raw is None:
                    raw = self._raw = _raw(self._conn)
                return direct.run_sqlite(raw, plan, parameters)
        return self._conn.execute(statement, parameters)


async def begin_immediate(conn: Connection) -> None:
    """BEGIN IMMEDIATE on the writer connection, waiting for another process's lock by sleeping.

    busy_timeout would wait inside sqlite3, on the loop's thread, stalling every request of the
    process; so the writer connection has it at 0 and the wait happens here, in asyncio sleeps.
    """
    raw = _raw(conn)
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


# Stateless, so one instance serves every block.
_NOTHING: AbstractAsyncContextManager[None] = nullcontext()


class _Read:
    """A read on the thread's reading connection. A class rather than a generator-based
    context manager: a request makes several reads, and the generator's machinery cost more
    than the SQLite work of an indexed read."""

    __slots__ = ("_blocking", "_plans")

    def __init__(self, blocking: Connection, plans: direct.Plans) -> None:
        self._blocking = blocking
        self._plans = plans

    async def __aenter__(self) -> Conn:
        return BlockingConn(self._blocking, self._plans)

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, _tb: Any
    ) -> None:
        try:
            if isinstance(error, SQLAlchemyError) and is_unavailable(error):
                raise unavailable(error) from error
        finally:
            # No BEGIN was sent (see `install_hooks`); this only ends SQLAlchemy's bookkeeping.
            self._blocking.rollback()


async def _in_turn(
    read: AbstractAsyncContextManager[Conn],
    statements: Sequence[tuple[Executable, Mapping[str, Any]]],
) -> list[Result]:
    """Reads together on SQLite: one after another on one reading connection. A statement costs
    microseconds here; there is no round trip for a pipeline to save."""
    async with read as conn:
        return [await conn.execute(statement, values) for statement, values in statements]


class SqliteFile:
    """A SQLite file served on the loop's thread: the blocking engine (the async engine's twin),
    its compiled statements, and one reading and one writing connection per thread, kept open.

    Nothing yields to the loop while they are in use (reads are single statements, and writers
    take turns on the process's write lock), so one of each per thread is enough, and a pool
    checkout per statement would cost as much again as the statement.
    """

    serial_writes = True

    def __init__(self, parsed: URL, pool_size: int, max_overflow: int, pool_timeout: float) -> None:
        self.engine = create_engine(
            parsed.set(drivername="sqlite"),
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_timeout=pool_timeout,
            # Used from whichever thread runs the loop; the CLI and tests run loops in several.
            connect_args={"check_same_thread": False},
        )
        install_hooks(
            self.engine, (*PRAGMAS, f"PRAGMA wal_autocheckpoint={LOOP_AUTOCHECKPOINT_PAGES}")
        )
        self.plans = direct.Plans(self.engine.dialect)
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

    def _writer(self) -> Connection:
        conn = self._connection("writer")
        if not conn.info.get("twofold_writer"):
            # Waits for the write lock happen in `begin_immediate`, in asyncio sleeps; once a
            # transaction holds the lock nothing it runs waits for another connection under WAL.
            _raw(conn).execute("PRAGMA busy_timeout=0")
            conn.info["twofold_writer"] = True
        return conn

    def read(self) -> AbstractAsyncContextManager[Conn]:
        return _Read(self._connection("reader"), self.plans)

    async def read_together(
        self, statements: Sequence[tuple[Executable, Mapping[str, Any]]]
    ) -> list[Result]:
        return await _in_turn(self.read(), statements)

    def shared_connection(self) -> AbstractAsyncContextManager[None]:
        # Reads already share the thread's one reading connection; writes take the write lock
        # and the one writing connection.
        return _NOTHING

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[Conn]:
        """A write transaction; the caller holds the process's write lock."""
        blocking = self._writer()
        with translated():
            await begin_immediate(blocking)
            with blocking.begin():
                yield BlockingConn(blocking, self.plans)
                if not _raw(blocking).in_transaction:
                    # SQLite rolls a whole transaction back on some errors (SQLITE_FULL, IOERR,
                    # NOMEM, a trigger's RAISE(ROLLBACK)). If the caller swallowed that error
                    # (the audit trail does), COMMIT would silently commit nothing: fail instead.
                    raise OperationalError(
                        "COMMIT", None, sqlite3.OperationalError("the transaction was rolled back")
                    )

    async def isolated_write(
        self,
        conn: Conn,
        statement: Executable,
        parameters: Mapping[str, Any],
        _on_failure: Callable[[Exception], None] | None,
    ) -> None:
        # SQLite undoes only the failed statement: a failed write can simply join, now (a
        # statement costs microseconds here, there is no round trip to save).
        await conn.execute(statement, parameters)

    def checkpoint(self) -> None:
        """PASSIVE checkpoint, blocking: run it in a worker thread, one call at a time."""
        with self._checkpoint_lock:
            if self._checkpointer is None:
                database = self.engine.url.database
                assert database is not None
                self._checkpointer = sqlite3.connect(
                    database, timeout=0, isolation_level=None, check_same_thread=False
                )
            self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def trace(self, callback: Callable[[str], object]) -> None:
        """Call `callback(sql)` for every statement run on these connections, present and future."""

        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.set_trace_callback(callback)

        event.listen(self.engine, "connect", _on_connect)
        for conn in list(self._open):
            _raw(conn).set_trace_callback(callback)

    def dispose(self) -> None:
        for conn in list(self._open):
            conn.close()
        with self._checkpoint_lock:
            if self._checkpointer is not None:
                self._checkpointer.close()
                self._checkpointer = None
        self.engine.dispose()


class SqliteMemory:
    """An in-memory (or URI) SQLite database, through aiosqlite, as the tests' engines."""

    serial_writes = True

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._writer = writer(engine)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Conn]:
        with translated():
            async with self._engine.connect() as conn:
                yield AsyncConn(conn)

    async def read_together(
        self, statements: Sequence[tuple[Executable, Mapping[str, Any]]]
    ) -> list[Result]:
        return await _in_turn(self.read(), statements)

    def shared_connection(self) -> AbstractAsyncContextManager[None]:
        return _NOTHING

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[Conn]:
        with translated():
            async with self._writer.begin() as conn:
                yield AsyncConn(conn)

    async def isolated_write(
        self,
        conn: Conn,
        statement: Executable,
        parameters: Mapping[str, Any],
        _on_failure: Callable[[Exception], None] | None,
    ) -> None:
        await conn.execute(statement, parameters)

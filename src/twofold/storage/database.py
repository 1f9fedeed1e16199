"""The database a process serves from: one object that owns the async engine, the blocking
twin of a SQLite file, the write lock and the compiled statements.

The composition root opens it (`Database.open(url)`, after `migrate.upgrade(url)` on SQLite) and
hands it to every repository and to the SQL state store; they read and write only through it:

    async with database.read_connection() as conn: ...
    async with database.write_transaction() as conn: ...
    async with database.unit_of_work(): ...   # every write of the block in one transaction

What each backend does is in `sqlite` and `postgresql`; the write discipline in `transactions`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool
from sqlalchemy.sql.base import Executable

from twofold.storage import postgresql, sqlite
from twofold.storage.connections import Conn, Result
from twofold.storage.postgresql import PostgreSQL
from twofold.storage.sqlite import SqliteFile, SqliteMemory
from twofold.storage.transactions import Transactions
from twofold.storage.urls import async_url, sync_url


class Database:
    """One database and everything a process keeps for it. Build it with `Database.open`."""

    read_connection: Callable[[], AbstractAsyncContextManager[Conn]]
    """A connection for reads, without a transaction: each read is one statement, which sees a
    consistent snapshot on its own."""
    write_transaction: Callable[[], AbstractAsyncContextManager[Conn]]
    """A write transaction; inside a `unit_of_work`, that unit's (see `transactions`)."""
    tolerant_write: Callable[
        [Executable, Mapping[str, Any], Callable[[Exception], None] | None], Awaitable[None]
    ]
    """A write whose failure its caller swallows without spoiling an open unit of work."""
    unit_of_work: Callable[[], AbstractAsyncContextManager[None]]
    """Every write of this task on this database in the block, in one transaction."""
    read_together: Callable[
        [Sequence[tuple[Executable, Mapping[str, Any]]]], Awaitable[list[Result]]
    ]
    """Reads whose values do not depend on each other's results, in one round trip where the
    database allows it (a PostgreSQL pipeline); their results in order."""
    shared_connection: Callable[[], AbstractAsyncContextManager[None]]
    """This task's statements in the block (its reads, and the write transactions it opens) on
    one connection, where taking one from the pool costs work (PostgreSQL)."""

    def __init__(self, engine: AsyncEngine, backend: SqliteFile | SqliteMemory | PostgreSQL):
        self.engine = engine
        self.dialect_name: str = engine.dialect.name
        self._backend = backend
        transactions = Transactions(backend)
        # Bound methods, not wrappers: these run several times per request.
        self.read_connection = backend.read
        self.write_transaction = transactions.write_transaction
        self.tolerant_write = transactions.tolerant_write
        self.unit_of_work = transactions.unit_of_work
        self.read_together = backend.read_together
        self.shared_connection = backend.shared_connection

    @classmethod
    def open(
        cls,
        url: str,
        *,
        pool_size: int = 15,
        max_overflow: int = 0,
        pool_timeout: float = 30.0,
        connect_timeout: float = 10.0,
        prepared_statements: bool = True,
    ) -> Database:
        """The database at a plain `sqlite:///…` or `postgresql://…` URL.

        The pool is per process (each uvicorn worker has its own): at most `pool_size` idle plus
        `max_overflow` extra connections; a request that finds none free waits `pool_timeout`
        seconds, then fails. On PostgreSQL, `connect_timeout` bounds opening a connection and
        a connection idle for more than a second is pinged on checkout, so connections the
        server (or a failover) closed are replaced instead of failing a request
        (`postgresql.IdlePing`); `prepared_statements=False` keeps psycopg from preparing
        statements on the server (for PgBouncer in transaction mode before 1.21).
        """
        parsed = async_url(url)
        pool: dict[str, Any] = {
            "pool_size": pool_size,
            "max_overflow": max_overflow,
            "pool_timeout": pool_timeout,
        }
        if parsed.get_backend_name() == "postgresql":
            engine = create_async_engine(
                parsed,
                **pool,
                # Transactions are begun by hand (see `postgresql`): no BEGIN for a read, and a
                # write's BEGIN rides with its first statement.
                isolation_level="AUTOCOMMIT",
                connect_args=postgresql.connect_args(
                    parsed, connect_timeout, prepared_statements=prepared_statements
                ),
            )
            return cls(engine, PostgreSQL(engine))
        sqlite.ensure_parent_dir(parsed)
        on_file = sqlite.database_file(parsed) is not None
        engine = create_async_engine(parsed, **(pool if on_file else {}))
        sqlite.install_hooks(engine.sync_engine, sqlite.PRAGMAS)
        if not on_file:
            return cls(engine, SqliteMemory(engine))
        return cls(engine, SqliteFile(parsed, pool_size, max_overflow, pool_timeout))

    @property
    def is_sqlite(self) -> bool:
        return self.dialect_name == "sqlite"

    @property
    def blocking_engine(self) -> Engine | None:
        """The blocking sqlite3 engine statements run on, for a SQLite file (else None)."""
        return self._backend.engine if isinstance(self._backend, SqliteFile) else None

    def trace_statements(self, callback: Callable[[str], object]) -> bool:
        """For profiling: call `callback(sql)` for every statement SQLite runs on the blocking
        connections, present and future. False if there are none (not a SQLite file)."""
        if not isinstance(self._backend, SqliteFile):
            return False
        self._backend.trace(callback)
        return True

    async def checkpoint(self) -> bool:
        """Copy a SQLite file's write-ahead log back into the database, in a worker thread,
        without waiting for readers or writers (PASSIVE). False (doing nothing) for any other
        database. The server calls this every second (see `sqlite.LOOP_AUTOCHECKPOINT_PAGES`)."""
        if not isinstance(self._backend, SqliteFile):
            return False
        await asyncio.to_thread(self._backend.checkpoint)
        return True

    async def ping(self) -> None:
        """One round trip to the database (a pooled connection and `SELECT 1`); raises if it
        fails."""
        async with self.read_connection() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        """Close every pooled connection, the blocking twin's included."""
        await self.engine.dispose()
        if isinstance(self._backend, SqliteFile):
            self._backend.dispose()


def make_sync_engine(url: str) -> Engine:
    """A blocking engine without pooling, for migrations run once before the server starts."""
    parsed = make_url(sync_url(url))
    if parsed.get_backend_name() == "sqlite":
        sqlite.ensure_parent_dir(parsed)
    # Every migration transaction writes, so it takes the write lock up front.
    engine = create_engine(
        parsed, poolclass=NullPool, execution_options={sqlite.WRITE_OPTION: True}
    )
    if engine.dialect.name == "sqlite":
        sqlite.install_hooks(engine, sqlite.MIGRATION_PRAGMAS)
    return engine

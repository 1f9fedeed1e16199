"""PostgreSQL: connection settings, and statements straight on psycopg.

PostgreSQL needs no per-connection settings: at READ COMMITTED, each single-use write is one
conditional statement (UPDATE … WHERE, INSERT … ON CONFLICT, DELETE … RETURNING) that re-checks
its condition after waiting for a concurrent writer's row lock, so exactly one of them wins.
Writers run concurrently; row locks decide.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from twofold.storage import direct
from twofold.storage.connections import AsyncConn, Conn
from twofold.storage.failures import translated


def connect_args(parsed: URL, connect_timeout: float) -> dict[str, Any]:
    """psycopg's connect arguments; settings in the URL's query
    (…?connect_timeout=3&application_name=x) win over ours."""
    args: dict[str, Any] = {}
    if "connect_timeout" not in parsed.query:
        args["connect_timeout"] = max(1, math.ceil(connect_timeout))  # libpq: whole seconds
    if "application_name" not in parsed.query:
        args["application_name"] = "twofold"  # names our sessions in pg_stat_activity
    return args


class PostgreSQL:
    """Reads in autocommit (one statement each, which sees a consistent snapshot on its own: that
    saves the BEGIN and the ROLLBACK round trips, about a third of a read's CPU), writes in
    transactions, and statements built once compiled once and run on psycopg. A lost or
    unreachable server is `BackendUnavailable` (see `failures`); the pool's pre-ping replaces
    dead connections, so the next request after the server is back just works."""

    serial_writes = False

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        self.plans = direct.Plans(engine.dialect)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Conn]:
        with translated():
            async with self._autocommit.connect() as conn:
                yield AsyncConn(conn, self.plans)

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[Conn]:
        with translated():
            async with self._engine.begin() as conn:
                yield AsyncConn(conn, self.plans)

    def savepoint(self, conn: Conn) -> AbstractAsyncContextManager[None] | None:
        # A failed statement aborts the whole transaction: a write whose failure is swallowed
        # inside a unit of work runs in a savepoint, so the unit can still commit.
        return conn.savepoint() if isinstance(conn, AsyncConn) else None

"""PostgreSQL: connection settings, and statements straight on psycopg.

PostgreSQL needs no per-connection settings: at READ COMMITTED, each single-use write is one
conditional statement (UPDATE … WHERE, INSERT … ON CONFLICT, DELETE … RETURNING) that re-checks
its condition after waiting for a concurrent writer's row lock, so exactly one of them wins.
Writers run concurrently; row locks decide.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.base import Executable
from sqlalchemy.util import greenlet_spawn

from twofold.core.errors import BackendUnavailable
from twofold.storage import direct
from twofold.storage.connections import Conn, Result
from twofold.storage.failures import translated


def connect_args(
    parsed: URL, connect_timeout: float, *, prepared_statements: bool = True
) -> dict[str, Any]:
    """psycopg's connect arguments; settings in the URL's query
    (…?connect_timeout=3&application_name=x) win over ours."""
    # psycopg prepares a statement run five times on a connection; PgBouncer before 1.21 in
    # transaction mode runs the next transaction on another server connection, which does not
    # have it (and two clients sharing a server connection collide on its name).
    args: dict[str, Any] = {} if prepared_statements else {"prepare_threshold": None}
    if "connect_timeout" not in parsed.query:
        args["connect_timeout"] = max(1, math.ceil(connect_timeout))  # libpq: whole seconds
    if "application_name" not in parsed.query:
        args["application_name"] = "twofold"  # names our sessions in pg_stat_activity
    return args


# A pooled connection idle for longer than this is pinged before use. The ping was a third of
# a grant's round trips when every checkout paid it, and under load a connection comes back to
# the pool within milliseconds; connections that idled are what servers and proxies close
# (idle timeouts), so those are still checked.
IDLE_BEFORE_PING_S = 1.0
_LAST_USED = "twofold_last_used"
_CURSORS = "twofold_cursors"


class IdlePing:
    """Pings a connection on checkout when it sat in the pool for more than `IDLE_BEFORE_PING_S`, or
    was last used before this process last lost a connection (`lost_one`): a server restart or
    a failover kills every connection at once, and the direct path's errors do not invalidate
    the pool as SQLAlchemy's own do. A connection that fails its ping is dropped with every
    pooled connection older than it, as SQLAlchemy's pre-ping does, and the checkout gets a new
    one."""

    def __init__(self, engine: Engine) -> None:
        self._lost_at = 0.0
        self._dialect = engine.dialect
        event.listen(engine.pool, "connect", self._used)
        event.listen(engine.pool, "checkin", self._used)
        event.listen(engine.pool, "checkout", self._checkout)

    def lost_one(self) -> None:
        self._lost_at = time.monotonic()

    def _used(self, _dbapi_connection: Any, record: Any) -> None:
        record.info[_LAST_USED] = time.monotonic()

    def _checkout(self, dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        last_used = record.info.get(_LAST_USED)
        if (
            last_used is not None
            and last_used > self._lost_at
            and time.monotonic() - last_used <= IDLE_BEFORE_PING_S
        ):
            return
        try:
            alive = self._dialect.do_ping(dbapi_connection)
        except Exception as error:
            raise exc.InvalidatePoolError(type(error).__name__) from None
        if not alive:
            raise exc.InvalidatePoolError("ping failed")


class PooledConn:
    """A connection from SQLAlchemy's pool, taken without SQLAlchemy's `Connection` around it.

    Checking a `Connection` out and in costs about as much CPU as the statement run on it (its
    construction, events, autobegin and reset, each through the greenlet bridge), and the direct
    path needs none of it. A statement without a plan (see `direct`) gets a `Connection` around
    this same pooled connection, made on first need.

    The pool's connections are in autocommit mode. After `begin()`, the next statement goes out
    in one query behind BEGIN; `commit()` or `rollback()` ends the transaction.
    """

    __slots__ = (
        "_async_engine",
        "_cursors",
        "_deferred",
        "_fairy",
        "_pending_begin",
        "_plans",
        "_sa",
        "raw",
    )

    def __init__(self, async_engine: AsyncEngine, fairy: Any, plans: direct.Plans) -> None:
        self._async_engine = async_engine
        self._fairy = fairy
        self._plans = plans
        self._pending_begin = False
        self._sa: AsyncConnection | None = None
        self.raw: Any = fairy.driver_connection
        # Kept with the pooled connection: the pool clears a record's `info` whenever it
        # replaces the driver connection, so these never outlive theirs.
        cursors = fairy.info.get(_CURSORS)
        if cursors is None:
            cursors = fairy.info[_CURSORS] = direct.Cursors(self.raw)
        self._cursors: direct.Cursors = cursors
        # A write in a savepoint that goes out later (see `defer_in_savepoint`), with what to
        # call if it fails.
        self._deferred: tuple[direct.Plan, Mapping[str, Any], Callable[[Exception], None]] | None
        self._deferred = None

    async def _next_statement(self) -> bool:
        """Before this connection's next statement: send a deferred write first, and say whether
        BEGIN must go with it (taking that on)."""
        if self._deferred is not None:
            await self._flush()
        begin, self._pending_begin = self._pending_begin, False
        return begin

    async def _sqlalchemy(self) -> AsyncConnection:
        if await self._next_statement():
            await self._driver_call(self._cursors.cursor.execute(direct.BEGIN))
        if self._sa is None:
            sync = Connection(self._async_engine.sync_engine, connection=self._fairy)
            self._sa = AsyncConnection(self._async_engine, sync)
        return self._sa

    async def execute(
        self, statement: Executable, parameters: Mapping[str, Any] | None = None
    ) -> Result:
        if parameters is not None:
            plan = self._plans.get(statement)
            if plan is not None:
                begin = await self._next_statement()
                return await direct.run_psycopg(self._cursors, plan, parameters, begin=begin)
        return await (await self._sqlalchemy()).execute(statement, parameters)

    async def execute_together(
        self, statements: Sequence[tuple[Executable, Mapping[str, Any]]]
    ) -> list[Result]:
        """Statements whose values do not depend on each other's results, in one round trip
        when each has a plan."""
        runs = []
        for statement, parameters in statements:
            plan = self._plans.get(statement)
            if plan is None:
                return [await self.execute(s, p) for s, p in statements]
            runs.append((plan, parameters))
        begin = await self._next_statement()
        return list(await direct.run_psycopg_together(self._cursors, runs, begin=begin))

    async def execute_in_savepoint(
        self, statement: Executable, parameters: Mapping[str, Any]
    ) -> Result:
        """Run one statement, inside the transaction, in a savepoint of its own: if it fails,
        the transaction is as it was before it and can go on."""
        plan = self._plans.get(statement)
        if plan is not None:
            begin = await self._next_statement()
            return await direct.run_psycopg_in_savepoint(
                self._cursors, plan, parameters, begin=begin
            )
        conn = await self._sqlalchemy()
        async with conn.begin_nested():
            return await conn.execute(statement, parameters)

    async def defer_in_savepoint(
        self,
        statement: Executable,
        parameters: Mapping[str, Any],
        on_failure: Callable[[Exception], None],
    ) -> None:
        """`execute_in_savepoint`, sent later: with this connection's next statement, or in one
        query with COMMIT, which saves the round trip when it is a transaction's last write
        (an audit row). If it fails then, the transaction goes on without it and `on_failure`
        gets the error. Before a transaction's first statement (BEGIN still to go) it runs now."""
        plan = self._plans.get(statement)
        if plan is None or self._pending_begin:
            await self.execute_in_savepoint(statement, parameters)
            return
        if self._deferred is not None:
            await self._flush()
        self._deferred = (plan, parameters, on_failure)

    async def _flush(self) -> None:
        deferred, self._deferred = self._deferred, None
        if deferred is None:
            return
        plan, parameters, on_failure = deferred
        try:
            await direct.run_psycopg_in_savepoint(self._cursors, plan, parameters)
        except exc.DBAPIError as error:
            if not self._in_transaction():
                raise  # not rolled back to its savepoint (the connection was lost, say)
            on_failure(error)

    def _status(self, name: str) -> bool:
        """Whether the server-side transaction status is `name` (IDLE, INTRANS, INERROR…)."""
        from psycopg.pq import TransactionStatus

        return bool(self.raw.info.transaction_status == TransactionStatus[name])

    def _in_transaction(self) -> bool:
        return self._status("INTRANS")

    @staticmethod
    async def _driver_call(call: Awaitable[Any]) -> Any:
        import psycopg

        try:
            return await call
        except psycopg.Error as error:
            raise exc.DBAPIError.instance(None, None, error, psycopg.Error) from error

    def aborted(self) -> bool:
        return self._status("INERROR")

    def begin(self) -> None:
        """Start a transaction with the next statement."""
        if self._pending_begin or not self._status("IDLE"):
            # A write transaction inside another on the task's one connection would be part of
            # it, and commit with it: never what its caller means.
            raise RuntimeError("a write transaction is already open on this task's connection")
        self._pending_begin = True

    async def rollback(self) -> None:
        """End the transaction, if one was begun, undoing it. A connection that cannot roll
        back (lost) is left for the pool to close when it comes back."""
        import psycopg

        self._deferred = None
        if self._pending_begin:
            self._pending_begin = False
            return
        with contextlib.suppress(psycopg.Error):
            await self.raw.rollback()

    async def commit(self) -> None:
        deferred, self._deferred = self._deferred, None
        if deferred is None:
            # psycopg's commit() sends COMMIT whenever the server has a transaction open,
            # autocommit or not, and nothing when none was begun.
            await self._driver_call(self.raw.commit())
            return
        plan, parameters, on_failure = deferred
        try:
            await direct.run_psycopg_in_savepoint(self._cursors, plan, parameters, commit=True)
        except exc.DBAPIError as error:
            if not self._in_transaction():
                raise  # COMMIT failed, or the connection was lost
            # The write failed and was rolled back to its savepoint; COMMIT, behind it in the
            # query, was skipped.
            await self._driver_call(self.raw.commit())
            on_failure(error)

    async def release(self) -> None:
        """Back to the pool, whose reset rolls back whatever transaction is still open (and
        closes the connection if that fails)."""
        if self._sa is not None:
            await self._sa.close()
        else:
            await greenlet_spawn(self._fairy.close)


# The connection this task's statements share, if any: (its backend, the task, the connection).
_shared: ContextVar[tuple[PostgreSQL, object, PooledConn] | None] = ContextVar(
    "twofold_shared_connection", default=None
)


class PostgreSQL:
    """Connections in autocommit mode: a read is one statement, which sees a consistent snapshot
    on its own (no BEGIN and ROLLBACK round trips, about a third of a read's CPU); a write
    transaction sends its BEGIN in one query with its first statement, and COMMIT at its end.
    Statements built once are compiled once and run on psycopg. A lost or unreachable server is
    `BackendUnavailable` (see `failures`); `IdlePing` replaces dead connections, so the next
    request after the server is back just works."""

    serial_writes = False

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self.plans = direct.Plans(engine.dialect)
        self._ping = IdlePing(engine.sync_engine)

    @contextmanager
    def _watched(self) -> Iterator[None]:
        try:
            with translated():
                yield
        except BackendUnavailable:
            # After the connection went back to the pool: it is pinged before its next use.
            self._ping.lost_one()
            raise

    def _task_connection(self) -> PooledConn | None:
        shared = _shared.get()
        if shared is None or shared[0] is not self or shared[1] is not asyncio.current_task():
            return None
        return shared[2]

    @asynccontextmanager
    async def _checkout(self) -> AsyncIterator[PooledConn]:
        import psycopg

        try:
            fairy = await greenlet_spawn(self._engine.sync_engine.raw_connection)
        except psycopg.Error as error:
            # Opening a connection failed; SQLAlchemy's Connection would have wrapped this.
            raise exc.DBAPIError.instance(None, None, error, psycopg.Error) from error
        conn = PooledConn(self._engine, fairy, self.plans)
        try:
            yield conn
        finally:
            await conn.release()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Conn]:
        shared = self._task_connection()
        if shared is not None:
            yield shared
            return
        with self._watched():
            async with self._checkout() as conn:
                yield conn

    async def read_together(
        self, statements: Sequence[tuple[Executable, Mapping[str, Any]]]
    ) -> list[Result]:
        async with self.read() as conn:
            assert isinstance(conn, PooledConn)  # what `read` yields
            return await conn.execute_together(statements)

    @asynccontextmanager
    async def shared_connection(self) -> AsyncIterator[None]:
        """The block's statements, by this task, on one pooled connection: its reads, and the
        write transactions it opens. A checkout and its return cost about as much CPU as a
        statement, and a grant reads three times before its transaction. One connection per
        task also means the task never holds one while it waits for another."""
        if self._task_connection() is not None:
            yield
            return
        with self._watched():
            async with self._checkout() as conn:
                token = _shared.set((self, asyncio.current_task(), conn))
                try:
                    yield
                finally:
                    _shared.reset(token)

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[Conn]:
        shared = self._task_connection()
        with self._watched():
            if shared is not None:
                async with self._transaction(shared):
                    yield shared
                return
            async with self._checkout() as conn, self._transaction(conn):
                yield conn

    @asynccontextmanager
    async def _transaction(self, conn: PooledConn) -> AsyncIterator[None]:
        conn.begin()
        try:
            yield
        except BaseException:
            await conn.rollback()
            raise
        if conn.aborted():
            # PostgreSQL answers COMMIT in an aborted transaction with a ROLLBACK, and no
            # error. A failed write whose error the caller swallowed (the audit trail's, whose
            # savepoint could not be rolled back to) would silently undo the whole
            # transaction: fail instead.
            await conn.rollback()
            raise exc.OperationalError("COMMIT", None, Exception("the transaction was aborted"))
        await conn.commit()

    async def isolated_write(
        self,
        conn: Conn,
        statement: Executable,
        parameters: Mapping[str, Any],
        on_failure: Callable[[Exception], None] | None,
    ) -> None:
        # A failed statement aborts the whole transaction: a write whose failure is swallowed
        # inside a unit of work runs in a savepoint, so the unit can still commit.
        assert isinstance(conn, PooledConn)  # what `begin` yields
        if on_failure is None:
            await conn.execute_in_savepoint(statement, parameters)
        else:
            await conn.defer_in_savepoint(statement, parameters, on_failure)

"""Write transactions and units of work, over one database's backend.

A write transaction is short and on its own, unless a unit of work is open in the same task: then
it is that unit's transaction, and everything written in the unit commits or rolls back together.
On SQLite, write transactions of one process take turns on an asyncio lock: SQLite has one writer
anyway; letting a dozen pooled connections race for its lock only makes the losers sleep in
busy_timeout's back-off steps (up to 100 ms each), which is where multi-second tail latencies came
from. PostgreSQL runs concurrent writers; row locks decide.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from contextvars import ContextVar
from typing import Any, Protocol

from sqlalchemy.sql.base import Executable

from twofold.storage.connections import Conn, Result


class Backend(Protocol):
    """How one kind of database reads, begins a write transaction and isolates a failing write."""

    @property
    def serial_writes(self) -> bool:
        """Whether the process's writers must take turns (SQLite)."""

    def read(self) -> AbstractAsyncContextManager[Conn]:
        """A connection for reads, without a transaction: each read is one statement, which
        sees a consistent snapshot on its own."""

    async def read_together(
        self, statements: Sequence[tuple[Executable, Mapping[str, Any]]]
    ) -> list[Result]:
        """Reads whose values do not depend on each other's results, in one round trip where
        the database allows it; their results in order."""

    def shared_connection(self) -> AbstractAsyncContextManager[None]:
        """This task's statements in the block (reads and write transactions) on one
        connection, where that saves work."""

    def begin(self) -> AbstractAsyncContextManager[Conn]:
        """A write transaction: committed when the block ends, rolled back if it raises."""

    async def isolated_write(
        self,
        conn: Conn,
        statement: Executable,
        parameters: Mapping[str, Any],
        on_failure: Callable[[Exception], None] | None,
    ) -> None:
        """Run a write in `conn`'s transaction so that, if it fails, the transaction can still
        commit (in a savepoint, where a failed statement would spoil the whole transaction).
        With `on_failure`, the backend may send it later, with the commit, and report its
        failure there."""


# The unit of work open in this task, if any: (its owner, the task, the connection). A context
# variable holds it so that the repositories' writes find it without being handed it.
_unit: ContextVar[tuple[Transactions, object, Conn] | None] = ContextVar(
    "twofold_unit", default=None
)


class Transactions:
    """The write discipline of one database: its write lock and its units of work."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend
        # asyncio locks belong to the loop they run on, and the CLI and tests use one database
        # under several loops in turn: one lock per loop, the latest one's.
        self._lock: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None

    def _write_lock(self) -> asyncio.Lock | None:
        if not self._backend.serial_writes:
            return None
        loop = asyncio.get_running_loop()
        entry = self._lock
        if entry is None or entry[0] is not loop:
            entry = self._lock = (loop, asyncio.Lock())
        return entry[1]

    def _joined(self) -> Conn | None:
        unit = _unit.get()
        if unit is None or unit[0] is not self:
            return None
        if unit[1] is asyncio.current_task():
            return unit[2]
        # Child tasks inherit context variables. Writing on the unit's connection would
        # interleave with the parent, and waiting for a transaction of its own would wait for
        # the parent, which waits for the child: refuse instead of hanging.
        raise RuntimeError("a task started inside a unit of work cannot write to its database")

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[None]:
        """One transaction for every write on this database in the block, by this task: they
        commit together when the block ends and roll back together if it raises.

        Keep it short and free of slow work (on SQLite it holds the write lock). Inside it, a
        statement that fails must fail the block: PostgreSQL refuses further statements in a
        transaction after an error.
        """
        if self._joined() is not None:
            yield
            return
        async with self.write_transaction() as conn:
            token = _unit.set((self, asyncio.current_task(), conn))
            try:
                yield
            finally:
                _unit.reset(token)

    def write_transaction(self) -> AbstractAsyncContextManager[Conn]:
        """A write transaction; on SQLite one at a time per process. Inside a `unit_of_work` it
        is that unit's transaction.

        Never open a second one inside the first in the same task: the lock is not re-entrant.
        """
        joined = self._joined()
        if joined is not None:
            # Most writes of a grant join its unit: a plain object, not a generator's machinery.
            return _Joined(joined)
        return self._own_transaction()

    @asynccontextmanager
    async def _own_transaction(self) -> AsyncIterator[Conn]:
        lock = self._write_lock()
        if lock is None:
            async with self._backend.begin() as conn:
                yield conn
            return
        async with lock, self._backend.begin() as conn:
            yield conn

    async def tolerant_write(
        self,
        statement: Executable,
        parameters: Mapping[str, Any],
        on_failure: Callable[[Exception], None] | None = None,
    ) -> None:
        """One write statement whose failure its caller swallows (the audit trail's): alone, in
        a transaction of its own; inside a unit of work, in the unit's transaction, isolated by
        the backend so that the unit can still commit if it fails (see `isolated_write`).

        A failure now raises. With `on_failure`, a write inside a unit may go out with the
        unit's commit instead; its failure then goes to `on_failure`, and the unit commits."""
        joined = self._joined()
        if joined is None:
            async with self.write_transaction() as conn:
                await conn.execute(statement, parameters)
            return
        await self._backend.isolated_write(joined, statement, parameters, on_failure)


class _Joined:
    """The unit's own connection, as a write transaction's: the unit commits or rolls back."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def __aenter__(self) -> Conn:
        return self._conn

    async def __aexit__(self, *_exc: object) -> None:
        return None

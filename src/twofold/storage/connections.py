"""What repositories get to run statements on: a connection that executes and a result.

Repositories see only `Conn` and `Result`. Behind them, a statement built once and run with a
parameter mapping takes the direct path (see `direct`) where the backend has compiled plans.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.base import Executable

from twofold.storage import direct


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
    with `bindparam`s: such statements are compiled once and run straight on the driver
    (see `direct`).
    """

    async def execute(
        self, statement: Executable, parameters: Mapping[str, Any] | None = None
    ) -> Result: ...


class AsyncConn:
    """A SQLAlchemy AsyncConnection; with `plans`, statements that have one run on psycopg."""

    __slots__ = ("_conn", "_plans", "_raw")

    def __init__(self, conn: AsyncConnection, plans: direct.Plans | None = None) -> None:
        self._conn = conn
        self._plans = plans
        self._raw: Any = None

    async def _driver(self) -> Any:
        if self._raw is None:
            self._raw = (await self._conn.get_raw_connection()).driver_connection
        return self._raw

    async def execute(
        self, statement: Executable, parameters: Mapping[str, Any] | None = None
    ) -> Result:
        if parameters is not None and self._plans is not None:
            plan = self._plans.get(statement)
            if plan is not None:
                return await direct.run_psycopg(await self._driver(), plan, parameters)
        return await self._conn.execute(statement, parameters)

    async def execute_in_savepoint(
        self, statement: Executable, parameters: Mapping[str, Any]
    ) -> Result:
        """Run one statement, inside the connection's transaction, in a savepoint of its own:
        if it fails, the transaction is as it was before it and can go on."""
        if self._plans is not None:
            plan = self._plans.get(statement)
            if plan is not None:
                return await direct.run_psycopg_in_savepoint(await self._driver(), plan, parameters)
        async with self._conn.begin_nested():
            return await self._conn.execute(statement, parameters)

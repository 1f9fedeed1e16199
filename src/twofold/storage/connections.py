"""What repositories get to run statements on: a connection that executes and a result.

Repositories see only `Conn` and `Result`. Behind them, a statement built once and run with a
parameter mapping takes the direct path (see `direct`) where the backend has compiled plans
(a SQLite file, PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.base import Executable


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
    """A SQLAlchemy AsyncConnection, as a `Conn`: an in-memory SQLite database's
    (`sqlite.SqliteMemory`). A SQLite file and PostgreSQL have connections of their own."""

    __slots__ = ("_conn",)

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def execute(
        self, statement: Executable, parameters: Mapping[str, Any] | None = None
    ) -> Result:
        return await self._conn.execute(statement, parameters)

"""What every SQL repository shares: short write transactions, reads, Conflict on duplicates.

Every write runs in its own short transaction (BEGIN IMMEDIATE on SQLite), or in the unit of work
open in the task; reads use a connection without a transaction. Writes that must happen once are
one conditional statement whose row count is the answer; no repository reads a row and then saves
it back. Statements on the request paths are built once, at import, with bound parameters:
building a statement costs more CPU than SQLite takes to run it.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import DataError, IntegrityError

from twofold.core.ports import Conflict
from twofold.storage.database import Database

T = TypeVar("T")


_FIELDS: dict[type, frozenset[str]] = {}


def from_row(model: type[T], row: sa.Row[Any], **stored_otherwise: Any) -> T:
    """A model from the row's columns named like its fields; `stored_otherwise` gives the fields
    a column holds in another form (JSON text, an integer flag, an id under another name)."""
    names = _FIELDS.get(model)
    if names is None:
        names = _FIELDS[model] = frozenset(f.name for f in dataclasses.fields(model))  # type: ignore[arg-type]
    # Rows are SQLAlchemy's or the direct path's named tuples: both give _asdict().
    values = {k: v for k, v in row._asdict().items() if k in names}
    values.update(stored_otherwise)
    return model(**values)


def to_row(table: sa.Table, model: Any, **stored_otherwise: Any) -> dict[str, Any]:
    """The insert values of a model: its fields named like the table's columns, and those the
    table holds in another form (see from_row)."""
    values = {c.name: getattr(model, c.name) for c in table.columns if hasattr(model, c.name)}
    values.update(stored_otherwise)
    return values


class SqlRepository:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def _write(self, stmt: sa.Executable, params: Mapping[str, Any] | None = None) -> int:
        """Run one write statement in its own transaction; the affected row count."""
        async with self._db.write_transaction() as conn:
            result = await conn.execute(stmt, params)
            return result.rowcount

    async def _create(self, stmt: sa.Executable, what: str) -> None:
        try:
            await self._write(stmt)
        except IntegrityError as exc:
            raise Conflict(what) from exc

    # Reads: PostgreSQL refuses to even compare with a value no row could hold (a string with a
    # NUL character, from a Basic header or a URL path, say) where SQLite simply finds nothing.
    # Such a read finds nothing on both, so hostile input is a 4xx everywhere, never a 500.

    async def _one(
        self, stmt: sa.Select[Any], params: Mapping[str, Any] | None = None
    ) -> sa.Row[Any] | None:
        try:
            async with self._db.read_connection() as conn:
                row: sa.Row[Any] | None = (await conn.execute(stmt, params)).first()
                return row
        except DataError:
            return None

    async def _all(
        self, stmt: sa.Select[Any], params: Mapping[str, Any] | None = None
    ) -> Sequence[sa.Row[Any]]:
        try:
            async with self._db.read_connection() as conn:
                rows: Sequence[sa.Row[Any]] = (await conn.execute(stmt, params)).all()
                return rows
        except DataError:
            return []


def dumps(value: Any) -> str:
    # Sorted keys make equal values byte-identical, which keeps diffs and audits readable.
    return json.dumps(value, sort_keys=True, separators=(",", ":"))

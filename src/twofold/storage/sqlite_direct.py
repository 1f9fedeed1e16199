"""Statements built once, run straight on the sqlite3 connection.

SQLAlchemy's execution path (cache key lookup, execution context, events, result metadata) costs
about 30 µs per statement here; the SQLite work of an indexed lookup or a one-row write costs 5.
Statements that repositories build once and run with bound values are therefore compiled once,
by SQLAlchemy's own SQLite compiler, and then executed on the driver connection, and their
results answer the few methods repositories use.

What keeps this honest:
- Only statements run with a parameter mapping come here, and they are compiled once per
  statement object; a statement whose SQL depends on its values (an expanding `IN`) is refused
  and runs through SQLAlchemy as before.
- Bind processors of the compiled statement are applied, so values reach SQLite exactly as
  through SQLAlchemy. No result processors are needed by the tables' types (SQLite returns
  floats, integers and text; booleans arrive as 0/1, and the mappers call `bool()`).
- Driver errors are re-raised as SQLAlchemy's exception classes, which repositories catch.
"""

from __future__ import annotations

import sqlite3
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, MultipleResultsFound, NoResultFound
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.compiler import SQLCompiler

# Statements are module- or instance-level objects, so this stays small; the cap only guards
# against a caller that builds a new statement per call and passes parameters anyway.
MAX_CACHED = 512


class Unsupported(Exception):
    """This statement must run through SQLAlchemy."""


class _Plan:
    __slots__ = ("row_type", "slots", "sql")

    def __init__(self, sql: str, slots: Sequence[tuple[str, Any, Callable[[Any], Any] | None]]):
        self.sql = sql
        # Per positional parameter: (name, fixed value or _CALLER, bind processor).
        self.slots = tuple(slots)
        self.row_type: Callable[..., Any] | None = None

    def values(self, parameters: Mapping[str, Any]) -> tuple[Any, ...]:
        out = []
        for name, fixed, process in self.slots:
            value = parameters[name] if fixed is _CALLER else fixed
            out.append(value if process is None else process(value))
        return tuple(out)


_CALLER = object()


def _plan(statement: Executable, dialect: Dialect) -> _Plan:
    dml = getattr(statement, "is_dml", False) and not getattr(statement, "is_delete", False)
    if dml and not getattr(statement, "_values", None):
        # An INSERT or UPDATE whose columns come from the parameters (insert(table) run with a
        # dict): its SQL would name every column, defaults included. SQLAlchemy handles those.
        raise Unsupported
    compiled = statement.compile(dialect=dialect)  # type: ignore[attr-defined]
    if not isinstance(compiled, SQLCompiler) or compiled.positiontup is None:
        raise Unsupported
    processors = compiled._bind_processors
    slots: list[tuple[str, Any, Callable[[Any], Any] | None]] = []
    for name in compiled.positiontup:
        bind = compiled.binds[name]
        if bind.expanding or bind.callable is not None:
            raise Unsupported
        # A bind the caller must supply is one without a value (bindparam("x")); literal values
        # written into the statement (values(value="1"), literal(0)) are fixed at build time.
        fixed = _CALLER if bind.required else bind.value
        processor = processors.get(name)
        slots.append((bind.key, fixed, processor))  # type: ignore[arg-type]
    return _Plan(compiled.string, slots)


class Plans:
    """Compiled statements of one dialect, by statement identity."""

    def __init__(self, dialect: Dialect) -> None:
        self._dialect = dialect
        self._plans: dict[int, tuple[Executable, _Plan | None]] = {}

    def get(self, statement: Executable) -> _Plan | None:
        entry = self._plans.get(id(statement))
        if entry is not None and entry[0] is statement:
            return entry[1]
        try:
            plan: _Plan | None = _plan(statement, self._dialect)
        except Unsupported:
            plan = None
        if len(self._plans) < MAX_CACHED:
            # The statement is kept with its plan, so its id cannot be reused while cached.
            self._plans[id(statement)] = (statement, plan)
        return plan


class Rows:
    """The part of SQLAlchemy's CursorResult that repositories use."""

    __slots__ = ("_cursor", "_plan")

    def __init__(self, cursor: sqlite3.Cursor, plan: _Plan) -> None:
        self._cursor = cursor
        self._plan = plan

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    def _row_type(self) -> Callable[..., Any]:
        row_type = self._plan.row_type
        if row_type is None:
            names = [d[0] for d in self._cursor.description or ()]
            row_type = self._plan.row_type = namedtuple("Row", names)
        return row_type

    def first(self) -> Any:
        row = self._cursor.fetchone()
        self._cursor.close()
        return None if row is None else self._row_type()(*row)

    def all(self) -> list[Any]:
        rows = self._cursor.fetchall()
        if not rows:
            return []
        row_type = self._row_type()
        return [row_type(*row) for row in rows]

    def scalar_one_or_none(self) -> Any:
        rows = self._cursor.fetchall()
        if len(rows) > 1:
            raise MultipleResultsFound("Multiple rows were found when one or none was required")
        return rows[0][0] if rows else None

    def scalar_one(self) -> Any:
        rows = self._cursor.fetchall()
        if not rows:
            raise NoResultFound("No row was found when one was required")
        if len(rows) > 1:
            raise MultipleResultsFound("Multiple rows were found when exactly one was required")
        return rows[0][0]


def run(raw: sqlite3.Connection, plan: _Plan, parameters: Mapping[str, Any]) -> Rows:
    values = plan.values(parameters)
    try:
        cursor = raw.execute(plan.sql, values)
    except sqlite3.Error as exc:
        raise DBAPIError.instance(plan.sql, values, exc, sqlite3.Error) from exc
    return Rows(cursor, plan)

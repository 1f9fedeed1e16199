"""Statements built once, run straight on the database driver.

SQLAlchemy's execution path (cache key lookup, execution context, events, result metadata, and
on PostgreSQL its asyncio layer over psycopg) costs 30 µs per statement on SQLite, where the
SQLite work of an indexed lookup or a one-row write costs 5, and about 90 µs on PostgreSQL. So
statements that repositories build once and run with bound values are compiled once, by
SQLAlchemy's own compiler for the dialect, and then executed on the driver connection; their
results answer the few methods repositories use.

What keeps this honest:
- Only statements run with a parameter mapping come here, and they are compiled once per
  statement object; a statement whose SQL depends on its values (an expanding `IN`) or whose
  columns come from the parameters (`insert(table)` run with a dict) is refused and runs
  through SQLAlchemy as before.
- Bind processors of the compiled statement are applied, so values reach the driver exactly as
  through SQLAlchemy. No result processors are needed by the tables' types (floats, integers,
  text and booleans; SQLite's booleans arrive as 0/1, and the mappers call `bool()`).
- Driver errors are re-raised as SQLAlchemy's exception classes, which repositories catch.
- The statements run inside the connection's transaction: on SQLite as SQLAlchemy manages it
  (it commits or rolls back the driver connection they ran on); on PostgreSQL, whose connections
  are in autocommit mode, the backend begins and ends transactions itself (see `postgresql`).
"""

from __future__ import annotations

import functools
import operator
import sqlite3
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, MultipleResultsFound, NoResultFound
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.compiler import SQLCompiler

# Statements are module- or instance-level objects, so this stays small; the cap only guards
# against a caller that builds a new statement per call and passes parameters anyway.
MAX_CACHED = 512

_CALLER = object()

Slot = tuple[str, str, Any, Callable[[Any], Any] | None]


class Unsupported(Exception):
    """This statement must run through SQLAlchemy."""


class Plan:
    __slots__ = (
        "_fixed",
        "_getter",
        "_processed",
        "_single",
        "names",
        "positional",
        "row_type",
        "slots",
        "sql",
        "sql_names",
    )

    def __init__(self, sql: str, slots: Sequence[Slot], *, positional: bool) -> None:
        self.sql = sql
        # Per parameter: (name in the SQL, the caller's key, fixed value or _CALLER, processor).
        self.slots = tuple(slots)
        self.positional = positional
        self.sql_names = tuple(name for name, _, _, _ in slots)
        self.row_type: Callable[..., Any] | None = None
        # The result's column names, read from the first run: a statement's columns never
        # change, and psycopg builds a new Column object per column each time they are read.
        self.names: list[str] | None = None
        # The values are picked by one itemgetter from the caller's mapping merged with what is
        # known in advance: fixed values (processed once, here) and each processed caller value,
        # processed once per run however many times the statement uses it (a rate limit's
        # UPDATE uses `now` ten times). A call per slot cost more than the statement's SQLite work.
        self._fixed: dict[Any, Any] = {}
        processed: dict[tuple[str, int], tuple[str, Callable[[Any], Any]]] = {}
        picks: list[Any] = []
        for index, (_, key, fixed, process) in enumerate(slots):
            if fixed is not _CALLER:
                pick: Any = ("fixed", index)
                self._fixed[pick] = fixed if process is None else process(fixed)
            elif process is None:
                pick = key
            else:
                pick = (key, id(process))
                processed[pick] = (key, process)
            picks.append(pick)
        self._processed = tuple((pick, key, process) for pick, (key, process) in processed.items())
        self._getter = operator.itemgetter(*picks) if picks else None
        self._single = len(picks) == 1

    def values(self, parameters: Mapping[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        if self._getter is None:
            picked: tuple[Any, ...] = ()
        else:
            source: Mapping[Any, Any] = parameters
            if self._fixed or self._processed:
                merged = {**self._fixed, **parameters}
                for pick, key, process in self._processed:
                    merged[pick] = process(parameters[key])
                source = merged
            got = self._getter(source)
            picked = (got,) if self._single else got
        if self.positional:
            return picked
        return dict(zip(self.sql_names, picked, strict=True))


def _plan(statement: Executable, dialect: Dialect) -> Plan:
    dml = getattr(statement, "is_dml", False) and not getattr(statement, "is_delete", False)
    if dml and not getattr(statement, "_values", None):
        # An INSERT or UPDATE whose columns come from the parameters (insert(table) run with a
        # dict): its SQL would name every column, defaults included. SQLAlchemy handles those.
        raise Unsupported
    compiled = statement.compile(dialect=dialect)  # type: ignore[attr-defined]
    if not isinstance(compiled, SQLCompiler):
        raise Unsupported
    positional = compiled.positiontup is not None
    names = compiled.positiontup if compiled.positiontup is not None else list(compiled.binds)
    escaped: Mapping[str, str] = compiled.escaped_bind_names or {}
    processors = compiled._bind_processors
    slots: list[Slot] = []
    for name in names:
        bind = compiled.binds[name]
        if bind.expanding or bind.callable is not None:
            raise Unsupported
        # A bind the caller must supply is one without a value (bindparam("x")); literal values
        # written into the statement (values(value="1"), literal(0)) are anonymous and fixed at
        # build time. A named bind with a default (bindparam("x", 5)) takes the caller's value
        # when there is one, which a plan cannot know in advance: SQLAlchemy handles those.
        if not bind.required and not bind.unique:
            raise Unsupported
        fixed = _CALLER if bind.required else bind.value
        processor = cast(Callable[[Any], Any] | None, processors.get(name))
        slots.append((escaped.get(name, name), str(bind.key), fixed, processor))
    return Plan(compiled.string, slots, positional=positional)


class Plans:
    """Compiled statements of one dialect, by statement identity."""

    def __init__(self, dialect: Dialect) -> None:
        self._dialect = dialect
        self._plans: dict[int, tuple[Executable, Plan | None]] = {}

    def get(self, statement: Executable) -> Plan | None:
        entry = self._plans.get(id(statement))
        if entry is not None and entry[0] is statement:
            return entry[1]
        try:
            plan: Plan | None = _plan(statement, self._dialect)
        except Unsupported:
            plan = None
        if len(self._plans) < MAX_CACHED:
            # The statement is kept with its plan, so its id cannot be reused while cached.
            self._plans[id(statement)] = (statement, plan)
        return plan


class Rows:
    """The part of SQLAlchemy's CursorResult that repositories use, over fetched rows."""

    __slots__ = ("_names", "_plan", "_rows", "rowcount")

    def __init__(
        self, plan: Plan, rows: Sequence[Sequence[Any]], names: Sequence[str], rowcount: int
    ) -> None:
        self._plan = plan
        self._rows = rows
        self._names = names
        self.rowcount = rowcount

    def _row_type(self) -> Callable[..., Any]:
        row_type = self._plan.row_type
        if row_type is None:
            row_type = self._plan.row_type = namedtuple("Row", self._names)
        return row_type

    def first(self) -> Any:
        return self._row_type()(*self._rows[0]) if self._rows else None

    def all(self) -> list[Any]:
        if not self._rows:
            return []
        row_type = self._row_type()
        return [row_type(*row) for row in self._rows]

    def scalar_one_or_none(self) -> Any:
        if len(self._rows) > 1:
            raise MultipleResultsFound("Multiple rows were found when one or none was required")
        return self._rows[0][0] if self._rows else None

    def scalar_one(self) -> Any:
        if not self._rows:
            raise NoResultFound("No row was found when one was required")
        if len(self._rows) > 1:
            raise MultipleResultsFound("Multiple rows were found when exactly one was required")
        return self._rows[0][0]


def _names(plan: Plan, cursor: Any) -> list[str]:
    """The result's column names, read from the cursor on the statement's first run
    (`Plan.names`)."""
    names = plan.names
    if names is None:
        names = plan.names = [d[0] for d in cursor.description or ()]
    return names


def run_sqlite(raw: sqlite3.Connection, plan: Plan, parameters: Mapping[str, Any]) -> Rows:
    values = plan.values(parameters)
    try:
        cursor = raw.execute(plan.sql, values)
        rows = cursor.fetchall()
    except sqlite3.Error as exc:
        raise DBAPIError.instance(plan.sql, values, exc, sqlite3.Error) from exc
    return Rows(plan, rows, _names(plan, cursor), cursor.rowcount)


BEGIN = "BEGIN"


class Cursors:
    """A psycopg connection and the client-side-binding cursor kept for as long as it lives.

    Each round trip of the direct path is one simple-protocol query: the statements joined by
    semicolons, each value written into its statement as a literal by psycopg's own quoting
    (libpq's `PQescapeLiteral` for text, digits for integers, `'…'::float8` for floats, `true`,
    `false` and `NULL`). psycopg's pipeline mode, which sent the same statements with bound
    parameters in one round trip, spends about 60 % more of Twofold's CPU on its own Python (a
    generator step and a wait on the socket per message), while the server's parse and plan of
    each statement, which the prepared statements of the pipeline saved, costs PostgreSQL less
    than that. A query without parameters (the joined one) is sent as it is: nothing in it is
    read as a placeholder. The values are in the query's text, so PostgreSQL's own log of a
    failed statement and `pg_stat_activity` show them (`docs/deploy.md`).

    Floats are written as typed literals (`'1.5'::float8`), as they were typed when bound: a bare
    `1.5` is a `numeric` constant, which would compute in decimal where it meets only other
    literals, and come back as a `Decimal` where it is selected.

    `AsyncConnection.execute` would make a cursor per statement, about a fifth of a statement's
    CPU (its adapters map and transformer are built anew each time); this one runs query after
    query. A query's results stay on it until the next, each statement's in turn (`nextset`)."""

    __slots__ = ("conn", "cursor")

    def __init__(self, conn: Any) -> None:
        import psycopg

        self.conn = conn
        self.cursor: Any = psycopg.AsyncClientCursor(conn)
        # The cursor's own adapters: SQLAlchemy's statements on this connection keep psycopg's.
        self.cursor.adapters.register_dumper(float, _float8_literal())

    def literal(self, plan: Plan, values: tuple[Any, ...] | dict[str, Any]) -> str:
        """The statement with its values written in."""
        return str(self.cursor.mogrify(plan.sql, values))


@functools.cache  # one class for every connection
def _float8_literal() -> type:
    from psycopg.types.numeric import FloatDumper

    class Float8Literal(FloatDumper):
        """Quoted, so psycopg adds the `::float8` of its type; `float8in` reads Python's
        `inf`, `-inf`, `nan` and shortest round-trip digits exactly."""

        def quote(self, obj: Any) -> bytes:
            return b"'" + str(obj).encode() + b"'"

    return Float8Literal


async def _send(cursors: Cursors, render: Callable[[], list[str]], *, begin: bool) -> Any:
    """One round trip: the statements `render` writes, as one query, BEGIN first with `begin`.
    Returns the cursor on the first of them (past BEGIN's result).

    psycopg refuses some values while writing them in (text holding NUL, which PostgreSQL
    cannot store), before anything has gone out. With `begin`, BEGIN then goes out alone: the
    caller counts its transaction as begun from here on, and a caller that swallows the refusal
    (a lookup whose odd key matches nothing) must not run its next writes outside it."""
    cursor = cursors.cursor
    try:
        statements = render()
    except Exception:
        if begin:
            await cursor.execute(BEGIN)
        raise
    await cursor.execute("; ".join([BEGIN, *statements] if begin else statements))
    if begin:
        cursor.nextset()
    return cursor


async def _rows_of(cursor: Any, plan: Plan) -> Rows:
    """The statement result the cursor is on."""
    names = _names(plan, cursor)
    rows = await cursor.fetchall() if names else []
    return Rows(plan, rows, names, cursor.rowcount)


async def run_psycopg(
    cursors: Cursors, plan: Plan, parameters: Mapping[str, Any], *, begin: bool = False
) -> Rows:
    """On a psycopg AsyncConnection. With `begin`, on one in autocommit mode, BEGIN goes out in
    one query with the statement: the transaction starts without a round trip of its own."""
    import psycopg

    values = plan.values(parameters)
    try:
        cursor = await _send(cursors, lambda: [cursors.literal(plan, values)], begin=begin)
        return await _rows_of(cursor, plan)
    except psycopg.Error as exc:
        raise DBAPIError.instance(plan.sql, values, exc, psycopg.Error) from exc


async def run_psycopg_together(
    cursors: Cursors, runs: Sequence[tuple[Plan, Mapping[str, Any]]], *, begin: bool = False
) -> list[Rows]:
    """On a psycopg AsyncConnection, statements whose values do not depend on each other's
    results, in one query: one round trip for all of them (BEGIN first, with `begin`)."""
    import psycopg

    values: Any = None

    def render() -> list[str]:
        nonlocal values
        statements = []
        for plan, parameters in runs:
            values = plan.values(parameters)
            statements.append(cursors.literal(plan, values))
        return statements

    try:
        cursor = await _send(cursors, render, begin=begin)
        results = []
        for index, (plan, _) in enumerate(runs):
            if index:
                cursor.nextset()
            results.append(await _rows_of(cursor, plan))
    except psycopg.Error as exc:
        sql = "; ".join(plan.sql for plan, _ in runs)
        raise DBAPIError.instance(sql, values, exc, psycopg.Error) from exc
    return results


# One name is enough: the statement is released (or rolled back to) before the call returns, so
# these savepoints never nest.
_SAVEPOINT = "SAVEPOINT twofold_isolated"
_RELEASE = "RELEASE SAVEPOINT twofold_isolated"
_UNDO = "ROLLBACK TO SAVEPOINT twofold_isolated; RELEASE SAVEPOINT twofold_isolated"


async def run_psycopg_in_savepoint(
    cursors: Cursors,
    plan: Plan,
    parameters: Mapping[str, Any],
    *,
    begin: bool = False,
    commit: bool = False,
) -> Rows:
    """On a psycopg AsyncConnection inside a transaction, a statement whose failure leaves the
    transaction able to go on: SAVEPOINT, the statement and RELEASE SAVEPOINT go out together in
    one query, one round trip instead of three.

    If the statement fails, the server skips the rest of the query and the transaction is
    aborted; ROLLBACK TO SAVEPOINT and RELEASE, in one more round trip, undo just the statement,
    and its error is raised. With `begin` (a connection in autocommit mode whose transaction has
    not started yet), BEGIN leads the same query; with `commit`, COMMIT ends it. Otherwise the
    transaction stays the caller's to end. If the statement fails, a COMMIT behind it was
    skipped: the transaction is still open, and its error is the one raised.
    """
    import psycopg
    from psycopg.pq import TransactionStatus

    values = plan.values(parameters)

    def render() -> list[str]:
        statements = [_SAVEPOINT, cursors.literal(plan, values), _RELEASE]
        return [*statements, "COMMIT"] if commit else statements

    try:
        # A value refused before anything went out leaves the transaction as it was (open):
        # as if the statement had failed and been rolled back to its savepoint.
        cursor = await _send(cursors, render, begin=begin)
        cursor.nextset()  # past SAVEPOINT's result, to the statement's
        return await _rows_of(cursor, plan)
    except psycopg.Error as exc:
        error = exc
        if cursors.conn.info.transaction_status == TransactionStatus.INERROR:
            try:
                await cursors.cursor.execute(_UNDO)
            except psycopg.Error as failed:
                # The transaction stays aborted (the connection was lost, say): this error is
                # the one that says so.
                error = failed
        raise DBAPIError.instance(plan.sql, values, error, psycopg.Error) from error

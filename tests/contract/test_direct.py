"""Statements built once and run straight on the driver (sqlite3, psycopg) answer exactly as
through SQLAlchemy."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import anyio
import pytest
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from twofold.storage import direct, migrate
from twofold.storage.database import Database
from twofold.storage.tables import state

_c = state.c
_GET = sa.select(_c.key, _c.value).where(_c.expires_at > sa.bindparam("now")).order_by(_c.key)
_INSERT = sa.insert(state).values(
    key=sa.bindparam("k"), value="fixed", expires_at=sa.bindparam("e")
)
_SCALAR = sa.select(_c.value).where(_c.key == sa.bindparam("k"))
_BUMP = sa.update(state).where(_c.key == sa.bindparam("k")).values(expires_at=_c.expires_at + 1)


@pytest.fixture
def db(tmp_path: Path) -> tuple[sa.Engine, sqlite3.Connection]:
    url = f"sqlite:///{tmp_path / 'twofold.db'}"
    migrate.upgrade(url)
    engine = sa.create_engine(url)
    raw = sqlite3.connect(tmp_path / "twofold.db", isolation_level=None)
    return engine, raw


def test_results_match_sqlalchemy(db: tuple[sa.Engine, sqlite3.Connection]) -> None:
    engine, raw = db
    plans = direct.Plans(engine.dialect)
    for key, expires in (("a", 10.0), ("b", 20.0), ("c", 30.0)):
        plan = plans.get(_INSERT)
        assert plan is not None
        assert direct.run_sqlite(raw, plan, {"k": key, "e": expires}).rowcount == 1
    assert plans.get(_INSERT) is plan  # compiled once

    get = plans.get(_GET)
    assert get is not None
    with engine.connect() as conn:
        for now in (0.0, 15.0, 99.0):
            expected = conn.execute(_GET, {"now": now}).all()
            rows = direct.run_sqlite(raw, get, {"now": now}).all()
            assert [tuple(r) for r in rows] == [tuple(r) for r in expected]
            assert [(r.key, r.value) for r in rows] == [(r.key, r.value) for r in expected]
            first = direct.run_sqlite(raw, get, {"now": now}).first()
            assert first == (expected[0] if expected else None)
    assert {r.value for r in direct.run_sqlite(raw, get, {"now": 0.0}).all()} == {"fixed"}

    scalar = plans.get(_SCALAR)
    assert scalar is not None
    assert direct.run_sqlite(raw, scalar, {"k": "b"}).scalar_one() == "fixed"
    assert direct.run_sqlite(raw, scalar, {"k": "zz"}).scalar_one_or_none() is None
    with pytest.raises(sa_exc.NoResultFound):
        direct.run_sqlite(raw, scalar, {"k": "zz"}).scalar_one()

    bump = plans.get(_BUMP)
    assert bump is not None
    assert direct.run_sqlite(raw, bump, {"k": "a"}).rowcount == 1
    assert direct.run_sqlite(raw, bump, {"k": "zz"}).rowcount == 0
    assert raw.execute("SELECT expires_at FROM state WHERE key = 'a'").fetchone() == (11.0,)


def test_driver_errors_become_sqlalchemy_errors(db: tuple[sa.Engine, sqlite3.Connection]) -> None:
    engine, raw = db
    plans = direct.Plans(engine.dialect)
    plan = plans.get(_INSERT)
    assert plan is not None
    direct.run_sqlite(raw, plan, {"k": "a", "e": 1.0})
    # Repositories turn IntegrityError into Conflict: a duplicate key must arrive as one.
    with pytest.raises(sa_exc.IntegrityError):
        direct.run_sqlite(raw, plan, {"k": "a", "e": 2.0})


def test_statements_sqlalchemy_must_run_are_refused(
    db: tuple[sa.Engine, sqlite3.Connection],
) -> None:
    engine, _ = db
    plans = direct.Plans(engine.dialect)
    # An expanding IN renders differently per call; insert(table) takes its columns from the
    # parameters (and would name every column, defaults included).
    expanding = sa.bindparam("ks", expanding=True)
    assert plans.get(sa.select(_c.value).where(_c.key.in_(expanding))) is None
    assert plans.get(sa.select(_c.value).where(_c.key.in_(["a", "b"]))) is None
    assert plans.get(sa.insert(state)) is None
    assert plans.get(sa.select(_c.value).where(_c.key == sa.bindparam("k", "default"))) is None
    assert plans.get(sa.delete(state).where(_c.key == sa.bindparam("k"))) is not None


@pytest.mark.anyio
async def test_served_path_answers_as_sqlalchemy_on_every_backend(database_url: str) -> None:
    # Through read_connection/write_transaction: straight on sqlite3 or psycopg for statements
    # built once, compared with SQLAlchemy's own execution of the same statements.
    await anyio.to_thread.run_sync(migrate.upgrade, database_url)
    database = Database.open(database_url)
    engine = database.engine
    try:
        # Every statement here takes the direct path on this dialect.
        plans = direct.Plans(engine.dialect)
        assert all(plans.get(s) is not None for s in (_GET, _INSERT, _SCALAR, _BUMP))
        # On a SQLite file the statements must run on the blocking connections, not aiosqlite.
        traced: list[str] = []
        assert database.trace_statements(traced.append) == database_url.startswith("sqlite")
        async with database.write_transaction() as conn:
            for key, expires in (("a", 10.0), ("b", 20.0), ("c", 30.0)):
                assert (await conn.execute(_INSERT, {"k": key, "e": expires})).rowcount == 1
        with pytest.raises(sa_exc.IntegrityError):
            async with database.write_transaction() as conn:
                await conn.execute(_INSERT, {"k": "a", "e": 1.0})
        for now in (0.0, 15.0, 99.0):
            async with engine.connect() as plain:
                expected = (await plain.execute(_GET, {"now": now})).all()
            async with database.read_connection() as conn:
                rows = (await conn.execute(_GET, {"now": now})).all()
            assert [(r.key, r.value) for r in rows] == [(r.key, r.value) for r in expected]
        async with database.read_connection() as conn:
            assert (await conn.execute(_SCALAR, {"k": "b"})).scalar_one() == "fixed"
            assert (await conn.execute(_SCALAR, {"k": "zz"})).scalar_one_or_none() is None
            first = (await conn.execute(_GET, {"now": 25.0})).first()
            assert (first.key, first.value) == ("c", "fixed")
        async with database.write_transaction() as conn:
            assert (await conn.execute(_BUMP, {"k": "a"})).rowcount == 1
            assert (await conn.execute(_BUMP, {"k": "zz"})).rowcount == 0

        # A transaction that fails rolls back what ran straight on the driver, too.
        async def undone() -> None:
            async with database.write_transaction() as conn:
                await conn.execute(_INSERT, {"k": "d", "e": 1.0})
                raise RuntimeError("undo")

        with pytest.raises(RuntimeError):
            await undone()
        async with database.read_connection() as conn:
            assert (await conn.execute(_SCALAR, {"k": "d"})).scalar_one_or_none() is None
            assert len((await conn.execute(_GET, {"now": 0.0})).all()) == 3
        if database_url.startswith("sqlite"):
            assert any(s.startswith("INSERT INTO state") for s in traced)
            assert any(s.startswith('SELECT state."key"') for s in traced)
            assert "BEGIN IMMEDIATE" in traced
    finally:
        await database.dispose()


# Values that would change a statement if they were spliced into its SQL unquoted, or quoted
# naively: quotes, backslashes (E'' strings), semicolons and comments (a second statement),
# the driver's own placeholders, dollar quoting, and text outside ASCII.
_HOSTILE = (
    "it's",
    "a'); DELETE FROM state; --",
    "back\\slash",
    "\\'; COMMIT; SELECT '",
    "%s %(k)s %% %",
    "$1 $$ $q$x$q$",
    "E'\\x41'",
    "/* open comment",
    "line\nbreak\ttab",
    "ünïcödé 🙂",
    "",
)
_EXACT_FLOATS = (0.0, 1e308, 5e-324, 1764000000.123456, -2.5, float("inf"), -1e308)
_BARE = sa.select(sa.bindparam("x", type_=sa.Double), sa.bindparam("y", type_=sa.Double) / 3)


@pytest.mark.anyio
async def test_values_reach_the_database_exactly_and_only_as_values(database_url: str) -> None:
    # On PostgreSQL the direct path writes each value into its statement as a literal: whatever
    # a value holds, it must come back as it went in, and run nothing.
    await anyio.to_thread.run_sync(migrate.upgrade, database_url)
    database = Database.open(database_url)
    try:
        keys = [f"k{i}:{text}" for i, text in enumerate(_HOSTILE)]
        async with database.write_transaction() as conn:
            for key, expires in zip(keys, _EXACT_FLOATS * 2, strict=False):
                assert (await conn.execute(_INSERT, {"k": key, "e": expires})).rowcount == 1
        async with database.read_connection() as conn:
            rows = (await conn.execute(_GET, {"now": float("-inf")})).all()  # all of them
            assert sorted(r.key for r in rows) == sorted(keys)
            for key in keys:
                assert (await conn.execute(_SCALAR, {"k": key})).scalar_one() == "fixed"
            assert (await conn.execute(_SCALAR, {"k": "it''s"})).scalar_one_or_none() is None
        async with database.engine.connect() as plain:
            stored = dict((await plain.execute(sa.select(_c.key, _c.expires_at))).all())
        for key, expires in zip(keys, _EXACT_FLOATS * 2, strict=False):
            assert stored[key] == expires
            assert str(stored[key]) == str(expires)  # every digit
        # A float keeps its type where nothing else gives one: selected back, and in arithmetic.
        async with database.read_connection() as conn:
            for value in _EXACT_FLOATS:
                row = (await conn.execute(_BARE, {"x": value, "y": 1.0})).first()
                assert type(row[0]) is float
                assert str(row[0]) == str(value)
                assert row[1] == 1.0 / 3
        if not database_url.startswith("sqlite"):
            # PostgreSQL's text cannot hold NUL: a value with one is refused, never cut short
            # at it (which would make it another, existing key).
            async with database.read_connection() as conn:
                with pytest.raises(sa_exc.DataError):
                    await conn.execute(_SCALAR, {"k": keys[0] + "\x00tail"})

            # Refused as a transaction's first statement, and the refusal swallowed: what the
            # transaction writes next is still part of it, and undone with it.
            async def swallowed_then_undone() -> None:
                async with database.write_transaction() as conn:
                    with pytest.raises(sa_exc.DataError):
                        await conn.execute(_INSERT, {"k": "nul\x00", "e": 1.0})
                    await conn.execute(_INSERT, {"k": "after-nul", "e": 1.0})
                    raise RuntimeError("undo")

            with pytest.raises(RuntimeError):
                await swallowed_then_undone()
            async with database.read_connection() as conn:
                assert (
                    await conn.execute(_SCALAR, {"k": "after-nul"})
                ).scalar_one_or_none() is None
        # Read together (one round trip on PostgreSQL), each statement with its own values.
        results = await database.read_together(
            [(_SCALAR, {"k": keys[1]}), (_SCALAR, {"k": "absent"}), (_SCALAR, {"k": keys[3]})]
        )
        assert [r.scalar_one_or_none() for r in results] == ["fixed", None, "fixed"]
    finally:
        await database.dispose()

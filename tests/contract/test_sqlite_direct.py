"""Statements built once and run straight on sqlite3 answer exactly as through SQLAlchemy."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from twofold.storage import migrate, sqlite_direct
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
    plans = sqlite_direct.Plans(engine.dialect)
    for key, expires in (("a", 10.0), ("b", 20.0), ("c", 30.0)):
        plan = plans.get(_INSERT)
        assert plan is not None
        assert sqlite_direct.run(raw, plan, {"k": key, "e": expires}).rowcount == 1
    assert plans.get(_INSERT) is plan  # compiled once

    get = plans.get(_GET)
    assert get is not None
    with engine.connect() as conn:
        for now in (0.0, 15.0, 99.0):
            expected = conn.execute(_GET, {"now": now}).all()
            rows = sqlite_direct.run(raw, get, {"now": now}).all()
            assert [tuple(r) for r in rows] == [tuple(r) for r in expected]
            assert [(r.key, r.value) for r in rows] == [(r.key, r.value) for r in expected]
            first = sqlite_direct.run(raw, get, {"now": now}).first()
            assert first == (expected[0] if expected else None)
    assert {r.value for r in sqlite_direct.run(raw, get, {"now": 0.0}).all()} == {"fixed"}

    scalar = plans.get(_SCALAR)
    assert scalar is not None
    assert sqlite_direct.run(raw, scalar, {"k": "b"}).scalar_one() == "fixed"
    assert sqlite_direct.run(raw, scalar, {"k": "zz"}).scalar_one_or_none() is None
    with pytest.raises(sa_exc.NoResultFound):
        sqlite_direct.run(raw, scalar, {"k": "zz"}).scalar_one()

    bump = plans.get(_BUMP)
    assert bump is not None
    assert sqlite_direct.run(raw, bump, {"k": "a"}).rowcount == 1
    assert sqlite_direct.run(raw, bump, {"k": "zz"}).rowcount == 0
    assert raw.execute("SELECT expires_at FROM state WHERE key = 'a'").fetchone() == (11.0,)


def test_driver_errors_become_sqlalchemy_errors(db: tuple[sa.Engine, sqlite3.Connection]) -> None:
    engine, raw = db
    plans = sqlite_direct.Plans(engine.dialect)
    plan = plans.get(_INSERT)
    assert plan is not None
    sqlite_direct.run(raw, plan, {"k": "a", "e": 1.0})
    # Repositories turn IntegrityError into Conflict: a duplicate key must arrive as one.
    with pytest.raises(sa_exc.IntegrityError):
        sqlite_direct.run(raw, plan, {"k": "a", "e": 2.0})


def test_statements_sqlalchemy_must_run_are_refused(
    db: tuple[sa.Engine, sqlite3.Connection],
) -> None:
    engine, _ = db
    plans = sqlite_direct.Plans(engine.dialect)
    # An expanding IN renders differently per call; insert(table) takes its columns from the
    # parameters (and would name every column, defaults included).
    expanding = sa.bindparam("ks", expanding=True)
    assert plans.get(sa.select(_c.value).where(_c.key.in_(expanding))) is None
    assert plans.get(sa.select(_c.value).where(_c.key.in_(["a", "b"]))) is None
    assert plans.get(sa.insert(state)) is None
    assert plans.get(sa.delete(state).where(_c.key == sa.bindparam("k"))) is not None

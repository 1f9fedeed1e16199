"""StateStore on the SQL database's `state` table: short-lived state for a single node.

Each operation is one statement, so atomicity comes from the database and not from a lock in this
process: two server processes sharing one SQLite file (or one PostgreSQL) still agree on who
consumed an mfa_token. Expired rows behave as absent: every statement compares `expires_at` with
the clock's now (the core's clock, never the database's, so frozen clocks work in tests). Expired
rows are overwritten in place by add/put/cas/incr and swept by `purge_expired`.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import sqlalchemy as sa

from twofold.core.clock import Clock
from twofold.storage.database import Database
from twofold.storage.tables import state
from twofold.storage.upsert import insert_for

_c = state.c
# The key column holds 512 characters, PostgreSQL stores no NUL character and no driver sends a
# lone surrogate; such keys are stored by their digest, so any key works as in memory or Redis.
_MAX_PLAIN_KEY = 256
_DIGEST = "sha256:"


def _k(key: str) -> str:
    if len(key) <= _MAX_PLAIN_KEY and "\x00" not in key and not key.startswith(_DIGEST):
        try:
            key.encode("utf-8")
        except UnicodeEncodeError:
            pass
        else:
            return key
    return _DIGEST + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


PURGE_BATCH = 1000


def _p_int(name: str) -> sa.BindParameter[int]:
    return sa.bindparam(name, type_=sa.Integer)


def _p(name: str) -> sa.BindParameter[Any]:
    return sa.bindparam(name, type_=sa.Double if name in _FLOATS else sa.Text)


_FLOATS = frozenset({"now", "exp", "interval", "tolerance"})


def _later(a: sa.ColumnElement[float], b: sa.ColumnElement[float]) -> sa.ColumnElement[float]:
    return sa.case((a > b, a), else_=b)


class SqlStateStore:
    """Every statement is built once, here, and run with bound values: building a statement per
    call cost more CPU than running it."""

    # Its writes join a unit of work open on the same database; the composition root gives it the
    # storage's database, so they commit or roll back with the storage's units.
    transactional = True

    def __init__(self, database: Database, clock: Clock) -> None:
        self._db = database
        self._clock = clock
        insert = insert_for(database.dialect_name)
        key, value, now, expires_at = _p("k"), _p("v"), _p("now"), _p("exp")
        live = _c.expires_at > now
        new_row = insert(state).values(key=key, value=value, expires_at=expires_at)

        self._get = sa.select(_c.value).where(_c.key == key, live)
        self._put = new_row.on_conflict_do_update(
            index_elements=[_c.key], set_={"value": value, "expires_at": expires_at}
        )
        # A live row makes the DO UPDATE's WHERE false: nothing changes and no row comes back.
        # RETURNING, not the row count: drivers differ on counting INSERTs (psycopg says -1).
        self._add = new_row.on_conflict_do_update(
            index_elements=[_c.key],
            set_={"value": value, "expires_at": expires_at},
            where=_c.expires_at <= now,
        ).returning(_c.key)
        # DELETE … RETURNING is the atomic get-and-delete: whichever statement deletes the row
        # gets the value, every other one sees no row.
        self._consume = sa.delete(state).where(_c.key == key, live).returning(_c.value)
        self._cas = (
            sa.update(state)
            .where(_c.key == key, _c.value == _p("expected"), live)
            .values(value=value, expires_at=expires_at)
        )
        # An expired counter restarts at 1 with a fresh TTL; a live one keeps its expiry, so a
        # window is fixed from its first hit and steady traffic cannot extend it forever.
        expired = _c.expires_at <= now
        self._incr = (
            insert(state)
            .values(key=key, value="1", expires_at=expires_at)
            .on_conflict_do_update(
                index_elements=[_c.key],
                set_={
                    "value": sa.case(
                        (expired, "1"),
                        else_=sa.cast(sa.cast(_c.value, sa.Integer) + 1, sa.Text),
                    ),
                    "expires_at": sa.case((expired, expires_at), else_=_c.expires_at),
                },
            )
            .returning(_c.value)
        )
        # GCRA: the stored TAT, or now when it is in the past or the entry has expired. The DO
        # UPDATE's WHERE is the "bucket not empty" test, evaluated on the row as it is after any
        # concurrent writer (SQLite's write lock; PostgreSQL's row lock).
        stored = sa.cast(_c.value, sa.Double)
        tat = sa.case((sa.and_(live, stored > now), stored), else_=now)
        interval = _p("interval")
        taken = tat + interval
        self._gcra_take = new_row.on_conflict_do_update(
            index_elements=[_c.key],
            set_={"value": sa.cast(taken, sa.Text), "expires_at": taken + 1},
            where=tat - now <= _p("tolerance"),
        ).returning(_c.key)
        refunded = _later(tat - interval, now)
        self._gcra_refund = (
            sa.update(state)
            .where(_c.key == key, live)
            .values(value=sa.cast(refunded, sa.Text), expires_at=refunded + 1)
        )
        # The bucket's row locked for the rest of the unit, with its TAT (NULL when expired).
        # PostgreSQL: SELECT … FOR UPDATE locks no row that is not there yet, so an absent one is
        # inserted, expired from birth (it reads as absent, like the row it stands for); a
        # present one is "updated" to itself, which locks it, and the lock is taken even while
        # a concurrent unit inserts the same key (the insert waits for it). SQLite: the unit's
        # BEGIN IMMEDIATE already holds the database's only write lock, so a plain read of the
        # unit's connection is as exclusive, and writes nothing.
        if database.is_sqlite:
            self._gcra_hold: sa.Executable = self._get
        else:
            self._gcra_hold = new_row.on_conflict_do_update(
                index_elements=[_c.key], set_={"value": _c.value}
            ).returning(sa.case((live, _c.value), else_=sa.null()))
        self._delete = sa.delete(state).where(_c.key == key)
        # In batches: one DELETE of every expired row would hold the write lock (and, on SQLite,
        # the event loop) for as long as the backlog is large.
        expired_keys = sa.select(_c.key).where(_c.expires_at <= now).limit(_p_int("batch"))
        self._purge = sa.delete(state).where(_c.key.in_(expired_keys.scalar_subquery()))

    async def get(self, key: str) -> str | None:
        async with self._db.read_connection() as conn:
            result = await conn.execute(self._get, {"k": _k(key), "now": self._clock.now()})
            value: str | None = result.scalar_one_or_none()
            return value

    async def put(self, key: str, value: str, ttl: float) -> None:
        expires_at = self._clock.now() + ttl
        await self._run(self._put, k=_k(key), v=value, exp=expires_at)

    async def add(self, key: str, value: str, ttl: float) -> bool:
        now = self._clock.now()
        params = {"k": _k(key), "v": value, "now": now, "exp": now + ttl}
        async with self._db.write_transaction() as conn:
            return (await conn.execute(self._add, params)).first() is not None

    async def consume(self, key: str) -> str | None:
        params = {"k": _k(key), "now": self._clock.now()}
        async with self._db.write_transaction() as conn:
            value: str | None = (await conn.execute(self._consume, params)).scalar_one_or_none()
            return value

    async def cas(self, key: str, expected: str | None, value: str, ttl: float) -> bool:
        if expected is None:
            return await self.add(key, value, ttl)
        now = self._clock.now()
        written = await self._run(
            self._cas, k=_k(key), expected=expected, v=value, now=now, exp=now + ttl
        )
        return written == 1

    async def incr(self, key: str, ttl: float) -> int:
        now = self._clock.now()
        params = {"k": _k(key), "now": now, "exp": now + ttl}
        async with self._db.write_transaction() as conn:
            return int((await conn.execute(self._incr, params)).scalar_one())

    async def gcra_take(self, key: str, interval: float, tolerance: float) -> float | None:
        now = self._clock.now()
        params = {
            "k": _k(key),
            "v": repr(now + interval),
            "exp": now + interval + 1,
            "now": now,
            "interval": interval,
            "tolerance": tolerance,
        }
        async with self._db.write_transaction() as conn:
            if (await conn.execute(self._gcra_take, params)).first() is not None:
                return None
            # Refused: the TAT for the caller's Retry-After, read on this same connection. Inside
            # a unit of work a read on another one would wait for a pooled connection while
            # this one holds the bucket's row lock (PostgreSQL): a burst of refused takes could
            # then hold every connection of the pool.
            found = await conn.execute(self._get, {"k": params["k"], "now": now})
            raw = found.scalar_one_or_none()
        return max(float(raw), now) if raw else now

    async def gcra_refund(self, key: str, interval: float) -> None:
        await self._run(self._gcra_refund, k=_k(key), now=self._clock.now(), interval=interval)

    async def consume_refunding(self, key: str, bucket: str, interval: float) -> str | None:
        # On the storage's own database the grants hold their bucket in the unit of work
        # (`gcra_hold`) and never call this; it is the two operations, one after the other.
        value = await self.consume(key)
        await self.gcra_refund(bucket, interval)
        return value

    async def gcra_hold(self, key: str) -> float | None:
        now = self._clock.now()
        params = {"k": _k(key), "v": repr(now), "exp": now, "now": now}
        async with self._db.write_transaction() as conn:
            raw = (await conn.execute(self._gcra_hold, params)).scalar_one_or_none()
        return None if raw is None else float(raw)

    async def delete(self, key: str) -> None:
        await self._run(self._delete, k=_k(key))

    async def purge_expired(self, batch: int = PURGE_BATCH) -> int:
        """Delete expired rows, `batch` at a time, letting other work run in between; how many
        went. Run it periodically to keep the table small."""
        removed = 0
        while True:
            deleted = await self._run(self._purge, now=self._clock.now(), batch=batch)
            removed += deleted
            if deleted < batch:
                return removed
            await asyncio.sleep(0)

    async def _run(self, stmt: sa.Executable, **params: Any) -> int:
        async with self._db.write_transaction() as conn:
            return (await conn.execute(stmt, params)).rowcount

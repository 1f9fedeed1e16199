"""StateStore on the SQL database's `state` table: short-lived state for a single node.

Each operation is one statement, so atomicity comes from the database and not from a lock in this
process: two server processes sharing one SQLite file (or one PostgreSQL) still agree on who
consumed an mfa_token. Expired rows behave as absent: every statement compares `expires_at` with
the clock's now (the core's clock, never the database's, so frozen clocks work in tests). Expired
rows are overwritten in place by add/put/cas/incr and swept by `purge_expired`.
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from twofold.core.clock import Clock
from twofold.storage.engine import read_connection, write_transaction
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


class SqlStateStore:
    def __init__(self, engine: AsyncEngine, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock
        self._insert = insert_for(engine)

    async def get(self, key: str) -> str | None:
        stmt = sa.select(_c.value).where(_c.key == _k(key), _c.expires_at > self._clock.now())
        async with read_connection(self._engine) as conn:
            return (await conn.execute(stmt)).scalar_one_or_none()

    async def put(self, key: str, value: str, ttl: float) -> None:
        expires_at = self._clock.now() + ttl
        stmt = self._insert(state).values(key=_k(key), value=value, expires_at=expires_at)
        stmt = stmt.on_conflict_do_update(
            index_elements=[_c.key], set_={"value": value, "expires_at": expires_at}
        )
        await self._rowcount(stmt)

    async def add(self, key: str, value: str, ttl: float) -> bool:
        now = self._clock.now()
        insert = self._insert(state).values(key=_k(key), value=value, expires_at=now + ttl)
        # A live row makes the DO UPDATE's WHERE false: nothing changes and no row comes back.
        # RETURNING, not the row count: drivers differ on counting INSERTs (psycopg says -1).
        stmt = insert.on_conflict_do_update(
            index_elements=[_c.key],
            set_={"value": value, "expires_at": now + ttl},
            where=_c.expires_at <= now,
        ).returning(_c.key)
        async with write_transaction(self._engine) as conn:
            return (await conn.execute(stmt)).first() is not None

    async def consume(self, key: str) -> str | None:
        now = self._clock.now()
        # DELETE … RETURNING is the atomic get-and-delete: whichever statement deletes the row
        # gets the value, every other one sees no row.
        stmt = sa.delete(state).where(_c.key == _k(key), _c.expires_at > now).returning(_c.value)
        async with write_transaction(self._engine) as conn:
            return (await conn.execute(stmt)).scalar_one_or_none()

    async def cas(self, key: str, expected: str | None, value: str, ttl: float) -> bool:
        if expected is None:
            return await self.add(key, value, ttl)
        now = self._clock.now()
        stmt = (
            sa.update(state)
            .where(_c.key == _k(key), _c.value == expected, _c.expires_at > now)
            .values(value=value, expires_at=now + ttl)
        )
        return await self._rowcount(stmt) == 1

    async def incr(self, key: str, ttl: float) -> int:
        now = self._clock.now()
        expired = _c.expires_at <= now
        insert = self._insert(state).values(key=_k(key), value="1", expires_at=now + ttl)
        # An expired counter restarts at 1 with a fresh TTL; a live one keeps its expiry, so a
        # window is fixed from its first hit and steady traffic cannot extend it forever.
        stmt = insert.on_conflict_do_update(
            index_elements=[_c.key],
            set_={
                "value": sa.case(
                    (expired, "1"),
                    else_=sa.cast(sa.cast(_c.value, sa.Integer) + 1, sa.Text),
                ),
                "expires_at": sa.case((expired, now + ttl), else_=_c.expires_at),
            },
        ).returning(_c.value)
        async with write_transaction(self._engine) as conn:
            return int((await conn.execute(stmt)).scalar_one())

    def _tat(self, now: float) -> sa.ColumnElement[float]:
        # The stored TAT, or now when it is in the past or the entry has expired.
        stored = sa.cast(_c.value, sa.Double)
        return sa.case((sa.and_(_c.expires_at > now, stored > now), stored), else_=sa.literal(now))

    async def gcra_take(self, key: str, interval: float, tolerance: float) -> float | None:
        # One upsert: the DO UPDATE's WHERE is the "bucket not empty" test, evaluated on the row
        # as it is after any concurrent writer (SQLite's write lock; PostgreSQL's row lock).
        now = self._clock.now()
        tat = self._tat(now)
        new = tat + interval
        insert = self._insert(state).values(
            key=_k(key), value=repr(now + interval), expires_at=now + interval + 1
        )
        stmt = insert.on_conflict_do_update(
            index_elements=[_c.key],
            set_={"value": sa.cast(new, sa.Text), "expires_at": new + 1},
            where=tat - now <= tolerance,
        ).returning(_c.key)
        async with write_transaction(self._engine) as conn:
            if (await conn.execute(stmt)).first() is not None:
                return None
        # Refused (rare): read the TAT for the caller's Retry-After.
        raw = await self.get(key)
        return max(float(raw), now) if raw else now

    async def gcra_refund(self, key: str, interval: float) -> None:
        now = self._clock.now()
        earlier = self._tat(now) - interval
        new = sa.case((earlier > now, earlier), else_=sa.literal(now))
        stmt = (
            sa.update(state)
            .where(_c.key == _k(key), _c.expires_at > now)
            .values(value=sa.cast(new, sa.Text), expires_at=new + 1)
        )
        await self._rowcount(stmt)

    async def delete(self, key: str) -> None:
        await self._rowcount(sa.delete(state).where(_c.key == _k(key)))

    async def purge_expired(self) -> int:
        """Delete expired rows; how many went. Run it periodically to keep the table small."""
        return await self._rowcount(sa.delete(state).where(_c.expires_at <= self._clock.now()))

    async def _rowcount(self, stmt: sa.Executable) -> int:
        async with write_transaction(self._engine) as conn:
            return (await conn.execute(stmt)).rowcount

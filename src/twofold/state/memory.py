"""StateStore in a dict, for unit tests and single-process development only.

State dies with the process and is not shared between workers, so it must never back a real
deployment. Semantics match the SQL and Redis stores exactly (the contract suite runs all of
them): an expired entry is indistinguishable from an absent one.
"""

from __future__ import annotations

import asyncio

from twofold.core.clock import Clock


class MemoryStateStore:
    transactional = False

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._entries: dict[str, tuple[str, float]] = {}
        # The operations below never await while holding it, so the lock is not needed for
        # atomicity today; it keeps them atomic if one ever grows an await point.
        self._lock = asyncio.Lock()

    def _live(self, key: str, now: float) -> str | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        value, expires_at = entry
        if expires_at <= now:
            del self._entries[key]
            return None
        return value

    async def get(self, key: str) -> str | None:
        async with self._lock:
            return self._live(key, self._clock.now())

    async def put(self, key: str, value: str, ttl: float) -> None:
        async with self._lock:
            self._entries[key] = (value, self._clock.now() + ttl)

    async def add(self, key: str, value: str, ttl: float) -> bool:
        async with self._lock:
            now = self._clock.now()
            if self._live(key, now) is not None:
                return False
            self._entries[key] = (value, now + ttl)
            return True

    async def consume(self, key: str) -> str | None:
        async with self._lock:
            value = self._live(key, self._clock.now())
            self._entries.pop(key, None)
            return value

    async def cas(self, key: str, expected: str | None, value: str, ttl: float) -> bool:
        async with self._lock:
            now = self._clock.now()
            if self._live(key, now) != expected:
                return False
            self._entries[key] = (value, now + ttl)
            return True

    async def incr(self, key: str, ttl: float) -> int:
        async with self._lock:
            now = self._clock.now()
            current = self._live(key, now)
            if current is None:
                self._entries[key] = ("1", now + ttl)
                return 1
            # A live counter keeps the expiry of its first hit (a fixed window).
            count = int(current) + 1
            self._entries[key] = (str(count), self._entries[key][1])
            return count

    async def gcra_take(self, key: str, interval: float, tolerance: float) -> float | None:
        async with self._lock:
            now = self._clock.now()
            current = self._live(key, now)
            tat = max(float(current), now) if current else now
            if tat - now > tolerance:
                return tat
            new = tat + interval
            self._entries[key] = (repr(new), new + 1)
            return None

    async def gcra_refund(self, key: str, interval: float) -> None:
        async with self._lock:
            now = self._clock.now()
            current = self._live(key, now)
            if current is None:
                return
            new = max(now, float(current) - interval)
            self._entries[key] = (repr(new), new + 1)

    async def consume_refunding(self, key: str, bucket: str, interval: float) -> str | None:
        value = await self.consume(key)
        await self.gcra_refund(bucket, interval)
        return value

    async def gcra_hold(self, key: str) -> float | None:
        # Not transactional: there is no unit to lock for, and the grants take and refund here.
        async with self._lock:
            current = self._live(key, self._clock.now())
            return None if current is None else float(current)

    async def delete(self, key: str) -> None:
        async with self._lock:
            self._entries.pop(key, None)

    async def purge_expired(self) -> int:
        async with self._lock:
            now = self._clock.now()
            expired = [k for k, (_, expires_at) in self._entries.items() if expires_at <= now]
            for key in expired:
                del self._entries[key]
            return len(expired)

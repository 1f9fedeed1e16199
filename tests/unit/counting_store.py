"""The memory state store, counting the writes made to it: for tests of write throttling."""

from __future__ import annotations

from twofold.core.clock import Clock
from twofold.state.memory import MemoryStateStore


class CountingStore(MemoryStateStore):
    def __init__(self, clock: Clock) -> None:
        super().__init__(clock)
        self.writes = 0

    async def put(self, key: str, value: str, ttl: float) -> None:
        self.writes += 1
        await super().put(key, value, ttl)

    async def add(self, key: str, value: str, ttl: float) -> bool:
        self.writes += 1
        return await super().add(key, value, ttl)

    async def cas(self, key: str, expected: str | None, value: str, ttl: float) -> bool:
        self.writes += 1
        return await super().cas(key, expected, value, ttl)

    async def delete(self, key: str) -> None:
        self.writes += 1
        await super().delete(key)

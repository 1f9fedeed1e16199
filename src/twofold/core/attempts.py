"""Failed-attempt buckets (spec §11, decision 6), atomic on the StateStore.

A generic cell rate algorithm: one number per key, the "theoretical arrival time" (TAT). Each
failure pushes it one refill interval later; the bucket is empty when the TAT is more than
(capacity - 1) intervals ahead of now. One compare-and-set per failure keeps it exact across
concurrent requests and nodes without locks. Successes never touch it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from twofold.core.clock import Clock
from twofold.core.errors import TooManyAttempts
from twofold.core.ports import StateStore

_CAS_RETRIES = 32


@dataclass(frozen=True, slots=True)
class Bucket:
    capacity: int
    refill_seconds: float

    @property
    def tolerance(self) -> float:
        return (self.capacity - 1) * self.refill_seconds


class Attempts:
    def __init__(self, state: StateStore, clock: Clock, bucket: Bucket, prefix: str) -> None:
        self._state = state
        self._clock = clock
        self._bucket = bucket
        self._prefix = prefix

    def _key(self, subject: str) -> str:
        return f"{self._prefix}:{subject}"

    async def remaining(self, subject: str) -> tuple[int, float]:
        """(attempts left, seconds until the next one is refilled)."""
        now = self._clock.now()
        raw = await self._state.get(self._key(subject))
        tat = max(float(raw), now) if raw else now
        ahead = tat - now
        left = self._bucket.capacity - math.ceil(ahead / self._bucket.refill_seconds - 1e-9)
        next_refill = ahead % self._bucket.refill_seconds if ahead > 0 else 0.0
        return max(0, left), next_refill

    async def check(self, subject: str) -> None:
        """Raise 429 before any code is looked at when the bucket is empty."""
        left, wait = await self.remaining(subject)
        if left <= 0:
            retry = max(1, math.ceil(wait))
            raise TooManyAttempts(
                headers={
                    "Retry-After": str(retry),
                    "X-RateLimit-Limit": str(self._bucket.capacity),
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": str(math.ceil(self._clock.now() + retry)),
                }
            )

    async def fail(self, subject: str) -> None:
        key = self._key(subject)
        for _ in range(_CAS_RETRIES):
            now = self._clock.now()
            raw = await self._state.get(key)
            base = max(float(raw), now) if raw else now
            tat = base + self._bucket.refill_seconds
            if await self._state.cas(key, raw, repr(tat), ttl=tat - now + 1):
                return
        # Under extreme contention the failure is still counted once more as a plain write;
        # losing a count would be a gift to an attacker, over-counting is not.
        now = self._clock.now()
        await self._state.put(
            key,
            repr(now + self._bucket.capacity * self._bucket.refill_seconds),
            ttl=self._bucket.capacity * self._bucket.refill_seconds + 1,
        )


def mfa_attempts(state: StateStore, clock: Clock, capacity: int, refill: float) -> Attempts:
    return Attempts(state, clock, Bucket(capacity, refill), "attempts:mfa")

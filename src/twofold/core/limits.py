"""Send limits per user (spec §11): how many codes and pushes Twofold sends before it says 429.

| channel     | burst | then          |
|-------------|-------|---------------|
| sms + voice | 10    | 1 per hour    |
| email       | 20    | 1 per minute  |
| push        | 5     | 5 per minute  |

SMS and voice share one bucket (the factor page's "10 SMS or voice messages per hour"). Each
bucket is a generic cell rate algorithm on the StateStore (like `attempts.py`): one number per
user, moved atomically by the store (`gcra_take`, `gcra_refund`) so it holds across requests and
nodes. A send takes from the
bucket before the message goes out; a provider failure gives it back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from twofold.core.clock import Clock
from twofold.core.errors import TooManyRequests
from twofold.core.ports import StateStore


@dataclass(frozen=True, slots=True)
class SendLimit:
    name: str
    capacity: int
    refill_seconds: float


SMS = SendLimit("phone", 10, 3600.0)
EMAIL = SendLimit("email", 20, 60.0)
PUSH = SendLimit("push", 5, 12.0)
LIMITS = {"sms": SMS, "voice": SMS, "email": EMAIL, "push": PUSH}


class SendLimiter:
    def __init__(self, state: StateStore, clock: Clock) -> None:
        self._state = state
        self._clock = clock

    @staticmethod
    def _key(limit: SendLimit, user_id: str) -> str:
        return f"sendlimit:{limit.name}:{user_id}"

    def _exhausted(self, limit: SendLimit, tat: float, now: float) -> TooManyRequests:
        # The next send is allowed once the TAT is within the tolerance again.
        wait = max(1, math.ceil(tat - now - (limit.capacity - 1) * limit.refill_seconds))
        return TooManyRequests(
            headers={
                "Retry-After": str(wait),
                "X-RateLimit-Limit": str(limit.capacity),
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": str(math.ceil(now + wait)),
            }
        )

    async def take(self, channel: str, user_id: str) -> None:
        """One send for this user on this channel, or 429 too_many_requests."""
        limit = LIMITS[channel]
        key = self._key(limit, user_id)
        tolerance = (limit.capacity - 1) * limit.refill_seconds
        refused = await self._state.gcra_take(key, limit.refill_seconds, tolerance)
        if refused is not None:
            raise self._exhausted(limit, refused, self._clock.now())

    async def refund(self, channel: str, user_id: str) -> None:
        """Give a send back (the provider refused it, so the user got nothing)."""
        limit = LIMITS[channel]
        await self._state.gcra_refund(self._key(limit, user_id), limit.refill_seconds)

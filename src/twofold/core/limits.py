"""Send limits: how many codes and pushes Twofold sends before it says 429.

Per user (Auth0's published limits):

| channel     | burst | then          |
|-------------|-------|---------------|
| sms + voice | 10    | 1 per hour    |
| email       | 20    | 1 per minute  |
| push        | 5     | 5 per minute  |

SMS and voice share one bucket (the factor page's "10 SMS or voice messages per hour").

A per-user limit alone lets anyone with many accounts (or one account and many enrolments) send
to a number or address of their choosing: SMS pumping (toll fraud on premium numbers) and email
bombing. Two caps hold whatever the user, both set in `Policy` and both per hour:

- per destination: one phone number (E.164; sms and voice together) or one email address
  (lower-cased, `+tag` sub-address dropped) receives at most `send_cap_per_phone_number` or
  `send_cap_per_email_address` messages;
- per tenant and channel: at most `send_cap_<channel>` messages leave on sms, voice, email or
  push, a circuit breaker against pumping through many numbers. When it refuses, the
  `limit_send_tenant` audit event and a warning log line say so (at most once a minute per
  channel, however many sends it refuses).

Every bucket is a generic cell rate algorithm on the StateStore (like `attempts.py`): one number
per key, moved atomically by the store (`gcra_take`, `gcra_refund`) so it holds across requests
and nodes. A cap of N per hour is a bucket of N refilling one every 3600/N seconds; 0 switches a
cap off. A send takes from the user's bucket, then the destination's, then the tenant's; when one
refuses, what the earlier ones gave is given back, so a refused send costs nobody's budget. A
provider failure gives back all three. Keys hold no address in clear: destinations are hashed.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from twofold.core import audit, contact
from twofold.core.clock import Clock
from twofold.core.deps import Deps, Policy
from twofold.core.errors import TooManyRequests
from twofold.core.ids import digest
from twofold.core.ports import Metrics, NoMetrics, StateStore

HOUR = 3600.0
PHONE_CHANNELS = frozenset({"sms", "voice"})
# A tripped tenant cap is reported again at most this often per channel while it keeps refusing.
TRIP_NOTICE_SECONDS = 60.0

log = logging.getLogger("twofold.delivery")


@dataclass(frozen=True, slots=True)
class SendLimit:
    name: str
    capacity: int
    refill_seconds: float

    @property
    def tolerance(self) -> float:
        return (self.capacity - 1) * self.refill_seconds


SMS = SendLimit("phone", 10, 3600.0)
EMAIL = SendLimit("email", 20, 60.0)
PUSH = SendLimit("push", 5, 12.0)
LIMITS = {"sms": SMS, "voice": SMS, "email": EMAIL, "push": PUSH}

# (channel, user id or None, masked destination or None, the cap per hour) when a tenant cap trips.
TripHandler = Callable[[str, str | None, str | None, int], Awaitable[None]]


def per_hour(name: str, cap: int) -> SendLimit:
    return SendLimit(name, cap, HOUR / cap)


def destination_key(channel: str, destination: str) -> str:
    """The form a destination is counted under: E.164 for phones (sms and voice count together),
    for email the lower-cased address without its `+tag` (most providers deliver
    `ada+1@example.com` to `ada@example.com`, so tags must not multiply the cap)."""
    if channel in PHONE_CHANNELS:
        return "phone:" + destination.strip()
    local, _, domain = destination.strip().lower().rpartition("@")
    return f"email:{local.split('+', 1)[0]}@{domain}"


def mask(channel: str, destination: str) -> str:
    """What a log line may show of a destination."""
    if channel in PHONE_CHANNELS:
        return contact.mask_phone(destination)
    if channel == "email":
        return contact.mask_email(destination)
    return "device"


class SendLimiter:
    def __init__(
        self,
        state: StateStore,
        clock: Clock,
        policy: Policy | None = None,
        *,
        on_trip: TripHandler | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self._state = state
        self._clock = clock
        self._policy = policy or Policy()
        self._on_trip = on_trip
        self._metrics = metrics or NoMetrics()

    @classmethod
    def of(cls, deps: Deps) -> SendLimiter:
        """The limiter of a running server: its policy, trips recorded in the audit trail."""

        async def tripped(channel: str, user_id: str | None, masked: str | None, cap: int) -> None:
            log.warning(
                "tenant-wide %s send cap reached (%d per hour): %s sends are refused until it "
                "refills; the refused send was to %s",
                channel,
                cap,
                channel,
                masked or "no destination",
            )
            await audit.record(
                deps,
                audit.SEND_CAP_TRIPPED,
                user_id=user_id,
                channel=channel,
                cap_per_hour=cap,
                destination=masked,
            )

        return cls(deps.state, deps.clock, deps.policy, on_trip=tripped, metrics=deps.metrics)

    @staticmethod
    def _key(limit: SendLimit, user_id: str) -> str:
        return f"sendlimit:{limit.name}:{user_id}"

    def _destination_cap(self, channel: str) -> int:
        if channel in PHONE_CHANNELS:
            return self._policy.send_cap_per_phone_number
        if channel == "email":
            return self._policy.send_cap_per_email_address
        return 0  # push goes to the user's own enrolled device: the per-user limit is enough

    def _tenant_cap(self, channel: str) -> int:
        policy = self._policy
        caps = {
            "sms": policy.send_cap_sms,
            "voice": policy.send_cap_voice,
            "email": policy.send_cap_email,
            "push": policy.send_cap_push,
        }
        return caps[channel]

    def _buckets(
        self, channel: str, user_id: str, destination: str | None
    ) -> list[tuple[str, SendLimit]]:
        """(key, limit) of every bucket a send takes from, in the order it takes them."""
        limit = LIMITS[channel]
        buckets = [(self._key(limit, user_id), limit)]
        if destination is None:
            # Nothing leaves Twofold (a push to a device that polls): only the user's budget.
            return buckets
        cap = self._destination_cap(channel)
        if cap > 0:
            dest = digest(destination_key(channel, destination), "send_destination")
            buckets.append((f"sendcap:dest:{dest}", per_hour("destination", cap)))
        cap = self._tenant_cap(channel)
        if cap > 0:
            buckets.append((f"sendcap:tenant:{channel}", per_hour(f"tenant-{channel}", cap)))
        return buckets

    def _exhausted(self, limit: SendLimit, tat: float, now: float) -> TooManyRequests:
        # The next send is allowed once the TAT is within the tolerance again.
        wait = max(1, math.ceil(tat - now - limit.tolerance))
        return TooManyRequests(
            headers={
                "Retry-After": str(wait),
                "X-RateLimit-Limit": str(limit.capacity),
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": str(math.ceil(now + wait)),
            }
        )

    async def take(self, channel: str, user_id: str, destination: str | None) -> None:
        """One send for this user on this channel to this destination (None: nothing leaves
        Twofold), or 429 too_many_requests having spent nothing."""
        taken: list[tuple[str, SendLimit]] = []
        for key, limit in self._buckets(channel, user_id, destination):
            refused = await self._state.gcra_take(key, limit.refill_seconds, limit.tolerance)
            if refused is None:
                taken.append((key, limit))
                continue
            for done_key, done in reversed(taken):
                await self._state.gcra_refund(done_key, done.refill_seconds)
            if key.startswith("sendcap:tenant:"):
                self._metrics.mfa_rate_limited(channel, "tenant")
                self._metrics.send_cap_tripped(channel)
                await self._tripped(channel, user_id, destination, limit.capacity)
            else:
                which = "destination" if key.startswith("sendcap:dest:") else "user"
                self._metrics.mfa_rate_limited(channel, which)
            raise self._exhausted(limit, refused, self._clock.now())

    async def refund(self, channel: str, user_id: str, destination: str | None) -> None:
        """Give a send back (the provider refused it, so nobody got anything)."""
        for key, limit in reversed(self._buckets(channel, user_id, destination)):
            await self._state.gcra_refund(key, limit.refill_seconds)

    async def _tripped(self, channel: str, user_id: str, destination: str | None, cap: int) -> None:
        if self._on_trip is None:
            return
        if not await self._state.add(f"sendcap:tripped:{channel}", "1", TRIP_NOTICE_SECONDS):
            return
        masked = mask(channel, destination) if destination is not None else None
        await self._on_trip(channel, user_id, masked, cap)

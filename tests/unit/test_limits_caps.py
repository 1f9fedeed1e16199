"""Send caps whatever the user: per destination and tenant-wide per channel, with refunds so
that a refused send costs nobody's budget, and the breaker's report when it trips."""

from __future__ import annotations

from typing import Any

import pytest

from twofold.core.clock import FrozenClock
from twofold.core.deps import Policy
from twofold.core.limits import SendLimiter, TooManyRequests, destination_key
from twofold.state.memory import MemoryStateStore

pytestmark = pytest.mark.anyio

VICTIM = "+16502530000"


def numbers(n: int) -> list[str]:
    return [f"+4420794600{i:02d}" for i in range(n)]


class Trips:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str | None, str | None, int]] = []

    async def __call__(self, channel: str, user: str | None, masked: str | None, cap: int) -> None:
        self.seen.append((channel, user, masked, cap))


def limiter(
    clock: FrozenClock,
    store: MemoryStateStore | None = None,
    trips: Trips | None = None,
    **policy: Any,
) -> SendLimiter:
    store = store or MemoryStateStore(clock)
    return SendLimiter(store, clock, Policy(**policy), on_trip=trips)


async def test_one_number_gets_ten_an_hour_whoever_asks() -> None:
    clock = FrozenClock(1_000_000.0)
    caps = limiter(clock)
    for i in range(10):
        await caps.take("sms" if i % 2 else "voice", f"user-{i}", VICTIM)
    with pytest.raises(TooManyRequests) as info:
        await caps.take("sms", "user-new", VICTIM)
    err = info.value
    assert (err.status, err.error) == (429, "too_many_requests")
    assert err.headers["X-RateLimit-Limit"] == "10"
    assert int(err.headers["Retry-After"]) == 360  # ten an hour: one back every six minutes
    await caps.take("sms", "user-new", "+16502530001")  # another number is unaffected
    clock.advance(360)
    await caps.take("sms", "user-new", VICTIM)
    with pytest.raises(TooManyRequests):
        await caps.take("voice", "user-other", VICTIM)


async def test_one_address_counts_without_case_and_sub_address() -> None:
    clock = FrozenClock(1_000_000.0)
    caps = limiter(clock, send_cap_per_email_address=3)
    for i, address in enumerate(["ada@example.com", "Ada+1@Example.COM", "ada+x+y@example.com"]):
        await caps.take("email", f"user-{i}", address)
    with pytest.raises(TooManyRequests) as info:
        await caps.take("email", "user-9", "ADA@example.com")
    assert info.value.headers["X-RateLimit-Limit"] == "3"
    await caps.take("email", "user-9", "bob@example.com")
    assert destination_key("email", "A.B+c@X.org") == "email:a.b@x.org"
    assert destination_key("sms", VICTIM) == destination_key("voice", VICTIM)


async def test_a_send_refused_by_a_cap_costs_the_user_nothing() -> None:
    clock = FrozenClock(1_000_000.0)
    store = MemoryStateStore(clock)
    first = limiter(clock, store, send_cap_per_phone_number=1, send_cap_sms=2)
    await first.take("sms", "owner", VICTIM)
    for _ in range(15):  # the number is capped: refused, and the user's budget is given back
        with pytest.raises(TooManyRequests):
            await first.take("sms", "pumper", VICTIM)
    await first.take("sms", "other", "+16502530001")  # the tenant's second send this hour
    for number in numbers(15):  # the tenant cap refuses: the user and the numbers get it back
        with pytest.raises(TooManyRequests):
            await first.take("sms", "pumper", number)
    # Same store, caps out of the way: the pumper still has the whole burst of 10, and every
    # number it tried still has its own.
    relaxed = limiter(clock, store, send_cap_per_phone_number=1, send_cap_sms=0)
    for number in numbers(10):
        await relaxed.take("sms", "pumper", number)
    with pytest.raises(TooManyRequests) as info:
        await relaxed.take("sms", "pumper", "+16502530002")
    assert info.value.headers["Retry-After"] == "3600"  # the user's own limit, not a cap


async def test_tenant_breaker_trips_per_channel_and_reports_once_a_minute() -> None:
    clock = FrozenClock(1_000_000.0)
    trips = Trips()
    caps = limiter(clock, trips=trips, send_cap_sms=3)
    for i, number in enumerate(numbers(3)):
        await caps.take("sms", f"user-{i}", number)
    with pytest.raises(TooManyRequests) as info:
        await caps.take("sms", "user-x", "+16502530000")
    assert info.value.headers["X-RateLimit-Limit"] == "3"
    assert trips.seen == [("sms", "user-x", "XXXXXXXX0000", 3)]
    with pytest.raises(TooManyRequests):
        await caps.take("sms", "user-y", "+16502530001")
    assert len(trips.seen) == 1  # still tripped: not reported again within the minute
    await caps.take("voice", "user-y", "+16502530001")  # voice has its own breaker
    await caps.take("email", "user-y", "ada@example.com")
    clock.advance(60)
    with pytest.raises(TooManyRequests):
        await caps.take("sms", "user-z", "+16502530002")
    assert [t[1] for t in trips.seen] == ["user-x", "user-z"]
    clock.advance(1200)  # a third of an hour: one of three sends back
    await caps.take("sms", "user-z", "+16502530002")


async def test_refund_gives_back_every_bucket() -> None:
    clock = FrozenClock(1_000_000.0)
    caps = limiter(clock, send_cap_per_phone_number=1, send_cap_sms=1)
    await caps.take("sms", "u", VICTIM)
    await caps.refund("sms", "u", VICTIM)  # the provider refused: nothing reached anyone
    await caps.take("sms", "v", VICTIM)
    with pytest.raises(TooManyRequests):
        await caps.take("sms", "w", VICTIM)


async def test_push_without_a_message_and_switched_off_caps() -> None:
    clock = FrozenClock(1_000_000.0)
    caps = limiter(clock, send_cap_push=1, send_cap_per_phone_number=0, send_cap_sms=0)
    for _ in range(5):  # a device that polls: nothing leaves, only the user's limit counts
        await caps.take("push", "u", None)
    await caps.take("push", "v", "fcm-token-1")
    with pytest.raises(TooManyRequests):
        await caps.take("push", "w", "fcm-token-2")
    for i in range(30):  # 0: no cap on the number nor on the channel
        await caps.take("sms", f"user-{i}", VICTIM)

"""Send limits: bursts, refill, headers, refunds, per user and per channel."""

from __future__ import annotations

import pytest

from twofold.core.clock import FrozenClock
from twofold.core.limits import SendLimiter, TooManyRequests
from twofold.state.memory import MemoryStateStore

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("channel", "burst", "refill"), [("sms", 10, 3600), ("email", 20, 60), ("push", 5, 12)]
)
async def test_burst_then_refill(channel: str, burst: int, refill: float) -> None:
    clock = FrozenClock(1_000_000.0)
    limiter = SendLimiter(MemoryStateStore(clock), clock)
    for _ in range(burst):
        await limiter.take(channel, "u", None)
    with pytest.raises(TooManyRequests) as info:
        await limiter.take(channel, "u", None)
    err = info.value
    assert (err.status, err.error) == (429, "too_many_requests")
    assert err.headers["X-RateLimit-Limit"] == str(burst)
    assert err.headers["X-RateLimit-Remaining"] == "0"
    assert int(err.headers["Retry-After"]) == refill
    assert int(err.headers["X-RateLimit-Reset"]) == int(clock.now() + refill)
    await limiter.take(channel, "other-user", None)
    clock.advance(refill)
    await limiter.take(channel, "u", None)
    with pytest.raises(TooManyRequests):
        await limiter.take(channel, "u", None)


async def test_sms_and_voice_share_a_bucket_email_does_not() -> None:
    clock = FrozenClock(1_000_000.0)
    limiter = SendLimiter(MemoryStateStore(clock), clock)
    for i in range(10):
        await limiter.take("sms" if i % 2 else "voice", "u", None)
    with pytest.raises(TooManyRequests):
        await limiter.take("voice", "u", None)
    await limiter.take("email", "u", None)


async def test_refund_gives_a_send_back() -> None:
    clock = FrozenClock(1_000_000.0)
    limiter = SendLimiter(MemoryStateStore(clock), clock)
    for _ in range(5):
        await limiter.take("push", "u", None)
    await limiter.refund("push", "u", None)
    await limiter.take("push", "u", None)
    with pytest.raises(TooManyRequests):
        await limiter.take("push", "u", None)
    await limiter.refund("email", "nobody", None)  # nothing to give back: no error

"""Contract: the send caps hold on every StateStore adapter (memory; SQL on SQLite and
PostgreSQL; Redis), for several limiters (nodes) at once and under concurrent sends, and on two
Redis clients sharing one prefix as two nodes of a cluster would."""

from __future__ import annotations

import anyio
import pytest

from twofold.core.clock import FrozenClock
from twofold.core.deps import Policy
from twofold.core.limits import SendLimiter, TooManyRequests
from twofold.core.ports import StateStore
from twofold.state.redis import RedisStateStore

from ._backends import REDIS_URL, redis_prefix

pytestmark = pytest.mark.anyio

VICTIM = "+16502530000"


async def _concurrent_takes(
    limiters: list[SendLimiter], sends: list[tuple[str, str, str]]
) -> set[str]:
    """Run every (channel, user, destination) send at once, spread over the limiters; the users
    whose send was let through."""
    allowed: set[str] = set()

    async def one(i: int, channel: str, user: str, destination: str) -> None:
        try:
            await limiters[i % len(limiters)].take(channel, user, destination)
        except TooManyRequests:
            return
        allowed.add(user)

    async with anyio.create_task_group() as tg:
        for i, (channel, user, destination) in enumerate(sends):
            tg.start_soon(one, i, channel, user, destination)
    return allowed


async def test_destination_cap_holds_across_nodes_and_concurrency(
    state_store: StateStore, clock: FrozenClock
) -> None:
    policy = Policy(send_cap_per_phone_number=4)
    nodes = [SendLimiter(state_store, clock, policy) for _ in range(2)]
    sends = [("sms" if i % 2 else "voice", f"user-{i}", VICTIM) for i in range(12)]
    allowed = await _concurrent_takes(nodes, sends)
    assert len(allowed) == 4
    with pytest.raises(TooManyRequests) as info:
        await nodes[0].take("sms", "user-late", VICTIM)
    assert info.value.headers["X-RateLimit-Limit"] == "4"
    # A refused user spent nothing: it still has its whole burst of 10 for other numbers.
    refused = sorted({user for _, user, _ in sends} - allowed)[0]
    for i in range(10):
        await nodes[1].take("sms", refused, f"+4420794600{i:02d}")
    with pytest.raises(TooManyRequests):
        await nodes[0].take("sms", refused, "+4915112345678")


async def test_tenant_cap_holds_across_nodes_and_gives_back_what_it_refused(
    state_store: StateStore, clock: FrozenClock
) -> None:
    tight = Policy(send_cap_email=3, send_cap_per_email_address=2)
    nodes = [SendLimiter(state_store, clock, tight) for _ in range(3)]
    sends = [("email", f"user-{i}", f"user{i}@example.com") for i in range(10)]
    allowed = await _concurrent_takes(nodes, sends)
    assert len(allowed) == 3
    # Nothing of a refused send was kept: with the tenant cap lifted, every refused address
    # still has its full allowance (two to one address).
    lifted = SendLimiter(state_store, clock, Policy(send_cap_email=0, send_cap_per_email_address=2))
    for i in (i for i in range(10) if f"user-{i}" not in allowed):
        for _ in range(2):
            await lifted.take("email", f"user-{i}", f"user{i}@example.com")
        with pytest.raises(TooManyRequests):
            await lifted.take("email", f"other-{i}", f"user{i}@example.com")


async def test_refund_after_a_failed_delivery(state_store: StateStore, clock: FrozenClock) -> None:
    caps = SendLimiter(state_store, clock, Policy(send_cap_per_phone_number=1, send_cap_sms=1))
    await caps.take("sms", "a", VICTIM)
    await caps.refund("sms", "a", VICTIM)
    await caps.take("sms", "b", VICTIM)
    with pytest.raises(TooManyRequests):
        await caps.take("sms", "c", VICTIM)


async def test_two_redis_clients_share_the_caps(clock: FrozenClock) -> None:
    async with redis_prefix("caps") as prefix:
        stores = [RedisStateStore.from_url(REDIS_URL, clock, prefix=prefix) for _ in range(2)]
        try:
            policy = Policy(send_cap_per_phone_number=3, send_cap_voice=5)
            nodes = [SendLimiter(store, clock, policy) for store in stores]
            sends = [("voice", f"user-{i}", VICTIM) for i in range(8)]
            assert len(await _concurrent_takes(nodes, sends)) == 3
            others = [("voice", f"other-{i}", f"+4420794600{i:02d}") for i in range(8)]
            assert len(await _concurrent_takes(nodes, others)) == 2  # the tenant's voice cap: 5
            with pytest.raises(TooManyRequests) as info:
                await nodes[1].take("voice", "late", "+4915112345678")
            assert info.value.headers["X-RateLimit-Limit"] == "5"
            clock.advance(720)  # five an hour: one back every twelve minutes
            await nodes[0].take("voice", "late", "+4915112345678")
        finally:
            for store in stores:
                await store.close()

"""MFA attempt holds: counted unless given back, on either kind of store, with the same TATs."""

from __future__ import annotations

import pytest

from twofold.core.attempts import Attempts, mfa_attempts, nothing_held
from twofold.core.clock import FrozenClock
from twofold.core.errors import BackendUnavailable, TooManyAttempts
from twofold.state.memory import MemoryStateStore

from .counting_store import CountingStore

pytestmark = pytest.mark.anyio

CAPACITY, REFILL = 3, 360.0


class _Transactional(CountingStore):
    """Pretends its writes join a unit of work, so the attempts hold instead of taking."""

    transactional = True

    def __init__(self, clock: FrozenClock) -> None:
        super().__init__(clock)
        self.gcra_calls = 0

    async def gcra_take(self, key: str, interval: float, tolerance: float) -> float | None:
        self.gcra_calls += 1
        return await super().gcra_take(key, interval, tolerance)

    async def gcra_refund(self, key: str, interval: float) -> None:
        self.gcra_calls += 1
        await super().gcra_refund(key, interval)


def _attempts(store: MemoryStateStore, clock: FrozenClock) -> Attempts:
    return mfa_attempts(store, clock, CAPACITY, REFILL)


async def _guess(attempts: Attempts, good: bool) -> bool:
    """One grant's use of its hold; False when refused."""
    try:
        hold = await attempts.hold("u")
    except TooManyAttempts:
        return False
    if good:
        await hold.give_back()
    await hold.settle()
    return True


async def test_a_success_on_a_transactional_store_writes_nothing() -> None:
    clock = FrozenClock(1_000_000.0)
    store = _Transactional(clock)
    attempts = _attempts(store, clock)
    for _ in range(CAPACITY + 2):
        assert await _guess(attempts, good=True)
    assert store.writes == 0
    assert store.gcra_calls == 0
    assert await attempts.remaining("u") == (CAPACITY, 0.0)


async def test_failures_count_and_then_refuse_with_nothing_written() -> None:
    clock = FrozenClock(1_000_000.0)
    store = _Transactional(clock)
    attempts = _attempts(store, clock)
    for _ in range(CAPACITY):
        assert await _guess(attempts, good=False)
    assert store.writes == CAPACITY
    with pytest.raises(TooManyAttempts) as info:
        await attempts.hold("u")
    assert info.value.headers["Retry-After"] == str(int(REFILL))
    assert info.value.headers["X-RateLimit-Limit"] == str(CAPACITY)
    assert store.writes == CAPACITY
    clock.advance(REFILL)
    assert await _guess(attempts, good=True)  # one refilled, and a good code keeps it
    assert await _guess(attempts, good=False)
    assert not await _guess(attempts, good=True)


async def test_an_undecided_hold_counts_as_a_failure() -> None:
    # A path that neither gives the attempt back nor says it failed still counts it.
    clock = FrozenClock(1_000_000.0)
    attempts = _attempts(_Transactional(clock), clock)
    hold = await attempts.hold("u")
    await hold.settle()
    assert (await attempts.remaining("u"))[0] == CAPACITY - 1


async def test_an_abandoned_hold_writes_nothing_on_a_transactional_store() -> None:
    # The unit rolls back: whatever the hold wrote goes with it, so it writes nothing itself.
    clock = FrozenClock(1_000_000.0)
    store = _Transactional(clock)
    hold = await _attempts(store, clock).hold("u")
    await hold.abandon()
    assert store.writes == 0


@pytest.mark.parametrize("seed", range(20))
async def test_holds_leave_the_tats_take_and_refund_leave(seed: int) -> None:
    # The same outcomes, with time passing between them, through a hold on a transactional
    # store and through take-then-refund on a plain one: the same answers and the same TATs.
    import random

    rng = random.Random(seed)
    clock = FrozenClock(1_000_000.0)
    held, taken = _Transactional(clock), MemoryStateStore(clock)
    holding, taking = _attempts(held, clock), _attempts(taken, clock)
    for _ in range(40):
        good = rng.random() < 0.4
        assert await _guess(holding, good) == await _guess(taking, good)
        assert await holding.remaining("u") == await taking.remaining("u")
        clock.advance(rng.choice([0.0, 1.0, REFILL / 2, REFILL, 3 * REFILL + 2]))


async def test_outside_a_transaction_the_attempt_is_taken_at_once_and_refunded_once() -> None:
    clock = FrozenClock(1_000_000.0)
    attempts = _attempts(MemoryStateStore(clock), clock)
    hold = await attempts.hold("u")
    assert (await attempts.remaining("u"))[0] == CAPACITY - 1
    await hold.give_back()
    await hold.give_back()
    await hold.abandon()  # a unit that failed after the attempt went back: no second refund
    assert (await attempts.remaining("u"))[0] == CAPACITY
    other = await attempts.hold("u")
    await attempts.hold("u")
    await other.abandon()  # a lost race: not a guess
    assert (await attempts.remaining("u"))[0] == CAPACITY - 1


async def test_nothing_held_is_free() -> None:
    clock = FrozenClock(1_000_000.0)
    store = CountingStore(clock)
    await store.put("token", "v", 10)
    held = nothing_held(store)
    await held.give_back()
    await held.settle()
    await held.abandon()
    assert store.writes == 1  # the put above
    assert await held.give_back_consuming("token") == "v"
    assert await store.get("token") is None


class _Spying(MemoryStateStore):
    def __init__(self, clock: FrozenClock) -> None:
        super().__init__(clock)
        self.calls: list[str] = []

    async def consume(self, key: str) -> str | None:
        self.calls.append("consume")
        return await super().consume(key)

    async def gcra_refund(self, key: str, interval: float) -> None:
        self.calls.append("gcra_refund")
        await super().gcra_refund(key, interval)

    async def consume_refunding(self, key: str, bucket: str, interval: float) -> str | None:
        self.calls.append("consume_refunding")
        return await super().consume_refunding(key, bucket, interval)


async def test_a_taken_attempt_goes_back_with_the_consume_in_one_operation() -> None:
    clock = FrozenClock(1_000_000.0)
    store = _Spying(clock)
    attempts = _attempts(store, clock)
    await store.put("token", "v", 10)
    hold = await attempts.hold("u")
    store.calls.clear()
    assert await hold.give_back_consuming("token") == "v"
    assert store.calls[0] == "consume_refunding"
    assert (await attempts.remaining("u"))[0] == CAPACITY
    await hold.abandon()  # the unit then failed: the attempt is not given back twice
    await hold.give_back()
    assert (await attempts.remaining("u"))[0] == CAPACITY
    assert await store.get("token") is None


async def test_a_lost_race_for_the_consumed_key_still_gives_the_attempt_back() -> None:
    clock = FrozenClock(1_000_000.0)
    attempts = _attempts(MemoryStateStore(clock), clock)
    hold = await attempts.hold("u")
    assert await hold.give_back_consuming("spent a moment ago") is None
    assert (await attempts.remaining("u"))[0] == CAPACITY


async def test_a_hold_given_back_already_only_consumes() -> None:
    clock = FrozenClock(1_000_000.0)
    store = _Spying(clock)
    attempts = _attempts(store, clock)
    await attempts.hold("u")  # another attempt, counted
    hold = await attempts.hold("u")
    await hold.give_back()
    await store.put("token", "v", 10)
    store.calls.clear()
    assert await hold.give_back_consuming("token") == "v"
    assert store.calls == ["consume"]
    assert (await attempts.remaining("u"))[0] == CAPACITY - 1


async def test_a_locked_attempt_given_back_with_the_consume_writes_nothing() -> None:
    clock = FrozenClock(1_000_000.0)
    store = _Transactional(clock)
    attempts = _attempts(store, clock)
    await store.put("token", "v", 10)
    hold = await attempts.hold("u")
    assert await hold.give_back_consuming("token") == "v"
    writes = store.writes
    await hold.settle()
    assert store.writes == writes  # given back: the attempt is never written
    assert (await attempts.remaining("u"))[0] == CAPACITY
    assert store.gcra_calls == 0


async def test_a_spend_the_store_did_not_answer_still_gives_the_attempt_back_on_abandon() -> None:
    # Redis down between the take and the spend: the unit fails, and the attempt an outage
    # cost goes back once the store answers again.
    class _Down(MemoryStateStore):
        async def consume_refunding(self, key: str, bucket: str, interval: float) -> str | None:
            raise BackendUnavailable("redis")

    clock = FrozenClock(1_000_000.0)
    store = _Down(clock)
    attempts = _attempts(store, clock)
    hold = await attempts.hold("u")
    with pytest.raises(BackendUnavailable):
        await hold.give_back_consuming("token")
    await hold.abandon()
    assert (await attempts.remaining("u"))[0] == CAPACITY

"""Remembered browsers on the memory state store, with a frozen clock: recognised for the user
it remembers only, forgotten by the user's invalidation, idle and absolute expiry."""

from __future__ import annotations

import dataclasses

import pytest

from twofold.core.clock import FrozenClock
from twofold.core.ids import digest
from twofold.core.login.remembered import PREFIX, PURPOSE, RememberedBrowsers
from twofold.core.models import User
from twofold.state.memory import MemoryStateStore

from .counting_store import CountingStore

pytestmark = pytest.mark.anyio

DAY = 86_400
IDLE, ABSOLUTE = 7 * DAY, 30 * DAY
ALICE = User(user_id="auth0|alice", email="alice@example.com", password_hash="x")
BOB = User(user_id="auth0|bob", email="bob@example.com", password_hash="x")


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def store(clock: FrozenClock) -> CountingStore:
    return CountingStore(clock)


@pytest.fixture
def remembered(store: MemoryStateStore, clock: FrozenClock) -> RememberedBrowsers:
    return RememberedBrowsers(store, clock, idle=IDLE, absolute=ABSOLUTE)


async def test_recognised_for_the_user_it_remembers(
    remembered: RememberedBrowsers, store: MemoryStateStore
) -> None:
    cookie = await remembered.remember(ALICE.user_id)

    assert len(cookie) >= 43
    assert await remembered.recognised(cookie, ALICE) is True
    assert await remembered.recognised(cookie, BOB) is False
    assert await remembered.recognised(cookie, ALICE) is True  # Bob's try forgot nothing
    assert await remembered.recognised(cookie + "x", ALICE) is False
    assert await remembered.recognised("", ALICE) is False
    assert await remembered.recognised(None, ALICE) is False
    # Keyed by the cookie's digest: the store holds no cookie.
    assert list(store._entries) == [PREFIX + digest(cookie, PURPOSE)]


async def test_invalidation_forgets_browsers_remembered_before_it(
    remembered: RememberedBrowsers, store: MemoryStateStore, clock: FrozenClock
) -> None:
    old = await remembered.remember(ALICE.user_id)
    clock.advance(10)
    invalidated = dataclasses.replace(ALICE, remember_browser_invalidated_at=clock.now())
    same_instant = await remembered.remember(ALICE.user_id)
    clock.advance(1)
    new = await remembered.remember(ALICE.user_id)

    assert await remembered.recognised(old, invalidated) is False
    assert await remembered.recognised(same_instant, invalidated) is False
    assert await remembered.recognised(new, invalidated) is True
    # Forgotten for good: the record is gone, whatever user is asked about next.
    assert await remembered.recognised(old, ALICE) is False
    assert PREFIX + digest(old, PURPOSE) not in store._entries


async def test_idle_expiry_slides_with_use(
    remembered: RememberedBrowsers, clock: FrozenClock
) -> None:
    cookie = await remembered.remember(ALICE.user_id)

    clock.advance(IDLE - 1)
    assert await remembered.recognised(cookie, ALICE) is True
    clock.advance(IDLE - 1)
    assert await remembered.recognised(cookie, ALICE) is True
    clock.advance(IDLE)
    assert await remembered.recognised(cookie, ALICE) is False


async def test_used_weekly_it_still_ends_after_the_maximum(
    remembered: RememberedBrowsers, clock: FrozenClock
) -> None:
    start = clock.now()
    cookie = await remembered.remember(ALICE.user_id)

    while clock.now() + 6 * DAY < start + ABSOLUTE:
        clock.advance(6 * DAY)
        assert await remembered.recognised(cookie, ALICE) is True
    clock.set(start + ABSOLUTE - 1)
    assert await remembered.recognised(cookie, ALICE) is True
    clock.set(start + ABSOLUTE)
    assert await remembered.recognised(cookie, ALICE) is False


async def test_recognising_rewrites_at_most_hourly(
    remembered: RememberedBrowsers, store: CountingStore, clock: FrozenClock
) -> None:
    cookie = await remembered.remember(ALICE.user_id)
    made = store.writes
    for _ in range(59):
        clock.advance(60)
        assert await remembered.recognised(cookie, ALICE) is True
    assert store.writes == made
    clock.advance(60)
    assert await remembered.recognised(cookie, ALICE) is True
    assert store.writes == made + 1


async def test_forget(remembered: RememberedBrowsers) -> None:
    cookie = await remembered.remember(ALICE.user_id)
    other = await remembered.remember(ALICE.user_id)
    await remembered.forget(cookie)
    await remembered.forget(cookie)
    await remembered.forget(None)
    assert await remembered.recognised(cookie, ALICE) is False
    assert await remembered.recognised(other, ALICE) is True


def test_lifetimes_are_checked(store: MemoryStateStore, clock: FrozenClock) -> None:
    with pytest.raises(ValueError, match="at least the idle"):
        RememberedBrowsers(store, clock, idle=IDLE, absolute=IDLE - 1)

"""The SSO session on the memory state store, with a frozen clock: what the cookie stands for,
idle and absolute expiry, sliding without a write per request, ending, and step-up methods."""

from __future__ import annotations

import json

import pytest

from twofold.core.clock import FrozenClock
from twofold.core.ids import digest
from twofold.core.login.sso import PURPOSE, RECORD_PREFIX, SID_PREFIX, SsoSessions
from twofold.core.sessions import BrowserSession, SessionEnded
from twofold.state.memory import MemoryStateStore

from .counting_store import CountingStore

pytestmark = pytest.mark.anyio

DAY = 86_400
IDLE, ABSOLUTE = 3 * DAY, 7 * DAY


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def store(clock: FrozenClock) -> CountingStore:
    return CountingStore(clock)


@pytest.fixture
def sessions(store: CountingStore, clock: FrozenClock) -> SsoSessions:
    return SsoSessions(store, clock, idle=IDLE, absolute=ABSOLUTE)


async def test_the_cookie_stands_for_the_session_it_started(sessions: SsoSessions) -> None:
    cookie, session = await sessions.start("auth0|u1", 1_700_000_000, ("pwd",))

    assert session == BrowserSession(session.sid, "auth0|u1", 1_700_000_000, ("pwd",))
    assert await sessions.current(cookie) == session
    assert await sessions.current(cookie + "x") is None
    assert await sessions.current("") is None
    assert await sessions.current(None) is None
    assert await sessions.current("x" * 100_000) is None


async def test_cookie_and_sid_are_separate_random_values(
    sessions: SsoSessions, store: CountingStore
) -> None:
    cookie, session = await sessions.start("auth0|u1", 1, ("pwd",))
    other_cookie, other = await sessions.start("auth0|u1", 1, ("pwd",))

    assert len(cookie) >= 43  # 256 bits, url-safe base64
    assert len({cookie, other_cookie, session.sid, other.sid}) == 4
    assert session.sid not in cookie
    assert cookie not in session.sid
    # The sid opens nothing: it is not a cookie, and the store keys the record by the cookie's
    # digest, never by the cookie itself.
    assert await sessions.current(session.sid) is None
    keys = set(store._entries)
    assert RECORD_PREFIX + digest(cookie, PURPOSE) in keys
    assert not any(cookie in key for key in keys)
    assert not any(cookie in value for value, _ in store._entries.values())


async def test_the_record_holds_who_when_and_how(
    sessions: SsoSessions, store: CountingStore, clock: FrozenClock
) -> None:
    cookie, session = await sessions.start("auth0|u1", 1_699_999_990, ("pwd", "pwd"))
    raw = await store.get(RECORD_PREFIX + digest(cookie, PURPOSE))
    assert raw is not None

    assert json.loads(raw) == {
        "sid": session.sid,
        "user_id": "auth0|u1",
        "auth_time": 1_699_999_990,
        "amr": ["pwd"],
        "created_at": clock.now(),
        "last_seen": clock.now(),
        "ends_by": clock.now() + ABSOLUTE,
    }


async def test_an_unused_session_ends_after_the_idle_lifetime(
    sessions: SsoSessions, clock: FrozenClock
) -> None:
    cookie, session = await sessions.start("auth0|u1", 1, ("pwd",))

    clock.advance(IDLE - 1)
    assert await sessions.current(cookie) == session
    clock.advance(IDLE - 1)  # used a second before the end: renewed from then
    assert await sessions.current(cookie) == session
    clock.advance(IDLE)
    assert await sessions.current(cookie) is None


async def test_use_slides_the_idle_limit_but_never_past_the_absolute_one(
    sessions: SsoSessions, clock: FrozenClock
) -> None:
    start = clock.now()
    cookie, session = await sessions.start("auth0|u1", 1, ("pwd",))

    # Used every two days: each use renews three more days of idleness.
    while clock.now() + 2 * DAY < start + ABSOLUTE:
        clock.advance(2 * DAY)
        assert await sessions.current(cookie) == session
    clock.set(start + ABSOLUTE - 1)
    assert await sessions.current(cookie) == session
    clock.set(start + ABSOLUTE)
    assert await sessions.current(cookie) is None


async def test_a_busy_session_is_not_rewritten_on_every_request(
    sessions: SsoSessions, store: CountingStore, clock: FrozenClock
) -> None:
    cookie, _ = await sessions.start("auth0|u1", 1, ("pwd",))
    started = store.writes

    for _ in range(59):
        clock.advance(1)
        assert await sessions.current(cookie) is not None
    assert store.writes == started  # a minute of requests, no write

    clock.advance(1)
    assert await sessions.current(cookie) is not None
    assert store.writes == started + 1  # a minute since the last write: one renewal

    clock.advance(30)
    assert await sessions.current(cookie) is not None
    assert store.writes == started + 1


async def test_the_throttle_never_outlives_a_short_idle_lifetime(
    store: CountingStore, clock: FrozenClock
) -> None:
    sessions = SsoSessions(store, clock, idle=30, absolute=3600)
    cookie, _ = await sessions.start("auth0|u1", 1, ("pwd",))

    # Used every 20 s: a one-minute throttle would let the 30 s idle limit pass.
    for _ in range(10):
        clock.advance(20)
        assert await sessions.current(cookie) is not None
    clock.advance(30)
    assert await sessions.current(cookie) is None


async def test_the_idle_limit_counts_from_the_last_write(
    sessions: SsoSessions, clock: FrozenClock
) -> None:
    cookie, _ = await sessions.start("auth0|u1", 1, ("pwd",))

    clock.advance(30)  # a use within the minute: not written
    assert await sessions.current(cookie) is not None
    clock.advance(IDLE - 30)
    assert await sessions.current(cookie) is None


async def test_end_ends_it_and_ending_twice_is_fine(
    sessions: SsoSessions, store: CountingStore
) -> None:
    cookie, session = await sessions.start("auth0|u1", 1, ("pwd",))
    other_cookie, other = await sessions.start("auth0|u1", 1, ("pwd",))

    await sessions.end(session)
    await sessions.end(session)

    assert await sessions.current(cookie) is None
    assert await sessions.current(other_cookie) == other  # the user's other browser stays
    assert SID_PREFIX + session.sid not in store._entries
    assert RECORD_PREFIX + digest(cookie, PURPOSE) not in store._entries


async def test_ending_an_unknown_or_expired_session_is_fine(
    sessions: SsoSessions, clock: FrozenClock
) -> None:
    await sessions.end(BrowserSession("no-such-sid", "auth0|u1"))
    cookie, session = await sessions.start("auth0|u1", 1, ("pwd",))
    clock.advance(ABSOLUTE)
    await sessions.end(session)
    assert await sessions.current(cookie) is None


async def test_a_renewal_racing_an_end_does_not_bring_the_session_back(
    sessions: SsoSessions, store: CountingStore, clock: FrozenClock
) -> None:
    cookie, session = await sessions.start("auth0|u1", 1, ("pwd",))
    clock.advance(120)
    key = RECORD_PREFIX + digest(cookie, PURPOSE)
    seen = await store.get(key)

    # What another node's `current` does between its read and its renewal: the end lands.
    real_get = store.get

    async def get_then_end(k: str) -> str | None:
        value = await real_get(k)
        if k == key:
            store.get = real_get  # type: ignore[method-assign]
            await sessions.end(session)
        return value

    store.get = get_then_end  # type: ignore[method-assign]
    assert await sessions.current(cookie) is None
    assert seen is not None
    assert await store.get(key) is None


async def test_add_methods_merges_in_order_without_repeats(
    sessions: SsoSessions, clock: FrozenClock
) -> None:
    cookie, session = await sessions.start("auth0|u1", 42, ("pwd",))
    clock.advance(5)

    stepped = await sessions.add_methods(session, ("mfa", "otp", "pwd"))
    again = await sessions.add_methods(stepped, ("otp", "mfa", "sms"))

    assert stepped == BrowserSession(session.sid, "auth0|u1", 42, ("pwd", "mfa", "otp"))
    assert again.amr == ("pwd", "mfa", "otp", "sms")
    assert again.auth_time == 42  # a second factor is no new sign-in
    assert await sessions.current(cookie) == again


async def test_add_methods_writes_nothing_when_nothing_is_new(
    sessions: SsoSessions, store: CountingStore, clock: FrozenClock
) -> None:
    _, session = await sessions.start("auth0|u1", 1, ("pwd", "mfa"))
    before = store.writes
    clock.advance(5)
    assert await sessions.add_methods(session, ("mfa",)) == session
    assert store.writes == before


async def test_add_methods_to_an_ended_session_says_so(
    sessions: SsoSessions, clock: FrozenClock
) -> None:
    cookie, session = await sessions.start("auth0|u1", 1, ("pwd",))
    await sessions.end(session)
    with pytest.raises(SessionEnded):
        await sessions.add_methods(session, ("mfa",))

    cookie, session = await sessions.start("auth0|u1", 1, ("pwd",))
    clock.advance(IDLE)
    with pytest.raises(SessionEnded):
        await sessions.add_methods(session, ("mfa",))
    assert await sessions.current(cookie) is None


async def test_a_shorter_lifetime_applies_to_sessions_already_started(
    store: CountingStore, clock: FrozenClock
) -> None:
    cookie, _ = await SsoSessions(store, clock, idle=IDLE, absolute=ABSOLUTE).start(
        "auth0|u1", 1, ("pwd",)
    )
    clock.advance(2 * 3600)
    shorter = SsoSessions(store, clock, idle=3600, absolute=ABSOLUTE)
    assert await shorter.current(cookie) is None


async def test_a_longer_absolute_lifetime_applies_to_new_sessions_only(
    store: CountingStore, clock: FrozenClock
) -> None:
    # The sid pointer lives until the absolute end of the time: logout must find the session
    # for as long as it can be used.
    cookie, session = await SsoSessions(store, clock, idle=IDLE, absolute=ABSOLUTE).start(
        "auth0|u1", 1, ("pwd",)
    )
    longer = SsoSessions(store, clock, idle=IDLE, absolute=30 * DAY)
    for _ in range(3):
        clock.advance(2 * DAY)
        assert await longer.current(cookie) == session
    clock.advance(2 * DAY)
    assert await longer.current(cookie) is None  # day 8: past the 7 days it started with


async def test_a_damaged_record_is_no_session(sessions: SsoSessions, store: CountingStore) -> None:
    cookie, _ = await sessions.start("auth0|u1", 1, ("pwd",))
    await store.put(RECORD_PREFIX + digest(cookie, PURPOSE), '{"sid": 1}', 60)
    assert await sessions.current(cookie) is None


def test_lifetimes_are_checked() -> None:
    store = MemoryStateStore(FrozenClock())
    with pytest.raises(ValueError, match="positive"):
        SsoSessions(store, FrozenClock(), idle=0, absolute=10)
    with pytest.raises(ValueError, match="at least the idle"):
        SsoSessions(store, FrozenClock(), idle=10, absolute=5)

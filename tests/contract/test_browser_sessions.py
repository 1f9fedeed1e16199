"""Contract: the SSO session and remembered browsers behave alike on every state store (memory;
SQL on SQLite and PostgreSQL; Redis), and a session started on one node is the same session on
another (two stores with their own connections on one database or one Redis prefix)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import pytest

from twofold.core.clock import Clock, FrozenClock
from twofold.core.ids import digest
from twofold.core.login.remembered import RememberedBrowsers
from twofold.core.login.sso import PURPOSE, RECORD_PREFIX, SsoSessions
from twofold.core.models import User
from twofold.core.ports import StateStore
from twofold.core.sessions import SessionEnded
from twofold.state.redis import RedisStateStore
from twofold.state.sql import SqlStateStore
from twofold.storage.database import Database

from ._backends import REDIS_URL, redis_prefix
from .conftest import DATABASES, _migrated_database

pytestmark = pytest.mark.anyio

DAY = 86_400
IDLE, ABSOLUTE = 3 * DAY, 7 * DAY
USER = User(user_id="auth0|u1", email="u1@example.com", password_hash="x")


def _sessions(store: StateStore, clock: Clock) -> SsoSessions:
    return SsoSessions(store, clock, idle=IDLE, absolute=ABSOLUTE)


def _remembered(store: StateStore, clock: Clock) -> RememberedBrowsers:
    return RememberedBrowsers(store, clock, idle=7 * DAY, absolute=30 * DAY)


# --- on every store ---------------------------------------------------------------------------


async def test_start_current_end(state_store: StateStore, clock: FrozenClock) -> None:
    sessions = _sessions(state_store, clock)
    cookie, session = await sessions.start("auth0|u1", 1_700_000_000, ("pwd",))

    assert await sessions.current(cookie) == session
    assert await sessions.current(session.sid) is None
    assert await state_store.get(RECORD_PREFIX + digest(cookie, PURPOSE)) is not None

    await sessions.end(session)
    await sessions.end(session)
    assert await sessions.current(cookie) is None


async def test_idle_and_absolute_expiry(state_store: StateStore, clock: FrozenClock) -> None:
    sessions = _sessions(state_store, clock)
    start = clock.now()
    idle_cookie, _ = await sessions.start("auth0|u1", 1, ("pwd",))
    busy_cookie, busy = await sessions.start("auth0|u1", 1, ("pwd",))

    for _ in range(3):
        clock.advance(2 * DAY)
        assert await sessions.current(busy_cookie) == busy
    assert await sessions.current(idle_cookie) is None  # six days unused
    clock.set(start + ABSOLUTE - 1)
    assert await sessions.current(busy_cookie) == busy
    clock.set(start + ABSOLUTE)
    assert await sessions.current(busy_cookie) is None


async def test_add_methods(state_store: StateStore, clock: FrozenClock) -> None:
    sessions = _sessions(state_store, clock)
    cookie, session = await sessions.start("auth0|u1", 7, ("pwd",))

    stepped = await sessions.add_methods(session, ("mfa", "otp", "pwd"))

    assert stepped.amr == ("pwd", "mfa", "otp")
    assert await sessions.current(cookie) == stepped
    await sessions.end(stepped)
    with pytest.raises(SessionEnded):
        await sessions.add_methods(stepped, ("sms",))


async def test_renewal_does_not_revive_an_ended_session(
    state_store: StateStore, clock: FrozenClock
) -> None:
    sessions = _sessions(state_store, clock)
    cookie, session = await sessions.start("auth0|u1", 1, ("pwd",))
    key = RECORD_PREFIX + digest(cookie, PURPOSE)
    clock.advance(120)
    seen = await state_store.get(key)
    await sessions.end(session)

    # The renewal `current` makes is a compare-and-set on what it read: it finds nothing now.
    assert seen is not None
    assert await state_store.cas(key, seen, seen, 60) is False
    assert await sessions.current(cookie) is None


async def test_remembered_browsers(state_store: StateStore, clock: FrozenClock) -> None:
    remembered = _remembered(state_store, clock)
    cookie = await remembered.remember(USER.user_id)
    other = dataclasses.replace(USER, user_id="auth0|u2")

    assert await remembered.recognised(cookie, USER) is True
    assert await remembered.recognised(cookie, other) is False
    clock.advance(1)
    forgotten = dataclasses.replace(USER, remember_browser_invalidated_at=clock.now())
    assert await remembered.recognised(cookie, forgotten) is False
    assert await remembered.recognised(cookie, USER) is False  # deleted when found forgotten

    cookie = await remembered.remember(USER.user_id)
    clock.advance(7 * DAY)
    assert await remembered.recognised(cookie, USER) is False


# --- across nodes -----------------------------------------------------------------------------

Nodes = Callable[[Clock, Path], AbstractAsyncContextManager[list[StateStore]]]


def _sql_nodes(kind: str) -> Nodes:
    @asynccontextmanager
    async def nodes(clock: Clock, tmp_path: Path) -> AsyncIterator[list[StateStore]]:
        with DATABASES[kind](tmp_path) as url:
            first = await _migrated_database(url)
            second = Database.open(url)
            try:
                yield [SqlStateStore(first, clock), SqlStateStore(second, clock)]
            finally:
                await first.dispose()
                await second.dispose()

    return nodes


@asynccontextmanager
async def _redis_nodes(clock: Clock, _tmp_path: Path) -> AsyncIterator[list[StateStore]]:
    async with redis_prefix("sso") as prefix:
        stores = [RedisStateStore.from_url(REDIS_URL, clock, prefix=prefix) for _ in range(2)]
        try:
            yield list(stores)
        finally:
            for store in stores:
                await store.close()


NODES: dict[str, Nodes] = {
    "sql-sqlite": _sql_nodes("sqlite"),
    "sql-postgresql": _sql_nodes("postgresql"),
    "redis": _redis_nodes,
}


@pytest.fixture(params=sorted(NODES))
async def nodes(
    request: pytest.FixtureRequest, clock: FrozenClock, tmp_path: Path
) -> AsyncIterator[list[StateStore]]:
    async with NODES[request.param](clock, tmp_path) as stores:
        yield stores


async def test_a_session_is_one_session_on_every_node(
    nodes: list[StateStore], clock: FrozenClock
) -> None:
    a, b = (_sessions(store, clock) for store in nodes)
    cookie, session = await a.start("auth0|u1", 1, ("pwd",))

    assert await b.current(cookie) == session
    stepped = await b.add_methods(session, ("mfa", "otp"))
    assert await a.current(cookie) == stepped

    # Renewed on one node, the other sees the renewal: used only through b every two days,
    # the session outlives a's three idle days.
    for _ in range(3):
        clock.advance(2 * DAY)
        assert await b.current(cookie) == stepped
    assert await a.current(cookie) == stepped

    await a.end(stepped)
    assert await b.current(cookie) is None


async def test_a_browser_remembered_on_one_node_is_recognised_on_another(
    nodes: list[StateStore], clock: FrozenClock
) -> None:
    a, b = (_remembered(store, clock) for store in nodes)
    cookie = await a.remember(USER.user_id)
    assert await b.recognised(cookie, USER) is True
    await b.forget(cookie)
    assert await a.recognised(cookie, USER) is False

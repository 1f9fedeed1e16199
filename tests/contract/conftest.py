"""Fixtures that run each port's contract suite against every adapter.

Adding a backend is one entry in DATABASES or STATE_STORES (plus its factory), e.g.

    DATABASES["postgresql"] = _postgresql        # skips when no server is reachable
    STATE_STORES["redis"] = _redis_state

Every test then runs against it unchanged.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import anyio.to_thread
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from twofold.core.clock import Clock, FrozenClock
from twofold.core.models import DEFAULT_REALM, User
from twofold.core.ports import StateStore
from twofold.state.memory import MemoryStateStore
from twofold.state.sql import SqlStateStore
from twofold.storage import migrate
from twofold.storage.engine import make_engine
from twofold.storage.repositories import SqlStorage


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


# --- databases -------------------------------------------------------------------------------


def _sqlite(tmp_path: Path) -> str:
    # A file, not :memory:, so that concurrent tests really use several connections.
    return f"sqlite:///{tmp_path / 'db' / 'twofold.db'}"


# name -> factory of an empty database's plain URL (the same form operators configure).
DATABASES: dict[str, Callable[[Path], str]] = {
    "sqlite": _sqlite,
}


async def _migrated_engine(url: str) -> AsyncEngine:
    # migrate.upgrade blocks (it runs before the loop in production), so keep it off the loop.
    await anyio.to_thread.run_sync(migrate.upgrade, url)
    return make_engine(url)


@pytest.fixture(params=sorted(DATABASES))
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return DATABASES[request.param](tmp_path)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = await _migrated_engine(database_url)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def storage(engine: AsyncEngine) -> SqlStorage:
    return SqlStorage(engine)


@pytest.fixture
def make_user(storage: SqlStorage) -> Callable[..., Awaitable[User]]:
    async def make(
        user_id: str = "auth0|u1",
        *,
        email: str | None = None,
        realm: str = DEFAULT_REALM,
        username: str | None = None,
    ) -> User:
        user = User(
            user_id=user_id,
            email=email or f"{user_id.split('|')[-1]}@example.com",
            password_hash="$argon2id$fake",
            realm=realm,
            username=username,
            created_at=1_700_000_000.0,
        )
        await storage.users.create(user)
        return user

    return make


# --- short-lived state -----------------------------------------------------------------------

StateFactory = Callable[[Clock, Path], AbstractAsyncContextManager[StateStore]]


@asynccontextmanager
async def _memory_state(clock: Clock, _tmp_path: Path) -> AsyncIterator[MemoryStateStore]:
    yield MemoryStateStore(clock)


@asynccontextmanager
async def _sql_sqlite_state(clock: Clock, tmp_path: Path) -> AsyncIterator[SqlStateStore]:
    engine = await _migrated_engine(_sqlite(tmp_path))
    try:
        yield SqlStateStore(engine, clock)
    finally:
        await engine.dispose()


# name -> factory of an empty store reading time from the given clock.
STATE_STORES: dict[str, StateFactory] = {
    "memory": _memory_state,
    "sql-sqlite": _sql_sqlite_state,
}


@pytest.fixture(params=sorted(STATE_STORES))
async def state_store(
    request: pytest.FixtureRequest, clock: FrozenClock, tmp_path: Path
) -> AsyncIterator[StateStore]:
    async with STATE_STORES[request.param](clock, tmp_path) as store:
        yield store

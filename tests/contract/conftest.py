"""Fixtures that run each port's contract suite against every adapter.

Adding a backend is one entry in DATABASES or STATE_STORES (plus its factory); every test then
runs against it unchanged. PostgreSQL and Redis are part of the default run: each test gets its
own schema or key prefix (tests/contract/_backends.py), and an unreachable server fails the test
rather than skipping it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import (
    AbstractAsyncContextManager,
    AbstractContextManager,
    asynccontextmanager,
    contextmanager,
)
from pathlib import Path

import anyio.to_thread
import pytest

from twofold.core.clock import Clock, FrozenClock
from twofold.core.models import DEFAULT_REALM, User
from twofold.core.ports import StateStore
from twofold.state.memory import MemoryStateStore
from twofold.state.redis import RedisStateStore
from twofold.state.sql import SqlStateStore
from twofold.storage import migrate
from twofold.storage.database import Database
from twofold.storage.repositories import SqlStorage

from ._backends import REDIS_URL, postgres_schema, redis_prefix


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


# --- databases -------------------------------------------------------------------------------


@contextmanager
def _sqlite(tmp_path: Path) -> Iterator[str]:
    # A file, not :memory:, so that concurrent tests really use several connections.
    yield f"sqlite:///{tmp_path / 'db' / 'twofold.db'}"


@contextmanager
def _postgresql(_tmp_path: Path) -> Iterator[str]:
    with postgres_schema("contract") as url:
        yield url


# name -> context manager yielding an empty database's plain URL (the form operators configure).
DATABASES: dict[str, Callable[[Path], AbstractContextManager[str]]] = {
    "sqlite": _sqlite,
    "postgresql": _postgresql,
}


async def _migrated_database(url: str) -> Database:
    # migrate.upgrade blocks (it runs before the loop in production), so keep it off the loop.
    await anyio.to_thread.run_sync(migrate.upgrade, url)
    return Database.open(url)


@pytest.fixture(params=sorted(DATABASES))
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with DATABASES[request.param](tmp_path) as url:
        yield url


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    database = await _migrated_database(database_url)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
def storage(database: Database) -> SqlStorage:
    return SqlStorage(database)


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


def _sql_state(database: str) -> StateFactory:
    @asynccontextmanager
    async def factory(clock: Clock, tmp_path: Path) -> AsyncIterator[SqlStateStore]:
        with DATABASES[database](tmp_path) as url:
            db = await _migrated_database(url)
            try:
                yield SqlStateStore(db, clock)
            finally:
                await db.dispose()

    return factory


@asynccontextmanager
async def _redis_state(clock: Clock, _tmp_path: Path) -> AsyncIterator[RedisStateStore]:
    async with redis_prefix("state") as prefix:
        store = RedisStateStore.from_url(REDIS_URL, clock, prefix=prefix)
        try:
            yield store
        finally:
            await store.close()


# name -> factory of an empty store reading time from the given clock.
STATE_STORES: dict[str, StateFactory] = {
    "memory": _memory_state,
    "sql-sqlite": _sql_state("sqlite"),
    "sql-postgresql": _sql_state("postgresql"),
    "redis": _redis_state,
}


# Stores that keep expired entries until a sweep (Redis expires its keys itself).
SWEEPING_STATE_STORES = ("memory", "sql-postgresql", "sql-sqlite")


@pytest.fixture(params=sorted(STATE_STORES))
async def state_store(
    request: pytest.FixtureRequest, clock: FrozenClock, tmp_path: Path
) -> AsyncIterator[StateStore]:
    async with STATE_STORES[request.param](clock, tmp_path) as store:
        yield store


@pytest.fixture(params=SWEEPING_STATE_STORES)
async def sweeping_state_store(
    request: pytest.FixtureRequest, clock: FrozenClock, tmp_path: Path
) -> AsyncIterator[StateStore]:
    async with STATE_STORES[request.param](clock, tmp_path) as store:
        yield store


@pytest.fixture
async def redis_state_store(clock: FrozenClock, tmp_path: Path) -> AsyncIterator[RedisStateStore]:
    async with _redis_state(clock, tmp_path) as store:
        yield store

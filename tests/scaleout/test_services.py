"""The composition root on PostgreSQL and Redis, in-process: what a node checks at start-up,
what /readyz reports, and nodes that start together on an empty database."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import httpx
import pytest

from contract._backends import REDIS_URL, postgres_schema, redis_prefix
from twofold.app import ConfigurationError, Services, build_app, create_services
from twofold.config import Settings
from twofold.state.redis import RedisStateStore
from twofold.state.sql import SqlStateStore
from twofold.storage import migrate
from twofold.storage.database import Database

pytestmark = [pytest.mark.anyio, pytest.mark.scaleout]

UNREACHABLE_POSTGRES = "postgresql://postgres@127.0.0.1:1/test"
UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"


def _settings(tmp_path: Path, database_url: str, **extra: Any) -> Settings:
    return Settings(
        database_url=database_url,
        domain="auth.scaleout.test",
        data_dir=tmp_path,
        environment="test",
        argon2_time_cost=1,
        argon2_memory_cost=1024,
        db_connect_timeout=2,
        redis_timeout=2,
        **extra,
    )


@pytest.fixture
def empty_database() -> Iterator[str]:
    with postgres_schema("services") as url:
        yield url


@pytest.fixture
async def database(empty_database: str) -> str:
    await anyio.to_thread.run_sync(migrate.upgrade, empty_database)
    return empty_database


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    async with redis_prefix("services") as value:
        yield value


async def _readyz(services: Services) -> httpx.Response:
    transport = httpx.ASGITransport(app=build_app(services))
    async with httpx.AsyncClient(transport=transport, base_url="http://node") as http:
        return await http.get("/readyz")


async def test_postgresql_without_migrations_is_refused(
    tmp_path: Path, empty_database: str
) -> None:
    with pytest.raises(ConfigurationError, match=r"empty .*run `twofold migrate` first"):
        await create_services(_settings(tmp_path, empty_database))


async def test_postgresql_behind_head_is_refused(tmp_path: Path, empty_database: str) -> None:
    await anyio.to_thread.run_sync(migrate.upgrade, empty_database, "0001")
    with pytest.raises(ConfigurationError, match=r"at revision 0001.*needs revision"):
        await create_services(_settings(tmp_path, empty_database))


async def test_unreachable_postgresql_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot reach the database"):
        await create_services(_settings(tmp_path, UNREACHABLE_POSTGRES))


async def test_redis_url_selects_the_redis_state_store(
    tmp_path: Path, database: str, prefix: str
) -> None:
    services = await create_services(
        _settings(tmp_path, database, redis_url=REDIS_URL, redis_prefix=prefix)
    )
    try:
        assert isinstance(services.state, RedisStateStore)
        assert services.deps.state is services.state
        await services.state.put("probe", "v", 30)
        assert await services.state.get("probe") == "v"
        response = await _readyz(services)
        assert response.status_code == 200
        assert response.json() == {
            "status": "ok",
            "checks": {"database": "ok", "redis": "ok"},
        }
        assert response.headers["cache-control"] == "no-store"
    finally:
        await services.close()


async def test_without_redis_the_state_is_in_the_database(tmp_path: Path, database: str) -> None:
    services = await create_services(_settings(tmp_path, database))
    try:
        assert isinstance(services.state, SqlStateStore)
        response = await _readyz(services)
        assert response.status_code == 200
        assert response.json() == {"status": "ok", "checks": {"database": "ok"}}
    finally:
        await services.close()


async def test_readyz_503_when_redis_is_unreachable(tmp_path: Path, database: str) -> None:
    # A node starts without Redis (it connects lazily) but does not report ready.
    services = await create_services(_settings(tmp_path, database, redis_url=UNREACHABLE_REDIS))
    try:
        response = await _readyz(services)
        assert response.status_code == 503
        assert response.json() == {
            "status": "unavailable",
            "checks": {"database": "ok", "redis": "unavailable"},
        }
        assert response.headers["cache-control"] == "no-store"
    finally:
        await services.close()


async def test_readyz_503_when_the_database_is_unreachable(
    tmp_path: Path, database: str, prefix: str
) -> None:
    services = await create_services(
        _settings(tmp_path, database, redis_url=REDIS_URL, redis_prefix=prefix)
    )
    healthy = services.database
    # The database goes away under a running node: it now points where nothing listens.
    services.database = Database.open(UNREACHABLE_POSTGRES, connect_timeout=2)
    try:
        response = await _readyz(services)
        assert response.status_code == 503
        assert response.json() == {
            "status": "unavailable",
            "checks": {"database": "unavailable", "redis": "ok"},
        }
    finally:
        await services.database.dispose()
        services.database = healthy
        await services.close()


async def test_nodes_starting_together_share_one_first_signing_key(
    tmp_path: Path, database: str, prefix: str
) -> None:
    settings = _settings(tmp_path, database, redis_url=REDIS_URL, redis_prefix=prefix)
    started: list[Services] = []

    async def start() -> None:
        started.append(await create_services(settings))

    try:
        async with anyio.create_task_group() as tg:
            for _ in range(4):
                tg.start_soon(start)
        assert len(started) == 4
        keys = await started[0].deps.storage.signing_keys.list()
        assert [k.status for k in keys] == ["current"]
        kids = {(await s.deps.signer()).kid for s in started}
        assert kids == {keys[0].kid}
    finally:
        for services in started:
            await services.close()


async def test_hostile_lookups_are_4xx_on_postgresql(
    tmp_path: Path, database: str, prefix: str
) -> None:
    # PostgreSQL refuses NUL characters that SQLite takes; the answer must not change with it.
    services = await create_services(
        _settings(tmp_path, database, redis_url=REDIS_URL, redis_prefix=prefix)
    )
    transport = httpx.ASGITransport(app=build_app(services), raise_app_exceptions=False)
    basic = base64.b64encode(b"client\x00id:secret").decode()
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://node") as http:
            response = await http.post(
                "/oauth/token",
                data={"grant_type": "client_credentials", "audience": "https://api"},
                headers={"Authorization": f"Basic {basic}"},
            )
            assert response.status_code == 401, response.text
            assert response.json()["error"] == "invalid_client"
            response = await http.post(
                "/oauth/token",
                data={"grant_type": "password", "username": "a\x00", "password": "pw"},
            )
            assert 400 <= response.status_code < 500, response.text
    finally:
        await services.close()

"""Isolated PostgreSQL schemas and Redis key prefixes for tests.

Every test (or test module) gets its own PostgreSQL schema, selected through the URL's
`options=-csearch_path=…`, and its own Redis key prefix; both are removed afterwards. Concurrent
runs and reruns therefore never see each other's rows or keys, and nothing is left behind.

The servers are the ones `.ci/run` starts: PostgreSQL on 127.0.0.1:5432 (database `test`, trust
auth) and Redis on 127.0.0.1:6379. Point elsewhere with TWOFOLD_TEST_POSTGRES_URL and
TWOFOLD_TEST_REDIS_URL. An unreachable server fails the test with a message that says how to
start it: these backends are part of the acceptance, so they are never skipped silently.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from urllib.parse import quote

import psycopg
import pytest
import redis.asyncio as aioredis
from psycopg import sql

POSTGRES_URL = os.environ.get(
    "TWOFOLD_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("TWOFOLD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
CONNECT_TIMEOUT = 5
_HOW_TO_START = (
    "start the services with `.ci/run` (or `pg_ctlcluster --skip-systemctl-redirect"
    " $(ls /etc/postgresql) main start` and `redis-server --daemonize yes`), or point"
    " TWOFOLD_TEST_POSTGRES_URL / TWOFOLD_TEST_REDIS_URL elsewhere"
)


def _admin_connect() -> psycopg.Connection[tuple[object, ...]]:
    try:
        return psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=CONNECT_TIMEOUT)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable at {POSTGRES_URL}: {exc}\n{_HOW_TO_START}")


def with_search_path(url: str, schema: str) -> str:
    """The plain URL operators would write to keep Twofold's tables in `schema`."""
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options={quote(f'-csearch_path={schema}', safe='')}"


@contextmanager
def postgres_schema(label: str = "t") -> Iterator[str]:
    """A new, empty schema; yields a database URL whose connections use it. Dropped after."""
    schema = f"twofold_{label}_{secrets.token_hex(6)}"
    with _admin_connect() as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        yield with_search_path(POSTGRES_URL, schema)
    finally:
        with _admin_connect() as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


async def _delete_prefixed(client: aioredis.Redis, prefix: str) -> None:
    batch: list[bytes] = []
    async for key in client.scan_iter(match=f"{prefix}*", count=500):
        batch.append(key)
        if len(batch) >= 500:
            await client.delete(*batch)
            batch.clear()
    if batch:
        await client.delete(*batch)


@asynccontextmanager
async def redis_prefix(label: str = "t") -> AsyncIterator[str]:
    """A key prefix no other test uses; every key under it is deleted afterwards."""
    prefix = f"twofold-test:{label}:{secrets.token_hex(6)}:"
    # Bytes, not str: keys need not be valid UTF-8 (a lone surrogate passes through as such).
    client = aioredis.Redis.from_url(REDIS_URL, socket_connect_timeout=CONNECT_TIMEOUT)
    try:
        try:
            await client.ping()
        except (aioredis.ConnectionError, OSError) as exc:
            pytest.fail(f"Redis is not reachable at {REDIS_URL}: {exc}\n{_HOW_TO_START}")
        try:
            yield prefix
        finally:
            await _delete_prefixed(client, prefix)
    finally:
        await client.aclose()


def delete_redis_prefix_sync(prefix: str) -> None:
    """Blocking variant for fixtures outside an event loop."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=CONNECT_TIMEOUT)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=500))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start : start + 500])
    finally:
        client.close()

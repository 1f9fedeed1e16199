"""What the Redis StateStore adds to the shared contract: garbage-collecting TTLs, key prefixes,
and atomicity between separate clients (two nodes)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
import redis.asyncio as aioredis

from twofold.core.clock import FrozenClock
from twofold.core.errors import BackendUnavailable
from twofold.state.redis import GRACE_MS, RedisStateStore

from ._backends import REDIS_URL, redis_prefix

pytestmark = pytest.mark.anyio


@pytest.fixture
async def raw() -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    async with redis_prefix("redis") as value:
        yield value


@pytest.fixture
async def nodes(clock: FrozenClock, prefix: str) -> AsyncIterator[list[RedisStateStore]]:
    """Two stores with their own connection pools on one prefix: two nodes of one deployment."""
    stores = [RedisStateStore.from_url(REDIS_URL, clock, prefix=prefix) for _ in range(2)]
    try:
        yield stores
    finally:
        for store in stores:
            await store.close()


async def test_every_key_has_a_redis_ttl_so_redis_frees_it(
    nodes: list[RedisStateStore], raw: aioredis.Redis, prefix: str
) -> None:
    store = nodes[0]
    await store.put("p", "v", 30)
    await store.add("a", "v", 30)
    await store.cas("c", None, "v", 30)
    await store.incr("i", 30)
    for key in ("p", "a", "c", "i"):
        pttl = await raw.pttl(prefix + key)
        assert 0 < pttl <= 30_000 + GRACE_MS, key


async def test_incr_keeps_the_ttl_of_the_first_hit(
    nodes: list[RedisStateStore], raw: aioredis.Redis, prefix: str, clock: FrozenClock
) -> None:
    store = nodes[0]
    await store.incr("bucket", 60)
    first = await raw.pttl(prefix + "bucket")
    clock.advance(30)
    await store.incr("bucket", 60)
    assert 0 < await raw.pttl(prefix + "bucket") <= first


async def test_keys_live_under_the_prefix_only(
    nodes: list[RedisStateStore], raw: aioredis.Redis, prefix: str, clock: FrozenClock
) -> None:
    await nodes[0].put("k", "v", 30)
    assert await raw.exists(prefix + "k") == 1
    async with redis_prefix("other") as other_prefix:
        other = RedisStateStore.from_url(REDIS_URL, clock, prefix=other_prefix)
        try:
            assert await other.get("k") is None
            assert await other.add("k", "mine", 30) is True
        finally:
            await other.close()
    assert await nodes[0].get("k") == "v"


async def test_foreign_or_damaged_values_read_as_absent(
    nodes: list[RedisStateStore], raw: aioredis.Redis, prefix: str
) -> None:
    store = nodes[0]
    for value in ("no separator", "not-a-time|v", "|v"):
        await raw.set(prefix + "k", value)
        assert await store.get("k") is None
        assert await store.cas("k", "v", "w", 10) is False
        assert await store.add("k", "fresh", 10) is True
        assert await store.get("k") == "fresh"


async def test_values_may_contain_the_separator(nodes: list[RedisStateStore]) -> None:
    store = nodes[0]
    await store.put("k", "a|b|c", 10)
    assert await store.get("k") == "a|b|c"
    assert await store.cas("k", "a|b|c", "d|e", 10) is True
    assert await store.consume("k") == "d|e"


async def test_two_nodes_consume_once(nodes: list[RedisStateStore]) -> None:
    await nodes[0].put("mfa_token", "txn", 60)
    got: list[str | None] = []

    async def consume(store: RedisStateStore) -> None:
        got.append(await store.consume("mfa_token"))

    async with anyio.create_task_group() as tg:
        for i in range(20):
            tg.start_soon(consume, nodes[i % 2])
    assert got.count("txn") == 1


async def test_two_nodes_share_one_counter(nodes: list[RedisStateStore]) -> None:
    counts: list[int] = []

    async def incr(store: RedisStateStore) -> None:
        counts.append(await store.incr("bucket", 60))

    async with anyio.create_task_group() as tg:
        for i in range(20):
            tg.start_soon(incr, nodes[i % 2])
    assert sorted(counts) == list(range(1, 21))


async def test_ping(nodes: list[RedisStateStore], clock: FrozenClock, tmp_path: Path) -> None:
    assert await nodes[0].ping() is True
    # Nothing listens on port 1: the probe fails with a connection error, it does not hang; like
    # every operation, as the core's BackendUnavailable (a 503), the client's error as its cause.
    down = RedisStateStore.from_url("redis://127.0.0.1:1/0", clock, timeout=2.0)
    try:
        with pytest.raises(BackendUnavailable) as refused:
            await down.ping()
        assert isinstance(refused.value.__cause__, aioredis.ConnectionError | OSError)
        with pytest.raises(BackendUnavailable):
            await down.get("k")
        with pytest.raises(BackendUnavailable):
            await down.gcra_take("k", 1.0, 1.0)
    finally:
        await down.close()


async def test_more_commands_than_connections_wait_for_a_free_one(
    clock: FrozenClock, prefix: str
) -> None:
    store = RedisStateStore.from_url(REDIS_URL, clock, prefix=prefix, max_connections=2)
    counts: list[int] = []

    async def incr() -> None:
        counts.append(await store.incr("bucket", 60))

    try:
        async with anyio.create_task_group() as tg:
            for _ in range(40):
                tg.start_soon(incr)
    finally:
        await store.close()
    assert sorted(counts) == list(range(1, 41))


async def test_a_command_that_finds_no_free_connection_in_time_is_backend_unavailable(
    clock: FrozenClock, prefix: str, raw: aioredis.Redis
) -> None:
    """The only connection is held by a command that Redis keeps waiting (CLIENT PAUSE): the
    next command gives up after the store's wait, while the first one still completes."""
    client = aioredis.Redis.from_url(REDIS_URL, decode_responses=True, socket_timeout=5)
    store = RedisStateStore(client, clock, prefix=prefix, max_in_flight=1, wait_timeout=0.2)
    try:
        await store.put("k", "v", 60)
        await raw.execute_command("CLIENT", "PAUSE", "1000", "ALL")
        held = asyncio.create_task(store.get("k"))
        await asyncio.sleep(0.05)  # the first command is sent and waits on Redis
        with pytest.raises(BackendUnavailable) as refused:
            await store.get("k")
        assert isinstance(refused.value.__cause__, TimeoutError)
        assert not held.done()
        assert await held == "v"
        assert await store.get("k") == "v"
    finally:
        await raw.execute_command("CLIENT", "UNPAUSE")
        await store.close()

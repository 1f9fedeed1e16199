"""Contract: StateStore, on every adapter (memory; SQL on SQLite and PostgreSQL; Redis)."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import anyio
import pytest

from twofold.core.clock import FrozenClock
from twofold.core.ports import StateStore

pytestmark = pytest.mark.anyio


class PurgingStore(StateStore, Protocol):
    async def purge_expired(self) -> int: ...


async def test_get_put_delete(state_store: StateStore) -> None:
    assert await state_store.get("k") is None
    await state_store.put("k", "v1", 60)
    assert await state_store.get("k") == "v1"
    await state_store.put("k", "v2", 60)  # put overwrites
    assert await state_store.get("k") == "v2"
    await state_store.delete("k")
    assert await state_store.get("k") is None
    await state_store.delete("k")  # deleting nothing is fine


async def test_entries_expire_at_ttl(state_store: StateStore, clock: FrozenClock) -> None:
    await state_store.put("k", "v", 30)
    clock.advance(29.999)
    assert await state_store.get("k") == "v"
    clock.advance(0.001)  # expires_at == now counts as expired
    assert await state_store.get("k") is None


async def test_put_refreshes_ttl(state_store: StateStore, clock: FrozenClock) -> None:
    await state_store.put("k", "v", 10)
    clock.advance(8)
    await state_store.put("k", "v", 10)
    clock.advance(8)
    assert await state_store.get("k") == "v"


async def test_add_only_when_absent_or_expired(state_store: StateStore, clock: FrozenClock) -> None:
    assert await state_store.add("k", "first", 10) is True
    assert await state_store.add("k", "second", 10) is False
    assert await state_store.get("k") == "first"
    clock.advance(10)
    assert await state_store.add("k", "third", 10) is True
    assert await state_store.get("k") == "third"


async def test_consume(state_store: StateStore, clock: FrozenClock) -> None:
    await state_store.put("k", "v", 10)
    assert await state_store.consume("k") == "v"
    assert await state_store.consume("k") is None
    assert await state_store.get("k") is None
    assert await state_store.consume("never") is None
    await state_store.put("old", "v", 10)
    clock.advance(10)
    assert await state_store.consume("old") is None
    # A consumed key can be added again (a fresh mfa_token, say).
    assert await state_store.add("k", "again", 10) is True


async def test_cas(state_store: StateStore, clock: FrozenClock) -> None:
    assert await state_store.cas("k", "x", "v1", 10) is False  # absent is not "x"
    assert await state_store.cas("k", None, "v1", 10) is True
    assert await state_store.cas("k", None, "v2", 10) is False  # present is not None
    assert await state_store.cas("k", "wrong", "v2", 10) is False
    assert await state_store.get("k") == "v1"
    assert await state_store.cas("k", "v1", "v2", 10) is True
    assert await state_store.get("k") == "v2"

    clock.advance(9)
    assert await state_store.cas("k", "v2", "v3", 10) is True  # a write renews the TTL
    clock.advance(9)
    assert await state_store.get("k") == "v3"

    clock.advance(1)  # now expired: behaves as absent
    assert await state_store.cas("k", "v3", "v4", 10) is False
    assert await state_store.cas("k", None, "v4", 10) is True
    assert await state_store.get("k") == "v4"


async def test_incr_counts_in_a_fixed_window(state_store: StateStore, clock: FrozenClock) -> None:
    assert await state_store.incr("bucket", 60) == 1
    assert await state_store.incr("bucket", 60) == 2
    assert await state_store.incr("other", 60) == 1
    clock.advance(59)
    # Hits inside the window do not extend it.
    assert await state_store.incr("bucket", 60) == 3
    assert await state_store.get("bucket") == "3"
    clock.advance(1)
    assert await state_store.get("bucket") is None
    assert await state_store.incr("bucket", 60) == 1
    clock.advance(59)
    assert await state_store.incr("bucket", 60) == 2


async def test_purge_expired(sweeping_state_store: PurgingStore, clock: FrozenClock) -> None:
    store = sweeping_state_store
    await store.put("a", "1", 10)
    await store.put("b", "1", 20)
    await store.put("c", "1", 30)
    clock.advance(20)
    assert await store.purge_expired() == 2
    assert await store.get("c") == "1"
    assert await store.purge_expired() == 0


# --- concurrency: exactly one winner ---------------------------------------------------------

N = 30


async def test_concurrent_consume_exactly_one(state_store: StateStore) -> None:
    await state_store.put("mfa_token", "txn", 60)
    got: list[str | None] = []

    async def consume() -> None:
        got.append(await state_store.consume("mfa_token"))

    async with anyio.create_task_group() as tg:
        for _ in range(N):
            tg.start_soon(consume)
    assert got.count("txn") == 1
    assert got.count(None) == N - 1


async def test_concurrent_cas_from_none_exactly_one(state_store: StateStore) -> None:
    wins: list[int] = []

    async def cas(i: int) -> None:
        if await state_store.cas("jti", None, str(i), 60):
            wins.append(i)

    async with anyio.create_task_group() as tg:
        for i in range(N):
            tg.start_soon(cas, i)
    assert len(wins) == 1
    assert await state_store.get("jti") == str(wins[0])


async def test_concurrent_cas_from_value_exactly_one(state_store: StateStore) -> None:
    await state_store.put("k", "v0", 60)
    wins: list[int] = []

    async def cas(i: int) -> None:
        if await state_store.cas("k", "v0", f"v{i + 1}", 60):
            wins.append(i)

    async with anyio.create_task_group() as tg:
        for i in range(N):
            tg.start_soon(cas, i)
    assert len(wins) == 1


async def test_concurrent_add_exactly_one(state_store: StateStore) -> None:
    wins: list[bool] = []

    async def add() -> None:
        wins.append(await state_store.add("once", "x", 60))

    async with anyio.create_task_group() as tg:
        for _ in range(N):
            tg.start_soon(add)
    assert wins.count(True) == 1


async def test_concurrent_incr_loses_no_update(state_store: StateStore) -> None:
    counts: list[int] = []

    async def incr() -> None:
        counts.append(await state_store.incr("bucket", 60))

    async with anyio.create_task_group() as tg:
        for _ in range(N):
            tg.start_soon(incr)
    assert sorted(counts) == list(range(1, N + 1))
    assert await state_store.get("bucket") == str(N)


@pytest.mark.parametrize(
    "key",
    ["nul\x00key", "k" * 2000, "ünïcødé:🔑", "lone\ud800surrogate", "sha256:" + "0" * 64],
    ids=["nul", "long", "unicode", "surrogate", "digest-like"],
)
async def test_any_string_is_a_key(state_store: StateStore, clock: FrozenClock, key: str) -> None:
    # Keys are the core's business; whatever it passes must behave like any other key.
    assert await state_store.get(key) is None
    assert await state_store.add(key, "v1", 10) is True
    assert await state_store.get(key) == "v1"
    assert await state_store.get(key[:-1]) is None
    assert await state_store.cas(key, "v1", "v2", 10) is True
    assert await state_store.incr(key + ":n", 10) == 1
    assert await state_store.consume(key) == "v2"
    await state_store.put(key, "v3", 10)
    await state_store.delete(key)
    assert await state_store.get(key) is None


async def test_gcra_take_fills_and_refills(state_store: StateStore, clock: FrozenClock) -> None:
    # capacity 3 with one cell refilled every 10 s: tolerance (3 - 1) * 10.
    for _ in range(3):
        assert await state_store.gcra_take("b", 10, 20) is None
    refused = await state_store.gcra_take("b", 10, 20)
    assert refused == pytest.approx(clock.now() + 30, abs=1e-3)  # the TAT: three cells ahead
    assert await state_store.get("b") is not None
    assert float(await state_store.get("b") or 0) == pytest.approx(clock.now() + 30, abs=1e-3)
    clock.advance(9.9)
    assert await state_store.gcra_take("b", 10, 20) is not None  # not refilled yet
    clock.advance(0.1)
    assert await state_store.gcra_take("b", 10, 20) is None  # one cell back after 10 s
    assert await state_store.gcra_take("b", 10, 20) is not None


async def test_gcra_entry_expires_a_second_after_its_tat(
    state_store: StateStore, clock: FrozenClock
) -> None:
    assert await state_store.gcra_take("b", 10, 0) is None
    clock.advance(10.999)
    assert await state_store.get("b") is not None
    clock.advance(0.001)
    assert await state_store.get("b") is None
    assert await state_store.gcra_take("b", 10, 0) is None  # an expired bucket is full again


async def test_gcra_refund(state_store: StateStore, clock: FrozenClock) -> None:
    await state_store.gcra_refund("absent", 10)
    assert await state_store.get("absent") is None  # nothing to give back: stays absent
    for _ in range(2):
        assert await state_store.gcra_take("b", 10, 10) is None
    assert await state_store.gcra_take("b", 10, 10) is not None
    await state_store.gcra_refund("b", 10)
    assert float(await state_store.get("b") or 0) == pytest.approx(clock.now() + 10, abs=1e-3)
    assert await state_store.gcra_take("b", 10, 10) is None
    await state_store.gcra_refund("b", 10)
    await state_store.gcra_refund("b", 10)
    await state_store.gcra_refund("b", 10)  # never earlier than now
    assert float(await state_store.get("b") or 0) == pytest.approx(clock.now(), abs=1e-3)
    for _ in range(2):
        assert await state_store.gcra_take("b", 10, 10) is None
    assert await state_store.gcra_take("b", 10, 10) is not None


async def test_consume_refunding_consumes_and_refunds_together(
    state_store: StateStore, clock: FrozenClock
) -> None:
    for _ in range(2):
        assert await state_store.gcra_take("b", 10, 10) is None
    await state_store.put("k", "v", 10)
    assert await state_store.consume_refunding("k", "b", 10) == "v"
    assert await state_store.get("k") is None
    assert float(await state_store.get("b") or 0) == pytest.approx(clock.now() + 10, abs=1e-3)
    # Nothing to consume (a race lost): the cell goes back all the same.
    assert await state_store.consume_refunding("k", "b", 10) is None
    assert float(await state_store.get("b") or 0) == pytest.approx(clock.now(), abs=1e-3)
    # An expired entry is not consumed; an absent bucket stays absent.
    await state_store.put("old", "v", 10)
    clock.advance(10)
    assert await state_store.consume_refunding("old", "absent", 10) is None
    assert await state_store.get("absent") is None


async def test_concurrent_consume_refunding_exactly_one(state_store: StateStore) -> None:
    await state_store.put("mfa_token", "txn", 60)
    got: list[str | None] = []

    async def consume() -> None:
        got.append(await state_store.consume_refunding("mfa_token", "b", 10))

    async with anyio.create_task_group() as tg:
        for _ in range(N):
            tg.start_soon(consume)
    assert got.count("txn") == 1
    assert got.count(None) == N - 1


async def test_gcra_hold_reads_the_tat_as_gcra_take_does(
    state_store: StateStore, clock: FrozenClock
) -> None:
    assert await state_store.gcra_hold("b") is None  # absent
    # Holding an absent bucket may leave an expired entry, never a live one: still absent.
    assert await state_store.get("b") is None
    await state_store.gcra_refund("b", 10)
    assert await state_store.get("b") is None
    for _ in range(3):
        assert await state_store.gcra_take("b", 10, 20) is None
    assert await state_store.gcra_take("b", 10, 20) is not None  # held or not, it is full
    assert await state_store.gcra_hold("b") == pytest.approx(clock.now() + 30, abs=1e-3)
    clock.advance(25)
    # In the past too:
    assert await state_store.gcra_hold("b") == pytest.approx(clock.now() + 5, abs=1e-3)
    clock.advance(5 + 0.999)
    assert await state_store.gcra_hold("b") == pytest.approx(clock.now() - 0.999, abs=1e-3)
    clock.advance(0.001)
    assert await state_store.gcra_hold("b") is None  # expired a second after its TAT
    assert await state_store.get("b") is None
    for _ in range(3):
        assert await state_store.gcra_take("b", 10, 20) is None  # full again


async def test_gcra_hold_then_put_is_a_take(state_store: StateStore, clock: FrozenClock) -> None:
    # What a grant's counted failure writes on a held bucket: the TAT gcra_take would leave.
    assert await state_store.gcra_take("taken", 10, 20) is None
    assert await state_store.gcra_hold("held") is None
    await state_store.put("held", repr(clock.now() + 10), 11)
    held, taken = await state_store.get("held"), await state_store.get("taken")
    assert held is not None
    assert taken is not None
    assert float(held) == float(taken)
    clock.advance(10.999)
    assert await state_store.gcra_hold("held") is not None
    clock.advance(0.001)
    assert await state_store.gcra_hold("held") is None


async def test_gcra_hold_writes_nothing_a_sweep_would_count_live(
    sweeping_state_store: PurgingStore, clock: FrozenClock
) -> None:
    store = sweeping_state_store
    assert await store.gcra_hold("b") is None
    assert await store.get("b") is None
    await store.purge_expired()  # whatever it left is expired already
    assert await store.add("b", "x", 10)  # and does not stand in the way of a new entry


async def test_concurrent_gcra_take_never_exceeds_capacity(state_store: StateStore) -> None:
    taken = 0

    async def take() -> None:
        nonlocal taken
        if await state_store.gcra_take("b", 60, 4 * 60) is None:
            taken += 1

    async with anyio.create_task_group() as tg:
        for _ in range(20):
            tg.start_soon(take)
    assert taken == 5


async def test_purge_expired_in_batches(
    sweeping_state_store: PurgingStore, clock: FrozenClock
) -> None:
    from twofold.state.sql import SqlStateStore

    store = sweeping_state_store
    if not isinstance(store, SqlStateStore):
        pytest.skip("batches are the SQL store's")
    for i in range(7):
        await store.put(f"k{i}", "1", 10)
    await store.put("live", "1", 60)
    clock.advance(10)
    assert await store.purge_expired(batch=3) == 7  # three full batches, the last one short
    assert await store.get("live") == "1"
    assert await store.purge_expired(batch=3) == 0


def test_gcra_take_holds_across_processes_sharing_a_sqlite_file(tmp_path: Path) -> None:
    # Two server processes on one SQLite file: here two threads, each with its own event loop
    # and engine, so their statements really interleave at SQLite (the sqlite3 driver releases
    # the GIL). Of 40 simultaneous takes on a bucket of 5, exactly 5 may succeed.
    import asyncio
    import threading

    from twofold.state.sql import SqlStateStore
    from twofold.storage import migrate
    from twofold.storage.database import Database

    url = f"sqlite:///{tmp_path / 'twofold.db'}"
    migrate.upgrade(url)
    taken: list[bool] = []
    start = threading.Barrier(2)

    async def node() -> None:
        database = Database.open(url)
        store = SqlStateStore(database, FrozenClock())
        try:
            await store.get("warm-up")  # open the connections before the race
            start.wait()
            for _ in range(20):
                taken.append(await store.gcra_take("bucket", 60, 4 * 60) is None)
        finally:
            await database.dispose()

    threads = [threading.Thread(target=asyncio.run, args=(node(),)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(taken) == 40
    assert taken.count(True) == 5

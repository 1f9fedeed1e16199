from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from twofold.core.passwords import PasswordHasher

pytestmark = pytest.mark.anyio

TINY = {"time_cost": 1, "memory_cost": 1024, "parallelism": 1}


@pytest.fixture
def hasher() -> Iterator[PasswordHasher]:
    h = PasswordHasher(**TINY, max_concurrency=2)
    yield h
    h.close()


async def test_hash_and_verify(hasher: PasswordHasher) -> None:
    encoded = await hasher.hash("correct horse battery staple")
    assert encoded.startswith("$argon2id$v=19$m=1024,t=1,p=1$")
    assert await hasher.verify(encoded, "correct horse battery staple")
    assert not await hasher.verify(encoded, "correct horse battery stapl")
    assert not await hasher.verify(encoded, "")


async def test_hashes_are_salted(hasher: PasswordHasher) -> None:
    assert await hasher.hash("same") != await hasher.hash("same")


async def test_unicode_passwords(hasher: PasswordHasher) -> None:
    encoded = await hasher.hash("pässwörd 🔑")
    assert await hasher.verify(encoded, "pässwörd 🔑")
    assert not await hasher.verify(encoded, "passwörd 🔑")
    # A lone surrogate cannot be encoded; it is simply a wrong password.
    assert not await hasher.verify(encoded, "\ud800")


@pytest.mark.parametrize(
    "bad_hash",
    [
        "",
        "garbage",
        "$argon2id$",
        "$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$",
        "$argon2id$v=19$m=1024,t=1,p=1$!!!!$!!!!",
        "$2b$12$KIXQJQ6c3t0bW8nVY5p5XuXh3cH3QeJm3p0w5u9l6Y1K3Q0E9b2hK",  # bcrypt
        "é" * 100,
        "\ud800",
    ],
)
async def test_malformed_hash_is_false(hasher: PasswordHasher, bad_hash: str) -> None:
    assert await hasher.verify(bad_hash, "password") is False


async def test_verify_dummy_does_the_work(hasher: PasswordHasher) -> None:
    calls: list[str] = []
    real = hasher._verify_sync

    def spy(password_hash: str, password: str) -> bool:
        calls.append(password_hash)
        return real(password_hash, password)

    hasher._verify_sync = spy  # type: ignore[method-assign]
    await hasher.verify_dummy("whatever")
    await hasher.verify_dummy("\ud800")
    # It checks a real argon2id hash with the configured parameters, not a shortcut.
    assert calls[0].startswith("$argon2id$v=19$m=1024,t=1,p=1$")
    assert not hasher.needs_rehash(calls[0])


async def test_needs_rehash(hasher: PasswordHasher) -> None:
    encoded = await hasher.hash("pw")
    assert not hasher.needs_rehash(encoded)
    stronger = PasswordHasher(time_cost=2, memory_cost=1024, parallelism=1, max_concurrency=1)
    try:
        assert stronger.needs_rehash(encoded)
        # Old hashes still verify after a parameter change.
        assert await stronger.verify(encoded, "pw")
    finally:
        stronger.close()
    assert hasher.needs_rehash("garbage")
    assert hasher.needs_rehash("$2b$12$KIXQJQ6c3t0bW8nVY5p5XuXh3cH3QeJm3p0w5u9l6Y1K3Q0E9b2hK")


class _SlowHasher:
    """Stands in for argon2's hasher to observe threads and concurrency."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.peak = 0
        self.calls = 0
        self.threads: set[int] = set()

    def hash(self, password: str) -> str:
        with self.lock:
            self.running += 1
            self.calls += 1
            self.peak = max(self.peak, self.running)
            self.threads.add(threading.get_ident())
        time.sleep(0.05)
        with self.lock:
            self.running -= 1
        return "h:" + password

    def verify(self, password_hash: str, password: str) -> bool:
        self.hash(password)
        return password_hash == "h:" + password


async def test_work_runs_off_the_loop_and_is_capped(hasher: PasswordHasher) -> None:
    slow = _SlowHasher()
    hasher._hasher = slow  # type: ignore[assignment]
    results = await asyncio.gather(*(hasher.hash(str(i)) for i in range(8)))
    assert results == [f"h:{i}" for i in range(8)]
    assert slow.peak == 2
    assert threading.get_ident() not in slow.threads


async def test_event_loop_stays_responsive(hasher: PasswordHasher) -> None:
    hasher._hasher = _SlowHasher()  # type: ignore[assignment]
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        for _ in range(10):
            await asyncio.sleep(0.005)
            ticks += 1

    await asyncio.gather(hasher.hash("a"), hasher.hash("b"), ticker())
    assert ticks == 10


async def test_cancelled_waiters_cost_nothing(hasher: PasswordHasher) -> None:
    slow = _SlowHasher()
    hasher._hasher = slow  # type: ignore[assignment]
    tasks = [asyncio.ensure_future(hasher.hash(str(i))) for i in range(6)]
    await asyncio.sleep(0.01)  # two are running, four wait on the semaphore
    for task in tasks[2:]:
        task.cancel()
    done = await asyncio.gather(*tasks, return_exceptions=True)
    assert done[:2] == ["h:0", "h:1"]
    assert all(isinstance(d, asyncio.CancelledError) for d in done[2:])
    assert slow.calls == 2


async def test_cancelling_a_running_hash_keeps_the_cap(hasher: PasswordHasher) -> None:
    slow = _SlowHasher()
    hasher._hasher = slow  # type: ignore[assignment]
    first = [asyncio.ensure_future(hasher.hash(str(i))) for i in range(2)]
    await asyncio.sleep(0.01)
    for task in first:
        task.cancel()
    # The threads are still hashing; new work must wait for them, not run beside them.
    await asyncio.gather(*(hasher.hash(str(i)) for i in range(4)))
    await asyncio.gather(*first, return_exceptions=True)
    assert slow.peak == 2


async def test_default_concurrency_is_cpu_count() -> None:
    import os

    h = PasswordHasher(**TINY)
    try:
        assert h.max_concurrency == (os.cpu_count() or 1)
    finally:
        h.close()


def test_rejects_zero_concurrency() -> None:
    with pytest.raises(ValueError):
        PasswordHasher(**TINY, max_concurrency=0)


def test_works_across_event_loops() -> None:
    # One hasher may outlive an event loop (tests, CLI commands calling asyncio.run twice).
    h = PasswordHasher(**TINY, max_concurrency=1)
    try:

        async def both() -> Any:
            return await asyncio.gather(h.hash("x"), h.hash("y"))

        first = asyncio.run(both())
        second = asyncio.run(both())
        assert len(first) == len(second) == 2
    finally:
        h.close()

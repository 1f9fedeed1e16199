"""Password hashing with argon2id, off the event loop and with a cap on concurrent work.

An argon2 check costs a few hundred milliseconds of CPU and tens of MiB of memory with the
default parameters. Run on the event loop it would stall every other request, and run without a
cap a burst of logins could exhaust memory. So hashing happens in a thread pool sized to
`max_concurrency`, and callers queue on a semaphore *before* work is handed to the pool: a
request cancelled while waiting (client gone, timeout) never costs a hash.
"""

from __future__ import annotations

import asyncio
import functools
import os
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import argon2
from argon2.exceptions import InvalidHashError, VerificationError

from twofold.core import imported_hashes

T = TypeVar("T")


class PasswordHasher:
    def __init__(
        self,
        time_cost: int = 3,
        memory_cost: int = 65536,
        parallelism: int = 1,
        max_concurrency: int | None = None,
    ) -> None:
        """`max_concurrency` defaults to the number of CPUs: more threads than cores only
        makes every check slower."""
        self._hasher = argon2.PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_cost,
            parallelism=parallelism,
            type=argon2.Type.ID,
        )
        if max_concurrency is None:
            max_concurrency = os.cpu_count() or 1
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        self._max_concurrency = max_concurrency
        self._executor = ThreadPoolExecutor(
            max_workers=self._max_concurrency, thread_name_prefix="argon2"
        )
        # asyncio primitives belong to one event loop; remember which one ours serves.
        self._semaphore: asyncio.Semaphore | None = None
        self._semaphore_loop: asyncio.AbstractEventLoop | None = None
        # Same parameters as real hashes, so checking it costs what checking a real one does.
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))

    @property
    def max_concurrency(self) -> int:
        return self._max_concurrency

    async def hash(self, password: str) -> str:
        return await self._run(self._hasher.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        """True only when the password matches; False for a mismatch or a malformed hash."""
        return await self._run(self._verify_sync, password_hash, password)

    async def verify_dummy(self, password: str) -> None:
        """Spend the time of a real check, so an unknown user is not told apart by timing."""
        await self._run(self._verify_sync, self._dummy_hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        """True when the hash was made with other parameters, is not an argon2 hash, or was
        imported (whatever its algorithm)."""
        if imported_hashes.is_imported(password_hash):
            return True
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except (InvalidHashError, ValueError, TypeError):
            return True

    def close(self) -> None:
        """Stop the worker threads; for application shutdown."""
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _verify_sync(self, password_hash: str, password: str) -> bool:
        if imported_hashes.is_imported(password_hash):
            matched = imported_hashes.verify(password_hash, password)
            # Most imported algorithms cost far less than argon2id: spend a real check too, so
            # that an account still holding one does not answer faster than every other one.
            self._verify_sync(self._dummy_hash, password)
            return matched
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError, ValueError, TypeError):
            return False

    def _get_semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._semaphore is None or self._semaphore_loop is not loop:
            self._semaphore = asyncio.Semaphore(self._max_concurrency)
            self._semaphore_loop = loop
        return self._semaphore

    async def _run(self, fn: Callable[..., T], *args: object) -> T:
        loop = asyncio.get_running_loop()
        semaphore = self._get_semaphore()
        await semaphore.acquire()
        try:
            future = loop.run_in_executor(self._executor, functools.partial(fn, *args))
        except BaseException:
            semaphore.release()
            raise

        def release(done: asyncio.Future[T]) -> None:
            semaphore.release()
            # Retrieve the outcome so an abandoned future does not log "never retrieved".
            if not done.cancelled():
                done.exception()

        # Release when the thread is done, not when the caller stops waiting: a cancelled
        # caller must not let a new hash start while its own is still burning CPU.
        future.add_done_callback(release)
        return await asyncio.shield(future)

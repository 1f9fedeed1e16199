"""storage.locks.exclusive: one node at a time on PostgreSQL; a pass-through on SQLite."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from twofold.storage.engine import make_engine
from twofold.storage.locks import exclusive

from ._backends import postgres_schema

pytestmark = pytest.mark.anyio


async def test_blocks_under_one_name_never_overlap_on_postgresql() -> None:
    with postgres_schema("locks") as url:
        # Two engines: two nodes with their own pools.
        engines: list[AsyncEngine] = [make_engine(url), make_engine(url)]
        events: list[str] = []
        inside = anyio.Event()

        async def first() -> None:
            async with exclusive(engines[0], "job"):
                events.append("first in")
                inside.set()
                # Give the second node every chance to barge in if the lock did not hold.
                for _ in range(20):
                    await anyio.sleep(0.01)
                events.append("first out")

        async def second() -> None:
            await inside.wait()
            async with exclusive(engines[1], "job"):
                events.append("second in")
            async with exclusive(engines[1], "another job"):  # other names do not wait
                events.append("other")

        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(first)
                tg.start_soon(second)
        finally:
            for engine in engines:
                await engine.dispose()
        assert events == ["first in", "first out", "second in", "other"]


async def test_is_a_pass_through_on_sqlite(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'twofold.db'}")
    ran = []
    try:
        # Nested under one name: would wait forever if it locked anything.
        async with exclusive(engine, "job"), exclusive(engine, "job"):
            ran.append("nested")
    finally:
        await engine.dispose()
    assert ran == ["nested"]

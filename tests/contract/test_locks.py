"""storage.locks.exclusive: one node at a time on PostgreSQL; a pass-through on SQLite."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from twofold.storage.database import Database
from twofold.storage.locks import exclusive

from ._backends import postgres_schema

pytestmark = pytest.mark.anyio


async def test_blocks_under_one_name_never_overlap_on_postgresql() -> None:
    with postgres_schema("locks") as url:
        # Two databases: two nodes with their own pools.
        nodes = [Database.open(url), Database.open(url)]
        events: list[str] = []
        inside = anyio.Event()

        async def first() -> None:
            async with exclusive(nodes[0], "job"):
                events.append("first in")
                inside.set()
                # Give the second node every chance to barge in if the lock did not hold.
                for _ in range(20):
                    await anyio.sleep(0.01)
                events.append("first out")

        async def second() -> None:
            await inside.wait()
            async with exclusive(nodes[1], "job"):
                events.append("second in")
            async with exclusive(nodes[1], "another job"):  # other names do not wait
                events.append("other")

        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(first)
                tg.start_soon(second)
        finally:
            for node in nodes:
                await node.dispose()
        assert events == ["first in", "first out", "second in", "other"]


async def test_is_a_pass_through_on_sqlite(tmp_path: Path) -> None:
    database = Database.open(f"sqlite:///{tmp_path / 'twofold.db'}")
    ran = []
    try:
        # Nested under one name: would wait forever if it locked anything.
        async with exclusive(database, "job"), exclusive(database, "job"):
            ran.append("nested")
    finally:
        await database.dispose()
    assert ran == ["nested"]

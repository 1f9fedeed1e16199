"""The engine factory: URL mapping and the SQLite settings every pooled connection gets."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import anyio
import pytest
from sqlalchemy import text

from twofold.storage import migrate
from twofold.storage.engine import async_url, make_engine, sync_url, writer


@pytest.mark.parametrize(
    ("url", "expected_async", "expected_sync"),
    [
        ("sqlite:///var/t.db", "sqlite+aiosqlite:///var/t.db", "sqlite:///var/t.db"),
        ("sqlite:////abs/t.db", "sqlite+aiosqlite:////abs/t.db", "sqlite:////abs/t.db"),
        ("sqlite+aiosqlite:///t.db", "sqlite+aiosqlite:///t.db", "sqlite:///t.db"),
        (
            "postgresql://u:p@db:5432/twofold",
            "postgresql+psycopg://u:p@db:5432/twofold",
            "postgresql+psycopg://u:p@db:5432/twofold",
        ),
        (
            "postgres://u:p@db/twofold",
            "postgresql+psycopg://u:p@db/twofold",
            "postgresql+psycopg://u:p@db/twofold",
        ),
    ],
)
def test_url_mapping(url: str, expected_async: str, expected_sync: str) -> None:
    assert async_url(url).render_as_string(hide_password=False) == expected_async
    assert sync_url(url) == expected_sync


def test_unsupported_backend() -> None:
    with pytest.raises(ValueError, match="unsupported"):
        async_url("mysql://u@h/db")
    with pytest.raises(ValueError, match="unsupported"):
        sync_url("mysql://u@h/db")


@pytest.mark.anyio
async def test_sqlite_pragmas_on_every_connection(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new' / 'dir' / 'twofold.db'}"
    engine = make_engine(url)
    try:
        assert (tmp_path / "new" / "dir").is_dir()
        expected = {"journal_mode": "wal", "busy_timeout": 10000, "foreign_keys": 1}
        expected["synchronous"] = 1  # NORMAL

        async def check() -> None:
            async with engine.connect() as conn:
                for pragma, value in expected.items():
                    got = (await conn.execute(text(f"PRAGMA {pragma}"))).scalar_one()
                    assert got == value, pragma
                await anyio.sleep(0.01)  # hold the connection so the pool opens several

        async with anyio.create_task_group() as tg:
            for _ in range(8):
                tg.start_soon(check)
    finally:
        await engine.dispose()


def _try_write_lock(path: Path) -> bool:
    """Whether another connection could take SQLite's write lock right now (without waiting)."""
    probe = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        probe.execute("BEGIN IMMEDIATE")
        probe.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        probe.close()


@pytest.mark.anyio
async def test_writers_take_the_write_lock_at_begin_and_readers_do_not(tmp_path: Path) -> None:
    # Two deferred transactions that both read and then write deadlock, and SQLite fails one
    # with "database is locked" without honouring busy_timeout. Taking the lock at BEGIN makes
    # the second writer wait instead; readers must not take it, or they would queue behind writes.
    path = tmp_path / "twofold.db"
    url = f"sqlite:///{path}"
    await anyio.to_thread.run_sync(migrate.upgrade, url)
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT count(*) FROM state"))
            assert conn.in_transaction()
            assert _try_write_lock(path)
        async with writer(engine).begin() as conn:
            await conn.execute(text("SELECT count(*) FROM state"))
            assert not _try_write_lock(path)
        assert _try_write_lock(path)
    finally:
        await engine.dispose()

"""Migrations: idempotent upgrade, full downgrade, and a schema that matches tables.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio.to_thread
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from twofold.storage import migrate
from twofold.storage.database import Database, make_sync_engine
from twofold.storage.tables import metadata

EXPECTED_TABLES = {
    "tenant",
    "clients",
    "apis",
    "users",
    "authenticators",
    "recovery_codes",
    "signing_keys",
    "refresh_tokens",
    "state",
    "audit_events",
    "webauthn_credentials",
    "import_jobs",
    "import_failures",
}


def _tables(url: str) -> set[str]:
    engine = make_sync_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade(database_url: str) -> None:
    assert migrate.current_revision(database_url) is None
    migrate.upgrade(database_url)
    assert migrate.current_revision(database_url) == migrate.head_revision()
    assert _tables(database_url) == EXPECTED_TABLES

    migrate.downgrade(database_url, "base")
    assert migrate.current_revision(database_url) is None
    assert _tables(database_url) == set()

    migrate.upgrade(database_url)
    assert migrate.current_revision(database_url) == migrate.head_revision()
    assert _tables(database_url) == EXPECTED_TABLES


def test_upgrade_twice_is_a_no_op_and_keeps_data(database_url: str) -> None:
    migrate.upgrade(database_url)
    engine = make_sync_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text("INSERT INTO state (key, value, expires_at) VALUES ('k', 'v', 1.0)")
            )
        migrate.upgrade(database_url)
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT value FROM state")).scalar_one() == "v"
    finally:
        engine.dispose()


def test_migrated_schema_matches_tables_py(database_url: str) -> None:
    # If this fails, tables.py changed without a migration (or the other way round).
    migrate.upgrade(database_url)
    engine = make_sync_engine(database_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, metadata) == []
    finally:
        engine.dispose()


def test_upgrade_creates_the_sqlite_parent_directory(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a' / 'b' / 'twofold.db'}"
    migrate.upgrade(url)
    assert (tmp_path / "a" / "b" / "twofold.db").is_file()


def test_concurrent_upgrades_serialise(database_url: str) -> None:
    # Three deploy scripts running `twofold migrate` at once: all finish, the schema is whole.
    code = "import sys; from twofold.storage import migrate; migrate.upgrade(sys.argv[1])"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, database_url], stderr=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    failures = []
    for proc in procs:
        try:
            _, err = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
        if proc.returncode != 0:
            failures.append(err[-2000:])
    assert failures == []
    assert migrate.current_revision(database_url) == migrate.head_revision()
    assert _tables(database_url) == EXPECTED_TABLES


@pytest.mark.anyio
async def test_database_revision_of_a_running_engine(database_url: str) -> None:
    database = Database.open(database_url)
    try:
        assert await migrate.database_revision(database.engine) is None
        await anyio.to_thread.run_sync(migrate.upgrade, database_url)
        assert await migrate.database_revision(database.engine) == migrate.head_revision()
    finally:
        await database.dispose()


def test_an_upgrade_is_one_transaction_on_sqlite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Concurrent `twofold migrate` runs queue on the write lock only if the whole upgrade holds
    # it: alembic commits after each step on SQLite unless the transaction is the caller's, and
    # between two steps another process could read the version and apply the next step too.
    statements: list[str] = []
    original = migrate.make_sync_engine

    def traced(url: str) -> sa.Engine:
        engine = original(url)

        @sa.event.listens_for(engine, "connect")
        def _trace(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.set_trace_callback(statements.append)

        return engine

    monkeypatch.setattr(migrate, "make_sync_engine", traced)
    migrate.upgrade(f"sqlite:///{tmp_path / 'twofold.db'}")

    steps = [s for s in statements if s.startswith("UPDATE alembic_version")]
    assert len(steps) >= 2  # several migration steps ran...
    assert statements.count("BEGIN IMMEDIATE") == 1  # ...in one transaction
    assert statements.count("COMMIT") == 1

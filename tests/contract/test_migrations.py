"""Migrations: idempotent upgrade, full downgrade, and a schema that matches tables.py."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from twofold.storage import migrate
from twofold.storage.engine import make_sync_engine
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

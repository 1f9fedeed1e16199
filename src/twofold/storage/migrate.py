"""Schema migrations, run synchronously before the server's event loop starts.

Alembic is driven from code (no alembic.ini to ship or find): the script directory sits next to
this module, and the connection comes from `make_sync_engine`, i.e. the blocking sqlite3 driver
for SQLite with the same pragmas and BEGIN IMMEDIATE as the server, so a migration is one
transaction that either fully applies or leaves the schema untouched. Upgrading an up-to-date
database is a no-op.

On SQLite `twofold serve` migrates by itself; on PostgreSQL migrating is a separate step
(`twofold migrate`, once per release, before the nodes start) and the server refuses to start
on a schema that is not at this build's head.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from twofold.storage.database import make_sync_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


# Any constant will do, as long as every Twofold migration uses the same one.
_PG_MIGRATION_LOCK = 0x7477_6F66_6F6C_64  # "twofold"


def _lock_out_other_migrations(connection: Connection) -> None:
    """Two `twofold migrate` started at once (say, by two nodes' deploy scripts) must queue, not
    race through the same DDL. The whole upgrade is one transaction, begun here: alembic then
    treats it as the caller's and runs every step in it (on SQLite, whose DDL it does not treat
    as transactional, it would otherwise commit after each step, and another process could
    read the version between two steps and apply the next one too). On SQLite that transaction
    begins with BEGIN IMMEDIATE (the write lock); on PostgreSQL it takes an advisory lock held
    until commit."""
    connection.begin()
    if connection.dialect.name == "postgresql":
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": _PG_MIGRATION_LOCK})


# Alembic's `op` and `context` are process-wide proxies: two migrations in one process (threads)
# would drive each other's connections, so they take turns.
_IN_PROCESS = threading.Lock()


def _run(url: str, action: Callable[[Config], None]) -> None:
    with _IN_PROCESS:
        engine = make_sync_engine(url)
        try:
            with engine.connect() as connection:
                _lock_out_other_migrations(connection)
                config = _config()
                config.attributes["connection"] = connection
                action(config)
                connection.commit()
        finally:
            engine.dispose()


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at `url` up to `revision` (the latest by default)."""
    _run(url, lambda config: command.upgrade(config, revision))


def downgrade(url: str, revision: str = "base") -> None:
    """Step the database at `url` back to `revision` ("base" drops every table)."""
    _run(url, lambda config: command.downgrade(config, revision))


def current_revision(url: str) -> str | None:
    """The revision the database is at, or None for an empty database."""
    engine = make_sync_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def head_revision() -> str | None:
    """The newest revision this build ships; readiness checks compare it with the database's."""
    return ScriptDirectory.from_config(_config()).get_current_head()


async def database_revision(engine: AsyncEngine) -> str | None:
    """The revision of the database behind a running engine (None: never migrated)."""

    def read(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with engine.connect() as conn:
        return await conn.run_sync(read)

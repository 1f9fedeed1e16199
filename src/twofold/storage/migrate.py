"""Schema migrations, run synchronously before the server's event loop starts.

Alembic is driven from code (no alembic.ini to ship or find): the script directory sits next to
this module, and the connection comes from `make_sync_engine`, i.e. the blocking sqlite3 driver
for SQLite with the same pragmas and BEGIN IMMEDIATE as the server, so a migration is one
transaction that either fully applies or leaves the schema untouched. Upgrading an up-to-date
database is a no-op.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from twofold.storage.engine import make_sync_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at `url` up to `revision` (the latest by default)."""
    engine = make_sync_engine(url)
    try:
        with engine.connect() as connection:
            config = _config()
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
            connection.commit()
    finally:
        engine.dispose()


def downgrade(url: str, revision: str = "base") -> None:
    """Step the database at `url` back to `revision` ("base" drops every table)."""
    engine = make_sync_engine(url)
    try:
        with engine.connect() as connection:
            config = _config()
            config.attributes["connection"] = connection
            command.downgrade(config, revision)
            connection.commit()
    finally:
        engine.dispose()


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

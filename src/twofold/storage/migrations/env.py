"""Alembic environment, driven programmatically by `twofold.storage.migrate`.

There is no alembic.ini: migrate.py builds the Config and hands over an open connection in
`config.attributes["connection"]`, so the engine settings (SQLite pragmas, BEGIN IMMEDIATE) are
the ones the server itself uses.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from twofold.storage.tables import metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite can only ALTER by copying tables; batch mode makes later migrations portable.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _main() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through twofold.storage.migrate (or `twofold migrate`)")
    if context.is_offline_mode():
        raise RuntimeError("offline (SQL script) migrations are not supported")
    _run(connection)


_main()

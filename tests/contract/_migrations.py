"""A tenant row written at an older schema revision, then read back after upgrading to head:
how a migration's default for existing tenants is tested."""

from __future__ import annotations

import anyio.to_thread
import sqlalchemy as sa

from twofold.core.models import Tenant
from twofold.storage import migrate
from twofold.storage.database import Database, make_sync_engine
from twofold.storage.repositories import SqlStorage


async def tenant_after_upgrade(database_url: str, revision: str, insert: str) -> Tenant:
    """Migrate to `revision`, run the `insert` statement, upgrade to head, read the tenant."""
    await anyio.to_thread.run_sync(migrate.upgrade, database_url, revision)
    sync = make_sync_engine(database_url)
    try:
        with sync.begin() as conn:
            conn.execute(sa.text(insert))
    finally:
        sync.dispose()
    await anyio.to_thread.run_sync(migrate.upgrade, database_url)
    database = Database.open(database_url)
    try:
        return await SqlStorage(database).tenant.get()
    finally:
        await database.dispose()

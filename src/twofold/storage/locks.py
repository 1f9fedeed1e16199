"""Mutual exclusion between nodes for rare, one-time work (creating the first signing key).

On PostgreSQL a transaction-scoped advisory lock, so whichever node holds it can check and then
act ("no key yet? create one") while the others wait and then find the work done. On SQLite
there is one node: `twofold serve` does such work before it starts its workers, so nothing is
needed.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text

from twofold.storage.connections import Conn
from twofold.storage.database import Database


def _lock_id(name: str) -> int:
    # A stable signed 64-bit id per name (PostgreSQL's advisory lock key is a bigint).
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


async def lock_in_transaction(conn: Conn, dialect_name: str, name: str) -> None:
    """Within a write transaction: on PostgreSQL wait until no other transaction holds `name`,
    and hold it until this one ends. SQLite's write transactions are serialised already."""
    if dialect_name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _lock_id(name)})


@asynccontextmanager
async def exclusive(database: Database, name: str) -> AsyncIterator[None]:
    """Run the block while no other node runs a block under the same name."""
    if database.dialect_name != "postgresql":
        yield
        return
    # The lock lives as long as this connection's transaction, and it is released however the
    # block ends (even if the node dies: the server ends the session and its transaction).
    async with database.write_transaction() as conn:
        await lock_in_transaction(conn, database.dialect_name, name)
        yield

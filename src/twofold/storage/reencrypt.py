"""SQL side of `twofold keys rotate-encryption`: page through encrypted cells, and swap an
envelope only where the cell still holds the one that was read (a compare-and-set, so a row a
server rewrites or deletes meanwhile is never clobbered)."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from twofold.storage import tables as t
from twofold.storage.database import Database

# "<table>.<column>" -> (table, primary key column, encrypted column)
COLUMNS: dict[str, tuple[sa.Table, str, str]] = {
    "authenticators.secret_enc": (t.authenticators, "id", "secret_enc"),
    "authenticators.target_enc": (t.authenticators, "id", "target_enc"),
    "signing_keys.private_key_enc": (t.signing_keys, "kid", "private_key_enc"),
}


class SqlEncryptedColumns:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def page(self, column: str, after: str | None, limit: int) -> Sequence[tuple[str, str]]:
        table, pk, col = COLUMNS[column]
        key, value = table.c[pk], table.c[col]
        stmt = sa.select(key, value).where(value.is_not(None)).order_by(key).limit(limit)
        if after is not None:
            stmt = stmt.where(key > after)
        async with self._db.read_connection() as conn:
            rows = (await conn.execute(stmt)).all()
        return [(str(r[0]), str(r[1])) for r in rows]

    async def replace(self, column: str, changes: Sequence[tuple[str, str, str]]) -> int:
        table, pk, col = COLUMNS[column]
        key, value = table.c[pk], table.c[col]
        applied = 0
        async with self._db.write_transaction() as conn:
            for row_key, old, new in changes:
                result = await conn.execute(
                    sa.update(table).where(key == row_key, value == old).values({col: new})
                )
                applied += result.rowcount
        return applied

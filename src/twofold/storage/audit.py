"""The audit trail on SQL: append-only rows, queried newest first."""

from __future__ import annotations

import json
from collections.abc import Sequence

import sqlalchemy as sa

from twofold.core.models import AuditEvent
from twofold.storage.base import SqlRepository, dumps
from twofold.storage.tables import audit_events

_COLUMNS = ("type", "at", "user_id", "client_id", "ip", "description", "details")
_INSERT = sa.insert(audit_events).values({c: sa.bindparam(f"b_{c}") for c in _COLUMNS})


class SqlAuditLog(SqlRepository):
    async def record(self, event: AuditEvent) -> None:
        row = {
            "b_type": event.type,
            "b_at": event.at,
            "b_user_id": event.user_id,
            "b_client_id": event.client_id,
            "b_ip": event.ip,
            "b_description": event.description,
            "b_details": dumps(event.details),
        }
        # Inside a grant's unit of work the row commits with it; `audit.record` swallows a
        # failure here, which must not take the unit's other writes down with it.
        async with self._db.tolerant_write() as conn:
            await conn.execute(_INSERT, row)

    async def query(
        self,
        *,
        user_id: str | None = None,
        types: Sequence[str] = (),
        since: float | None = None,
        limit: int = 100,
    ) -> Sequence[AuditEvent]:
        stmt = sa.select(audit_events).order_by(audit_events.c.id.desc()).limit(limit)
        if user_id is not None:
            stmt = stmt.where(audit_events.c.user_id == user_id)
        if types:
            stmt = stmt.where(audit_events.c.type.in_(list(types)))
        if since is not None:
            stmt = stmt.where(audit_events.c.at >= since)
        return [
            AuditEvent(
                type=row.type,
                at=row.at,
                user_id=row.user_id,
                client_id=row.client_id,
                ip=row.ip,
                description=row.description,
                details=json.loads(row.details),
            )
            for row in await self._all(stmt)
        ]

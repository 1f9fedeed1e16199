"""The audit trail on SQL: append-only rows, queried newest first."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa

from twofold.core.models import AuditEvent
from twofold.storage.base import SqlRepository, dumps, from_row
from twofold.storage.tables import audit_events

_COLUMNS = ("type", "at", "user_id", "client_id", "ip", "description", "details")
_INSERT = sa.insert(audit_events).values({c: sa.bindparam(f"b_{c}") for c in _COLUMNS})


def _event(row: sa.Row[Any]) -> AuditEvent:
    return from_row(
        AuditEvent,
        row,
        details=json.loads(row.details),
        seq=row.id,
    )


class SqlAuditLog(SqlRepository):
    async def record(
        self, event: AuditEvent, on_failure: Callable[[Exception], None] | None = None
    ) -> None:
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
        await self._db.tolerant_write(_INSERT, row, on_failure)

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
        return [_event(row) for row in await self._all(stmt)]

    async def page(
        self,
        *,
        user_id: str | None = None,
        types: Sequence[str] = (),
        offset: int = 0,
        limit: int = 50,
        after_seq: int | None = None,
    ) -> tuple[Sequence[AuditEvent], int]:
        c = audit_events.c
        conditions: list[sa.ColumnElement[bool]] = []
        if user_id is not None:
            conditions.append(c.user_id == user_id)
        if types:
            conditions.append(c.type.in_(list(types)))
        count = await self._one(
            sa.select(sa.func.count()).select_from(audit_events).where(*conditions)
        )
        total = int(count[0]) if count is not None else 0
        if after_seq is not None:
            stmt = (
                sa.select(audit_events)
                .where(*conditions, c.id > after_seq)
                .order_by(c.id.asc())
                .offset(offset)
                .limit(limit)
            )
        else:
            stmt = (
                sa.select(audit_events)
                .where(*conditions)
                .order_by(c.id.desc())
                .offset(offset)
                .limit(limit)
            )
        return [_event(row) for row in await self._all(stmt)], total

"""AuditLog port: append, filter, newest first."""

from __future__ import annotations

import pytest

from twofold.core.models import AuditEvent
from twofold.storage.repositories import SqlStorage

pytestmark = pytest.mark.anyio


async def test_record_and_query_newest_first(storage: SqlStorage) -> None:
    for i, kind in enumerate(["mfar", "gd_auth_failed", "gd_auth_succeed"]):
        await storage.audit.record(
            AuditEvent(
                type=kind,
                at=1000.0 + i,
                description=kind,
                user_id="auth0|a",
                client_id="c",
                ip="10.0.0.1",
                details={"n": i},
            )
        )
    await storage.audit.record(AuditEvent(type="fu", at=2000.0, description="x"))

    everything = await storage.audit.query()
    assert [e.type for e in everything] == ["fu", "gd_auth_succeed", "gd_auth_failed", "mfar"]
    mine = await storage.audit.query(user_id="auth0|a")
    assert [e.details for e in mine] == [{"n": 2}, {"n": 1}, {"n": 0}]
    assert mine[0].ip == "10.0.0.1"
    assert mine[0].client_id == "c"
    failed = await storage.audit.query(types=["gd_auth_failed", "fu"])
    assert [e.type for e in failed] == ["fu", "gd_auth_failed"]
    assert [e.type for e in await storage.audit.query(since=1001.5)] == ["fu", "gd_auth_succeed"]
    assert len(await storage.audit.query(limit=2)) == 2

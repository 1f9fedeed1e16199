"""AuditLog port: append, filter, newest first."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from types import SimpleNamespace
from typing import Any, cast

import pytest
import sqlalchemy as sa

from twofold.core import audit as core_audit
from twofold.core.deps import Deps
from twofold.core.models import AuditEvent, User
from twofold.storage.database import Database
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


def _event(kind: str) -> AuditEvent:
    return AuditEvent(type=kind, at=1000.0, description=kind, user_id="auth0|a")


async def test_rows_recorded_in_a_unit_commit_with_it(storage: SqlStorage) -> None:
    async with storage.unit_of_work():
        await storage.audit.record(_event("gd_auth_succeed"))
        assert await storage.audit.query() == []  # not committed yet: invisible to readers

    assert [e.type for e in await storage.audit.query()] == ["gd_auth_succeed"]

    async def undone() -> None:
        async with storage.unit_of_work():
            await storage.audit.record(_event("gd_auth_failed"))
            raise RuntimeError("undo")

    with pytest.raises(RuntimeError):
        await undone()
    assert [e.type for e in await storage.audit.query()] == ["gd_auth_succeed"]


async def test_a_failed_audit_row_leaves_its_unit_able_to_commit(
    storage: SqlStorage,
    make_user: Callable[..., Awaitable[User]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The audit trail swallows its own failures (core/audit.py), so a grant's unit of work goes
    # on after one. On PostgreSQL a failed statement aborts the whole transaction unless it ran
    # in a savepoint: the grant's other writes (the attempt taken, the mfa_token spent) would
    # then be lost at commit.
    from twofold.storage import audit as sql_audit

    await make_user("auth0|a")
    await make_user("auth0|b", email="b@example.com")

    broken = sa.insert(sa.table("no_such_table", sa.column("type"))).values(
        type=sa.bindparam("b_type")
    )
    monkeypatch.setattr(sql_audit, "_INSERT", broken)

    deps = cast(Deps, SimpleNamespace(storage=storage, clock=SimpleNamespace(now=lambda: 1.0)))

    async with storage.unit_of_work():
        await storage.recovery_codes.set("auth0|a", "before", 1000.0)
        await core_audit.record(deps, "gd_auth_failed", user_id="auth0|a")
        await storage.recovery_codes.set("auth0|b", "after", 1000.0)

    assert await storage.recovery_codes.get_hash("auth0|a") == "before"
    assert await storage.recovery_codes.get_hash("auth0|b") == "after"
    assert await storage.audit.query() == []


async def test_a_failed_audit_row_last_in_its_unit_is_logged_and_the_unit_commits(
    storage: SqlStorage,
    make_user: Callable[..., Awaitable[User]],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # On PostgreSQL the last audit row of a unit goes out with its COMMIT: if the row fails
    # there, the unit's other writes still commit, and the failure is logged as any other.
    from twofold.storage import audit as sql_audit

    await make_user("auth0|a")
    broken = sa.insert(sa.table("no_such_table", sa.column("type"))).values(
        type=sa.bindparam("b_type")
    )
    monkeypatch.setattr(sql_audit, "_INSERT", broken)
    deps = cast(Deps, SimpleNamespace(storage=storage, clock=SimpleNamespace(now=lambda: 1.0)))

    with caplog.at_level(logging.ERROR):
        async with storage.unit_of_work():
            await storage.recovery_codes.set("auth0|a", "kept", 1000.0)
            await core_audit.record(deps, "gd_auth_failed", user_id="auth0|a")

    assert await storage.recovery_codes.get_hash("auth0|a") == "kept"
    assert await storage.audit.query() == []
    failures = [r.getMessage() for r in caplog.records if "audit write failed" in r.getMessage()]
    # The driver's error class: SQLite's "no such table" is an OperationalError.
    error = "OperationalError" if storage.database.is_sqlite else "ProgrammingError"
    assert failures == [f"audit write failed ({error}): gd_auth_failed user=auth0|a"]


_ON_POSTGRESQL = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def _spy_on_pipelined_savepoints(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The psycopg connections audit rows ran on, in a pipelined savepoint; SQLAlchemy's own
    savepoints (begin_nested, three round trips) fail the test."""
    from twofold.storage import direct

    used: list[Any] = []
    run = direct.run_psycopg_in_savepoint

    async def spy(
        cursors: direct.Cursors, plan: direct.Plan, parameters: Mapping[str, Any], **options: Any
    ) -> direct.Rows:
        used.append(cursors.conn)
        return await run(cursors, plan, parameters, **options)

    monkeypatch.setattr(direct, "run_psycopg_in_savepoint", spy)
    return used


@_ON_POSTGRESQL
async def test_on_postgresql_audit_rows_commit_and_roll_back_with_their_unit(
    storage: SqlStorage,
    database: Database,
    make_user: Callable[..., Awaitable[User]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await make_user("auth0|a")
    used = _spy_on_pipelined_savepoints(monkeypatch)
    nested: list[object] = []
    sa.event.listen(database.engine.sync_engine, "savepoint", lambda *args: nested.append(args))

    async with storage.unit_of_work():
        await storage.recovery_codes.set("auth0|a", "kept", 1000.0)
        await storage.audit.record(_event("gd_recovery_succeed"))

    async def undone() -> None:
        async with storage.unit_of_work():
            await storage.recovery_codes.set("auth0|a", "undone", 1000.0)
            await storage.audit.record(_event("gd_auth_failed"))
            raise RuntimeError("undo")

    with pytest.raises(RuntimeError):
        await undone()

    assert await storage.recovery_codes.get_hash("auth0|a") == "kept"
    assert [e.type for e in await storage.audit.query()] == ["gd_recovery_succeed"]
    assert len(used) == 2
    assert nested == []


@_ON_POSTGRESQL
async def test_on_postgresql_a_failed_audit_row_leaves_the_connection_usable_and_clean(
    storage: SqlStorage,
    make_user: Callable[..., Awaitable[User]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from psycopg.pq import PipelineStatus, TransactionStatus

    from twofold.storage import audit as sql_audit

    await make_user("auth0|a")
    used = _spy_on_pipelined_savepoints(monkeypatch)
    good = sql_audit._INSERT
    broken = sa.insert(sa.table("no_such_table", sa.column("type"))).values(
        type=sa.bindparam("b_type")
    )

    async with storage.unit_of_work():
        # First in the unit: BEGIN leads the pipeline, and stays when the statement fails.
        monkeypatch.setattr(sql_audit, "_INSERT", broken)
        with pytest.raises(sa.exc.ProgrammingError):
            await storage.audit.record(_event("gd_auth_failed"))
        await storage.recovery_codes.set("auth0|a", "after", 1000.0)
        # The same savepoint name again, once released by the rollback.
        with pytest.raises(sa.exc.ProgrammingError):
            await storage.audit.record(_event("gd_auth_failed"))
        monkeypatch.setattr(sql_audit, "_INSERT", good)
        await storage.audit.record(_event("gd_auth_succeed"))

    assert await storage.recovery_codes.get_hash("auth0|a") == "after"
    assert [e.type for e in await storage.audit.query()] == ["gd_auth_succeed"]
    assert len(used) == 3
    raw = used[0]
    assert all(conn is raw for conn in used)
    # Back in the pool: no transaction left open, out of pipeline mode.
    assert raw.info.transaction_status == TransactionStatus.IDLE
    assert raw.pgconn.pipeline_status == PipelineStatus.OFF
    assert raw._pipeline is None

    async with storage.unit_of_work():
        await storage.recovery_codes.set("auth0|a", "next", 1000.0)
        await storage.audit.record(_event("gd_recovery_succeed"))
    assert await storage.recovery_codes.get_hash("auth0|a") == "next"
    assert len(await storage.audit.query()) == 2


@_ON_POSTGRESQL
async def test_on_postgresql_the_last_audit_row_of_a_unit_goes_out_with_its_commit(
    storage: SqlStorage,
    make_user: Callable[..., Awaitable[User]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from psycopg.pq import TransactionStatus

    from twofold.storage import direct

    await make_user("auth0|a")
    calls: list[dict[str, Any]] = []
    run = direct.run_psycopg_in_savepoint

    async def spy(
        cursors: direct.Cursors, plan: direct.Plan, parameters: Mapping[str, Any], **options: Any
    ) -> direct.Rows:
        calls.append({"raw": cursors.conn, **options})
        return await run(cursors, plan, parameters, **options)

    monkeypatch.setattr(direct, "run_psycopg_in_savepoint", spy)
    deps = cast(Deps, SimpleNamespace(storage=storage, clock=SimpleNamespace(now=lambda: 1.0)))

    async with storage.unit_of_work():
        await storage.recovery_codes.set("auth0|a", "kept", 1000.0)
        await core_audit.record(deps, "gd_recovery_succeed", user_id="auth0|a")
        assert calls == []  # not sent yet
    assert [c.get("commit") for c in calls] == [True]
    assert calls[0]["raw"].info.transaction_status == TransactionStatus.IDLE

    # A statement after it sends it first, in its own savepoint: the order holds.
    calls.clear()
    async with storage.unit_of_work():
        await core_audit.record(deps, "gd_auth_failed", user_id="auth0|a")
        await storage.recovery_codes.set("auth0|a", "next", 1000.0)
        await core_audit.record(deps, "gd_recovery_succeed", user_id="auth0|a")
    assert [c.get("commit", False) for c in calls] == [False, True]

    # A unit that fails sends nothing of it.
    calls.clear()

    async def undone() -> None:
        async with storage.unit_of_work():
            await storage.recovery_codes.set("auth0|a", "undone", 1000.0)
            await core_audit.record(deps, "gd_auth_failed", user_id="auth0|a")
            raise RuntimeError("undo")

    with pytest.raises(RuntimeError):
        await undone()
    assert calls == []
    assert await storage.recovery_codes.get_hash("auth0|a") == "next"
    assert [e.type for e in await storage.audit.query()] == [
        "gd_recovery_succeed",
        "gd_auth_failed",
        "gd_recovery_succeed",
    ]

"""Users imports on PostgreSQL: a conflict found by the database fails the batch's transaction
(PostgreSQL then refuses every further statement in it), and the batch is written again record
by record; text PostgreSQL refuses (NUL) is a refused record, never a failed job."""

from __future__ import annotations

import pytest

from . import import_support as imports
from .management_support import mgmt_token
from .test_management_postgres import pg_url, services  # noqa: F401  (the PostgreSQL fixtures)

pytestmark = pytest.mark.anyio


async def test_a_conflict_at_write_time_refuses_only_its_record(env, monkeypatch):
    await imports.check_a_conflict_at_write_time_refuses_only_its_record(env, monkeypatch)


async def test_import_and_login_on_postgresql(env):
    token = await mgmt_token(env)
    client = await env.client()
    records = [
        imports.bcrypt_user("pg@example.com", "pg password", user_metadata={"s": "\u0000 in JSON"}),
        imports.bcrypt_user("nul@example.com", "pw", name="a\u0000b"),
    ]

    job = await imports.run_import(env, token, imports.users_file(records))

    assert job["status"] == "completed", job
    assert (job["summary"]["inserted"], job["summary"]["failed"]) == (1, 1)
    errors = (await imports.job_errors(env, token, job["id"])).json()
    assert [(e["errors"][0]["code"], e["errors"][0]["path"]) for e in errors] == [
        ("INVALID_FORMAT", "name")
    ]
    await imports.login_with_totp(
        env, client, "pg@example.com", "pg password", imports.secret_for("pg@example.com")
    )

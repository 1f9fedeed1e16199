"""The Management API on PostgreSQL: hostile text (NUL characters) is a 4xx there too, never a
500, and search, paging, metadata and deletion behave as on SQLite."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio.to_thread
import pytest

from contract._backends import postgres_schema

from .management_support import assert_mgmt_error, auth, mgmt_token
from .support import REALM, make_settings

pytestmark = pytest.mark.anyio


@pytest.fixture
def pg_url() -> Iterator[str]:
    with postgres_schema("mgmt") as url:
        yield url


@pytest.fixture
async def services(tmp_path: Any, clock: Any, pg_url: str) -> AsyncIterator[Any]:
    from twofold.app import create_services
    from twofold.storage import migrate

    await anyio.to_thread.run_sync(migrate.upgrade, pg_url)
    settings = make_settings(tmp_path).model_copy(update={"database_url": pg_url})
    svc = await create_services(settings, clock=clock)
    try:
        await svc.admin.update_tenant(mfa_policy="always")
        yield svc
    finally:
        await svc.close()


async def test_users_on_postgresql(env):
    token = await mgmt_token(env)
    for i in range(3):
        resp = await env.http.post(
            "/api/v2/users",
            json={
                "connection": REALM,
                "email": f"pg{i}@example.com",
                "password": "a long password",
                "user_metadata": {"n": i, "s": "\u0000 is fine inside JSON"},
            },
            headers=auth(token),
        )
        assert resp.status_code == 201, resp.text
        env.clock.advance(1)

    page = await env.http.get(
        "/api/v2/users",
        params={"per_page": 2, "page": 1, "include_totals": "true", "sort": "email:-1"},
        headers=auth(token),
    )
    assert page.json()["total"] == 3
    assert [u["email"] for u in page.json()["users"]] == ["pg0@example.com"]
    assert page.json()["users"][0]["user_metadata"]["s"].startswith("\u0000")

    nul_body = await env.http.post(
        "/api/v2/users",
        json={"connection": "a\u0000b", "email": "x@example.com", "password": "a long password"},
        headers=auth(token),
    )
    assert_mgmt_error(nul_body, 400, "invalid_body")
    nul_path = await env.http.get("/api/v2/users/auth0%7Ca%00b", headers=auth(token))
    assert_mgmt_error(nul_path, 404, "inexistent_user")
    nul_method = await env.http.get(
        "/api/v2/users/auth0%7Ca/authentication-methods/totp%7Cdev_%00", headers=auth(token)
    )
    assert nul_method.status_code == 404
    nul_query = await env.http.get(
        "/api/v2/users", params={"q": 'email:"a\x00b"'}, headers=auth(token)
    )
    assert nul_query.json() == []
    nul_log = await env.http.get("/api/v2/logs", params={"q": 'type:"a\x00b"'}, headers=auth(token))
    assert nul_log.json() == []

    user_id = page.json()["users"][0]["user_id"]
    gone = await env.http.delete(f"/api/v2/users/{user_id}", headers=auth(token))
    assert gone.status_code == 204

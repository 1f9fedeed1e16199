"""A backend that fails while a request runs: 503 temporarily_unavailable with Retry-After,
never a 500, nothing of the request written, and the same request succeeds once the backend is
back. The failures are real: SQLite's write lock held by another connection, a Redis address where
nothing listens. (A transaction SQLite rolls back part-way: test_token_mfa_otp.py.)"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url

from twofold.core.errors import RETRY_AFTER_UNAVAILABLE
from twofold.storage import sqlite as sqlite_storage

from .support import BASE_URL, assert_error, assert_no_store, assert_tokens, make_settings

pytestmark = pytest.mark.anyio

NOTHING_LISTENS = "redis://127.0.0.1:1/0"
DEPLOY_GUIDE = Path(__file__).resolve().parents[2] / "docs" / "deploy.md"
# What the driver's messages and a stack trace would show; none of it may reach the client.
LEAKS = ("traceback", "sqlite", "operational", "redis", "locked", "127.0.0.1", ".py")


def assert_unavailable(resp: httpx.Response) -> None:
    body = assert_error(resp, 503, "temporarily_unavailable")
    assert set(body) == {"error", "error_description"}, body
    assert resp.headers["retry-after"] == str(RETRY_AFTER_UNAVAILABLE)
    assert_no_store(resp)
    for leak in LEAKS:
        assert leak not in resp.text.lower(), resp.text


def _database_file(services: Any) -> Path:
    return Path(make_url(services.settings.database_url).database or "")


async def test_a_write_lock_held_past_the_busy_timeout_is_a_503(env, services, monkeypatch):
    monkeypatch.setattr(sqlite_storage, "BUSY_TIMEOUT_MS", 50)
    client = await env.client()
    enrolled = await env.enrolled(client)
    mfa_token = await env.mfa_token(client, username=enrolled.email, password=enrolled.password)
    code = env.code(enrolled.secret)
    other = sqlite3.connect(_database_file(services), isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # another process writing, and not letting go
        assert_unavailable(await env.otp_grant(client, mfa_token, code))
        other.execute("ROLLBACK")
    finally:
        other.close()
    assert_tokens(await env.otp_grant(client, mfa_token, code))


@pytest.fixture
async def without_redis(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    from twofold.app import build_app, create_services

    settings = make_settings(tmp_path).model_copy(
        update={"redis_url": NOTHING_LISTENS, "redis_timeout": 1.0}
    )
    services = await create_services(settings)
    try:
        app = build_app(services)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=BASE_URL
        ) as http:
            yield http, services
    finally:
        await services.close()


async def test_redis_unreachable_is_a_503_and_not_ready(without_redis):
    http, services = without_redis
    admin = services.admin
    await admin.update_tenant(mfa_policy="always")
    client, secret = await admin.create_client("app")
    await admin.create_user("u@example.com", "correct horse", email_verified=True)
    resp = await http.post(
        "/oauth/token",
        data={
            "grant_type": "password",
            "username": "u@example.com",
            "password": "correct horse",
            "client_id": client.client_id,
            "client_secret": secret,
        },
    )
    assert_unavailable(resp)
    ready = await http.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"] == {"database": "ok", "redis": "unavailable"}
    # docs/deploy.md quotes both answers as they are sent.
    guide = " ".join(DEPLOY_GUIDE.read_text().split())
    assert f"`Retry-After: {resp.headers['retry-after']}`" in guide
    assert f"`{resp.text}`" in guide
    assert f"`{ready.text}`" in guide

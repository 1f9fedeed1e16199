"""Helpers for the Management API tests: machine tokens for https://{domain}/api/v2/ and the
assertions on its error shape."""

from __future__ import annotations

from typing import Any

import httpx

from twofold.core.models import MANAGEMENT_SCOPES

from .support import DOMAIN, GRANT_CC, Harness, assert_tokens

MGMT = f"https://{DOMAIN}/api/v2/"
# Every scope the API defines; each endpoint's own scope is named literally in its tests.
ALL_SCOPES = MANAGEMENT_SCOPES


async def mgmt_token(env: Harness, scopes: tuple[str, ...] = ALL_SCOPES) -> str:
    client = await env.client(grant_types=[GRANT_CC], api_grants={MGMT: scopes})
    resp = await env.token({"grant_type": GRANT_CC, "audience": MGMT}, client)
    return str(assert_tokens(resp)["access_token"])


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_mgmt_error(
    resp: httpx.Response, status: int, error_code: str, message: str | None = None
) -> dict[str, Any]:
    assert resp.status_code == status, (resp.status_code, resp.text)
    body = resp.json()
    assert set(body) == {"statusCode", "error", "message", "errorCode"}, body
    assert body["statusCode"] == status, body
    assert body["errorCode"] == error_code, body
    assert isinstance(body["error"], str), body
    assert body["error"], body
    if message is not None:
        assert body["message"] == message, body
    return body

"""POST /api/v2/users/{id}/multifactor/actions/invalidate-remember-browser: scope update:users,
204 as Auth0; it records when the user's remembered browsers were forgotten, and is audited."""

from __future__ import annotations

import pytest

from .management_support import assert_mgmt_error, auth, mgmt_token
from .support import assert_tokens

pytestmark = pytest.mark.anyio

PATH = "/api/v2/users/{}/multifactor/actions/invalidate-remember-browser"


async def _forgotten_at(env, user_id):
    user = await env.services.deps.storage.users.get(user_id)
    return user.remember_browser_invalidated_at


async def test_records_when_the_browsers_were_forgotten(env):
    user = await env.user()
    token = await mgmt_token(env)
    assert await _forgotten_at(env, user.user_id) is None

    resp = await env.http.post(PATH.format(user.user_id), headers=auth(token))

    assert resp.status_code == 204, resp.text
    assert resp.content == b""
    assert resp.headers["x-ratelimit-limit"]
    assert await _forgotten_at(env, user.user_id) == env.clock.now()
    env.clock.advance(60)
    again = await env.http.post(PATH.format(user.user_id), headers=auth(token))
    assert again.status_code == 204
    assert await _forgotten_at(env, user.user_id) == env.clock.now()


async def test_is_audited_as_an_api_operation(env):
    user = await env.user()
    token = await mgmt_token(env)

    await env.http.post(PATH.format(user.user_id), headers=auth(token))

    logs = await env.http.get(f"/api/v2/users/{user.user_id}/logs", headers=auth(token))
    [event] = [e for e in logs.json() if e["type"] == "sapi"]
    assert event["details"]["operation"] == (
        "POST /api/v2/users/{user_id}/multifactor/actions/invalidate-remember-browser"
    )
    assert event["user_id"] == user.user_id
    assert event["client_id"]


async def test_unknown_user_is_404_and_nothing_is_audited(env):
    token = await mgmt_token(env)

    resp = await env.http.post(PATH.format("auth0|nobody"), headers=auth(token))

    assert_mgmt_error(resp, 404, "inexistent_user", "The user does not exist.")
    logs = await env.http.get("/api/v2/logs", params={"q": 'type:"sapi"'}, headers=auth(token))
    assert logs.json() == []


@pytest.mark.parametrize(
    "scopes", [("read:users",), ("update:users_app_metadata",), ("delete:guardian_enrollments",)]
)
async def test_needs_update_users(env, scopes):
    user = await env.user()
    token = await mgmt_token(env, scopes)

    resp = await env.http.post(PATH.format(user.user_id), headers=auth(token))

    assert_mgmt_error(
        resp, 403, "insufficient_scope", "Insufficient scope, expected any of: update:users"
    )
    assert await _forgotten_at(env, user.user_id) is None


async def test_a_users_own_tokens_cannot_forget_browsers(env):
    client = await env.client()
    enrolled = await env.enrolled(client)
    mfa_api = await env.mfa_api_token(client, enrolled, "read:authenticators")

    for bearer in (enrolled.tokens["access_token"], mfa_api["access_token"]):
        resp = await env.http.post(PATH.format(enrolled.user.user_id), headers=auth(bearer))
        assert_mgmt_error(resp, 401, "invalid_token")
    assert await _forgotten_at(env, enrolled.user.user_id) is None


async def test_leaves_sessions_and_enrolments_alone(env):
    client = await env.client()
    enrolled = await env.enrolled(client, scope="openid offline_access")
    token = await mgmt_token(env)

    resp = await env.http.post(PATH.format(enrolled.user.user_id), headers=auth(token))

    assert resp.status_code == 204
    methods = await env.http.get(
        f"/api/v2/users/{enrolled.user.user_id}/authentication-methods", headers=auth(token)
    )
    assert [m["type"] for m in methods.json()] == ["totp", "recovery-code"]
    refreshed = await env.token(
        {"grant_type": "refresh_token", "refresh_token": enrolled.tokens["refresh_token"]}, client
    )
    assert_tokens(refreshed)

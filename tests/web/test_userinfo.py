"""GET|POST /userinfo: the claims an openid login's access token releases, and who is refused."""

from __future__ import annotations

from dataclasses import replace

import pytest

from .support import API, MFA_AUDIENCE, assert_error, assert_no_store, assert_tokens

pytestmark = pytest.mark.anyio


async def _login(env, scope="openid profile email", **extra):
    await env.tenant(mfa_policy="never")
    client = await env.client()
    user = await env.user(username="uname")
    body = assert_tokens(await env.password(client, scope=scope, **extra))
    return client, user, body["access_token"]


def _bearer(token):
    return {"Authorization": f"Bearer {token}"}


def _assert_invalid_token(resp):
    assert_error(resp, 401, "invalid_token")
    assert resp.headers["www-authenticate"].startswith('Bearer error="invalid_token"')


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_userinfo_releases_the_scopes_claims(env, method):
    _, user, token = await _login(env)

    resp = await env.http.request(method, "/userinfo", headers=_bearer(token))

    assert resp.status_code == 200, resp.text
    assert_no_store(resp)
    assert resp.json() == {
        "sub": user.user_id,
        "name": user.email,
        "nickname": "uname",
        "updated_at": "2025-06-15T15:06:45.000Z",
        "email": user.email,
        "email_verified": True,
    }


async def test_openid_alone_releases_only_sub(env):
    _, user, token = await _login(env, scope="openid")
    resp = await env.http.get("/userinfo", headers=_bearer(token))
    assert resp.json() == {"sub": user.user_id}


async def test_a_token_for_an_api_with_openid_is_accepted(env):
    await env.api()
    _, user, token = await _login(env, scope="openid read:x", audience=API)
    resp = await env.http.get("/userinfo", headers=_bearer(token))
    assert resp.json() == {"sub": user.user_id}


async def test_a_token_without_openid_is_refused(env):
    await env.api()
    _, _, token = await _login(env, scope="read:x", audience=API)
    resp = await env.http.get("/userinfo", headers=_bearer(token))
    # Its audience is the API alone: not a token for /userinfo.
    _assert_invalid_token(resp)


async def test_a_userinfo_token_without_openid_is_insufficient(env):
    _, _, token = await _login(env, scope="profile")
    resp = await env.http.get("/userinfo", headers=_bearer(token))
    assert_error(resp, 403, "insufficient_scope")
    assert 'error="insufficient_scope"' in resp.headers["www-authenticate"]


@pytest.mark.parametrize(
    "authorization", [None, "Bearer", "Basic abc", "Bearer not-a-jwt", "Bearer a.b.c"]
)
async def test_missing_or_malformed_bearer(env, authorization):
    headers = {} if authorization is None else {"Authorization": authorization}
    resp = await env.http.get("/userinfo", headers=headers)
    assert_error(resp, 401, "invalid_token")
    assert resp.headers["www-authenticate"].startswith("Bearer")


async def test_an_expired_token_is_refused(env):
    _, _, token = await _login(env)
    env.clock.advance(86_400 + 1)
    _assert_invalid_token(await env.http.get("/userinfo", headers=_bearer(token)))


async def test_a_blocked_user_is_refused_as_auth0_does(env):
    _, user, token = await _login(env)
    await env.services.deps.storage.users.update(replace(user, blocked=True))
    resp = await env.http.get("/userinfo", headers=_bearer(token))
    assert_error(resp, 401, "unauthorized", "user is blocked")
    assert 'error="invalid_token"' in resp.headers["www-authenticate"]


async def test_a_deleted_user_is_refused(env):
    _, user, token = await _login(env)
    assert await env.services.deps.storage.users.delete(user.user_id)
    _assert_invalid_token(await env.http.get("/userinfo", headers=_bearer(token)))


async def test_an_mfa_api_token_is_refused_even_with_openid(env):
    client = await env.client()
    enrolled = await env.enrolled(client)
    body = await env.mfa_api_token(client, enrolled, "openid enroll read:authenticators")
    assert MFA_AUDIENCE in (await env.decode(body["access_token"]))[1]["aud"]
    _assert_invalid_token(await env.http.get("/userinfo", headers=_bearer(body["access_token"])))


async def test_a_management_api_token_is_refused(env):
    audience = f"{env.services.deps.issuer}api/v2/"
    machine = await env.client(api_grants=await env.admin.all_scopes_of([audience]))
    resp = await env.token({"grant_type": "client_credentials", "audience": audience}, machine)
    token = assert_tokens(resp)["access_token"]
    _assert_invalid_token(await env.http.get("/userinfo", headers=_bearer(token)))


async def test_an_id_token_is_no_access_token(env):
    await env.tenant(mfa_policy="never")
    client = await env.client()
    await env.user()
    body = assert_tokens(await env.password(client, scope="openid"))
    _assert_invalid_token(await env.http.get("/userinfo", headers=_bearer(body["id_token"])))

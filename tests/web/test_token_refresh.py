"""The refresh_token grant: rotation, reuse detection, binding to the client."""

from __future__ import annotations

import pytest

from .support import (
    API,
    GRANT_REFRESH,
    ISSUER,
    assert_error,
    assert_no_store,
    assert_tokens,
    audiences,
)

pytestmark = pytest.mark.anyio


async def _refresh_token(env, client, scope="openid offline_access", **extra):
    await env.tenant(mfa_policy="never")
    body = assert_tokens(await env.password(client, scope=scope, **extra))
    assert isinstance(body.get("refresh_token"), str), body
    return body


async def _refresh(env, client, token, **extra):
    return await env.token({"grant_type": GRANT_REFRESH, "refresh_token": token, **extra}, client)


async def test_refresh_rotates(env):
    await env.api()
    client = await env.client()
    user = await env.user()
    first = await _refresh_token(env, client, scope="openid offline_access read:x", audience=API)
    env.clock.advance(60)

    resp = await _refresh(env, client, first["refresh_token"])

    body = assert_tokens(resp)
    assert_no_store(resp)
    assert isinstance(body.get("refresh_token"), str), body
    assert body["refresh_token"] != first["refresh_token"]
    assert body["access_token"] != first["access_token"]
    assert set(body["scope"].split()) == {"openid", "offline_access", "read:x"}
    _, claims = await env.decode(body["access_token"])
    assert claims["iss"] == ISSUER
    assert claims["sub"] == user.user_id
    assert API in audiences(claims)
    assert claims["iat"] == int(env.clock.now())


async def test_new_refresh_token_works(env):
    client = await env.client()
    await env.user()
    first = await _refresh_token(env, client)
    second = assert_tokens(await _refresh(env, client, first["refresh_token"]))

    third = assert_tokens(await _refresh(env, client, second["refresh_token"]))

    assert third["refresh_token"] not in (first["refresh_token"], second["refresh_token"])


async def test_reuse_revokes_the_family(env):
    client = await env.client()
    await env.user()
    first = await _refresh_token(env, client)
    second = assert_tokens(await _refresh(env, client, first["refresh_token"]))

    reuse = await _refresh(env, client, first["refresh_token"])
    assert_error(reuse, 403, "invalid_grant")
    assert "www-authenticate" not in reuse.headers

    assert_error(await _refresh(env, client, second["refresh_token"]), 403, "invalid_grant")


async def test_other_families_survive_a_reuse(env):
    client = await env.client()
    await env.user()
    a = await _refresh_token(env, client)
    b = await _refresh_token(env, client)
    assert_tokens(await _refresh(env, client, a["refresh_token"]))
    assert_error(await _refresh(env, client, a["refresh_token"]), 403, "invalid_grant")

    assert_tokens(await _refresh(env, client, b["refresh_token"]))


async def test_garbage_refresh_token(env):
    client = await env.client()

    resp = await _refresh(env, client, "definitely-not-a-refresh-token")

    assert_error(resp, 403, "invalid_grant")


async def test_refresh_token_of_another_client(env):
    client = await env.client()
    other = await env.client()
    await env.user()
    first = await _refresh_token(env, client)

    resp = await _refresh(env, other, first["refresh_token"])

    assert_error(resp, 403, "invalid_grant")


async def test_missing_refresh_token(env):
    client = await env.client()

    resp = await env.token({"grant_type": GRANT_REFRESH}, client)

    assert_error(resp, 400, "invalid_request", "Missing required parameter: refresh_token")


async def test_refresh_grant_not_allowed(env):
    client = await env.client(grant_types=["password"])

    resp = await _refresh(env, client, "whatever")

    assert_error(
        resp, 403, "unauthorized_client", "Grant type 'refresh_token' not allowed for the client."
    )


async def test_refresh_after_mfa_keeps_the_bound_audience(env):
    await env.api()
    client = await env.client()
    enrolled = await env.enrolled(client)
    mfa_token = await env.mfa_token(client, audience=API, scope="openid offline_access read:x")
    tokens = assert_tokens(await env.otp_grant(client, mfa_token, env.code(enrolled.secret)))
    assert isinstance(tokens.get("refresh_token"), str), tokens

    resp = await _refresh(env, client, tokens["refresh_token"])

    body = assert_tokens(resp)
    _, claims = await env.decode(body["access_token"])
    assert API in audiences(claims)
    assert claims["sub"] == enrolled.user.user_id


async def test_concurrent_refresh_with_one_token_succeeds_once(env):
    import anyio

    client = await env.client()
    await env.user()
    first = await _refresh_token(env, client)
    results = []

    async def go():
        results.append(await _refresh(env, client, first["refresh_token"]))

    async with anyio.create_task_group() as tg:
        for _ in range(4):
            tg.start_soon(go)

    assert sorted(r.status_code for r in results) == [200, 403, 403, 403], [r.text for r in results]

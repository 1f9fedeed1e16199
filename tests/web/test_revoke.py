"""POST /oauth/revoke: a client revokes its own refresh token's family; nothing else."""

from __future__ import annotations

import pytest

from .support import CLIENT_AUTH_FAILED, GRANT_REFRESH, assert_error, assert_no_store, assert_tokens

pytestmark = pytest.mark.anyio
INVALID_REFRESH = "Unknown or invalid refresh token."


async def _refresh_token(env, client):
    body = assert_tokens(await env.password(client, scope="openid offline_access"))
    return body["refresh_token"]


async def _refresh(env, client, token):
    return await env.token({"grant_type": GRANT_REFRESH, "refresh_token": token}, client)


async def _revoke(env, client, token, *, json=False, basic=False, **extra):
    data = {"token": token, **extra}
    headers = {}
    if basic:
        headers = client.basic()
    else:
        data = {**client.post(), **data}
    if json:
        return await env.http.post("/oauth/revoke", json=data, headers=headers)
    return await env.http.post("/oauth/revoke", data=data, headers=headers)


@pytest.fixture
async def setup(env):
    await env.tenant(mfa_policy="never")
    await env.user()
    return env


@pytest.mark.parametrize(("json", "basic"), [(False, False), (True, False), (False, True)])
async def test_revoke_ends_the_whole_family(setup, json, basic):
    env = setup
    client = await env.client()
    first = await _refresh_token(env, client)
    rotated = assert_tokens(await _refresh(env, client, first))["refresh_token"]

    resp = await _revoke(env, client, rotated, json=json, basic=basic)

    assert resp.status_code == 200, resp.text
    assert resp.content == b""
    assert_no_store(resp)
    assert_error(await _refresh(env, client, rotated), 403, "invalid_grant", INVALID_REFRESH)
    events = await env.admin.audit.query(types=["srrt"], limit=10)
    assert [e.client_id for e in events] == [client.client_id]


async def test_revoking_an_older_token_of_the_family_ends_the_newest(setup):
    env = setup
    client = await env.client()
    first = await _refresh_token(env, client)
    rotated = assert_tokens(await _refresh(env, client, first))["refresh_token"]
    assert (await _revoke(env, client, first)).status_code == 200
    assert_error(await _refresh(env, client, rotated), 403, "invalid_grant", INVALID_REFRESH)


async def test_other_families_of_the_user_live_on(setup):
    env = setup
    client = await env.client()
    one, two = await _refresh_token(env, client), await _refresh_token(env, client)
    assert (await _revoke(env, client, one)).status_code == 200
    assert_tokens(await _refresh(env, client, two))


async def test_a_public_client_revokes_with_its_client_id(setup):
    env = setup
    client = await env.client(auth_method="none")
    token = await _refresh_token(env, client)
    resp = await _revoke(env, client, token, token_type_hint="refresh_token")
    assert resp.status_code == 200, resp.text
    assert_error(await _refresh(env, client, token), 403, "invalid_grant", INVALID_REFRESH)


@pytest.mark.parametrize("token", ["unknown-token", "x" * 64])
async def test_an_unknown_token_is_200(setup, token):
    env = setup
    client = await env.client()
    resp = await _revoke(env, client, token)
    assert resp.status_code == 200
    assert resp.content == b""


async def test_another_clients_token_is_200_and_left_alive(setup):
    env = setup
    owner, attacker = await env.client(), await env.client()
    token = await _refresh_token(env, owner)

    resp = await _revoke(env, attacker, token)

    assert resp.status_code == 200
    assert resp.content == b""
    assert_tokens(await _refresh(env, owner, token))
    assert await env.admin.audit.query(types=["srrt"], limit=10) == []


async def test_client_authentication_is_required(setup):
    env = setup
    client = await env.client()
    token = await _refresh_token(env, client)

    wrong = await env.http.post(
        "/oauth/revoke",
        data={"client_id": client.client_id, "client_secret": "wrong", "token": token},
    )
    no_secret = await env.http.post(
        "/oauth/revoke", data={"client_id": client.client_id, "token": token}
    )
    unknown = await env.http.post("/oauth/revoke", data={"client_id": "nope", "token": token})

    for resp in (wrong, no_secret, unknown):
        assert_error(resp, 401, "invalid_client", CLIENT_AUTH_FAILED)
    assert_tokens(await _refresh(env, client, token))


async def test_token_is_required(setup):
    env = setup
    client = await env.client()
    resp = await env.http.post("/oauth/revoke", data=client.post())
    assert_error(resp, 400, "invalid_request", "Missing required parameter: token")


async def test_a_parameter_twice_is_refused(setup):
    env = setup
    client = await env.client()
    resp = await env.http.post(
        "/oauth/revoke",
        content=f"client_id={client.client_id}&token=a&token=b",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_error(resp, 400, "invalid_request")

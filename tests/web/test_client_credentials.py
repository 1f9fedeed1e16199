"""The client_credentials grant: only for APIs granted to the client, scopes within the grant."""

from __future__ import annotations

import pytest

from .support import (
    API,
    GRANT_CC,
    ISSUER,
    assert_error,
    assert_no_store,
    assert_tokens,
    audiences,
)

pytestmark = pytest.mark.anyio

OTHER_API = "https://other.example.com"


async def _setup(env, grants=None):
    await env.api()
    await env.api(OTHER_API, scopes=("read:y",))
    return await env.client(
        grant_types=[GRANT_CC],
        api_grants={API: ("read:x",)} if grants is None else grants,
    )


async def test_client_credentials(env):
    client = await _setup(env)

    resp = await env.token({"grant_type": GRANT_CC, "audience": API}, client)

    body = assert_tokens(resp)
    assert_no_store(resp)
    assert body["scope"].split() == ["read:x"]
    assert "refresh_token" not in body
    assert "id_token" not in body
    header, claims = await env.decode(body["access_token"])
    assert header["alg"] == "RS256"
    assert claims["iss"] == ISSUER
    assert audiences(claims) == [API]
    assert claims["exp"] - claims["iat"] == body["expires_in"]
    assert claims["iat"] == int(env.clock.now())
    assert "mfa" not in claims.get("amr", [])


async def test_client_credentials_with_basic(env):
    client = await _setup(env)

    resp = await env.token({"grant_type": GRANT_CC, "audience": API}, headers=client.basic())

    assert assert_tokens(resp)["scope"].split() == ["read:x"]


async def test_client_credentials_json(env):
    client = await _setup(env)

    resp = await env.token({"grant_type": GRANT_CC, "audience": API}, client, json=True)

    assert_tokens(resp)


async def test_requested_scope_within_the_grant(env):
    client = await _setup(env)

    body = assert_tokens(
        await env.token({"grant_type": GRANT_CC, "audience": API, "scope": "read:x"}, client)
    )

    assert body["scope"].split() == ["read:x"]


async def test_scope_outside_the_grant_is_never_issued(env):
    client = await _setup(env)

    resp = await env.token(
        {"grant_type": GRANT_CC, "audience": API, "scope": "read:x write:x"}, client
    )

    if resp.status_code == 200:
        body = resp.json()
        assert body["scope"].split() == ["read:x"], body
        _, claims = await env.decode(body["access_token"])
        assert "write:x" not in str(claims.get("scope", ""))
    else:
        assert_error(resp, 403, "access_denied")


async def test_openid_scopes_are_not_issued(env):
    client = await _setup(env)

    resp = await env.token(
        {"grant_type": GRANT_CC, "audience": API, "scope": "openid offline_access read:x"},
        client,
    )

    if resp.status_code == 200:
        body = resp.json()
        assert "id_token" not in body
        assert "refresh_token" not in body
        assert "openid" not in body["scope"].split()
        assert "offline_access" not in body["scope"].split()
    else:
        assert resp.status_code in (400, 403), resp.text


async def test_no_audience(env):
    client = await _setup(env)

    assert_error(await env.token({"grant_type": GRANT_CC}, client), 403, "access_denied")


async def test_api_not_granted(env):
    client = await _setup(env)

    resp = await env.token({"grant_type": GRANT_CC, "audience": OTHER_API}, client)

    assert_error(resp, 403, "access_denied")


async def test_unknown_api(env):
    client = await _setup(env)

    resp = await env.token({"grant_type": GRANT_CC, "audience": "https://nope.example.com"}, client)

    assert_error(resp, 403, "access_denied")


async def test_mfa_api_is_not_available(env):
    client = await _setup(env)

    resp = await env.token(
        {"grant_type": GRANT_CC, "audience": "https://twofold.test/mfa/"}, client
    )

    assert_error(resp, 403, "access_denied")


async def test_grant_type_not_allowed(env):
    await env.api()
    client = await env.client()  # first-party grants only

    resp = await env.token({"grant_type": GRANT_CC, "audience": API}, client)

    assert_error(
        resp,
        403,
        "unauthorized_client",
        "Grant type 'client_credentials' not allowed for the client.",
    )


async def test_wrong_secret(env):
    client = await _setup(env)

    resp = await env.token(
        {
            "grant_type": GRANT_CC,
            "audience": API,
            "client_id": client.client_id,
            "client_secret": "wrong",
        }
    )

    assert_error(resp, 401, "invalid_client", "Client authentication failed")


async def test_no_mfa_even_when_policy_always(env):
    # client_credentials has no user: the MFA policy does not apply.
    client = await _setup(env)

    assert_tokens(await env.token({"grant_type": GRANT_CC, "audience": API}, client))


async def test_a_found_api_is_read_once_per_cache_period_and_a_new_one_works_at_once(
    env, monkeypatch
):
    # Every client_credentials grant looks its API up; a found API is kept for five seconds
    # (as clients are), an unknown identifier is asked for every time, so an API created
    # meanwhile (on another node too) is found by the next request.
    from twofold.core.deps import API_CACHE_SECONDS
    from twofold.core.models import Api

    client = await _setup(env)
    deps = env.services.deps
    apis = deps.storage.apis
    read: list[str] = []
    get = apis.get

    async def counted(identifier):
        read.append(identifier)
        return await get(identifier)

    monkeypatch.setattr(apis, "get", counted)
    env.clock.advance(API_CACHE_SECONDS)  # past what granting the client read
    for _ in range(3):
        assert_tokens(await env.token({"grant_type": GRANT_CC, "audience": API}, client))
    assert read == [API]

    env.clock.advance(API_CACHE_SECONDS)
    assert_tokens(await env.token({"grant_type": GRANT_CC, "audience": API}, client))
    assert read == [API, API]

    later = "https://later.example.com"
    assert await deps.api(later) is None
    await apis.create(Api(identifier=later, name="later"))  # another node: this one is not told
    found = await deps.api(later)
    assert found is not None
    assert found.identifier == later
    assert read[2:] == [later, later]

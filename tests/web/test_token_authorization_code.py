"""The authorization_code grant through POST /oauth/token: codes issued as the hosted login
issues them (`codes.issue`), then exchanged over HTTP as an app's SDK exchanges them."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import replace
from typing import Any

import pytest

from twofold.core import authorization_codes as codes
from twofold.core import issuance
from twofold.core.signin import MULTI_FACTOR_ACR, CodeGrant, SignIn

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

GRANT = "authorization_code"
CALLBACK = "https://app.example.com/callback"
ORIGIN = "https://app.example.com"
INVALID_CODE = "Invalid authorization code"
PKCE_FAILED = "Failed to verify code verifier"
MFA_AMR = ("pwd", "mfa", "otp")


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


async def _web_app(env, **kw: Any):
    return await env.client(grant_types=[GRANT, GRANT_REFRESH], callbacks=[CALLBACK], **kw)


async def _spa(env):
    return await env.client(
        grant_types=[GRANT, GRANT_REFRESH],
        auth_method="none",
        callbacks=[CALLBACK],
        web_origins=[ORIGIN],
    )


def _sign_in(env, user, **changes: Any) -> SignIn:
    fields: dict[str, Any] = {
        "user_id": user.user_id,
        "sid": "sid-" + secrets.token_hex(8),
        # The user authenticated five minutes before the code is redeemed.
        "auth_time": int(env.clock.now()) - 300,
        "amr": MFA_AMR,
        "acr": MULTI_FACTOR_ACR,
    }
    fields.update(changes)
    return SignIn(**fields)


async def _code(env, client, sign_in: SignIn, **changes: Any) -> str:
    fields: dict[str, Any] = {
        "client_id": client.client_id,
        "redirect_uri": CALLBACK,
        "scope": "openid profile email offline_access",
        "audience": None,
        "nonce": "nonce-1",
        "code_challenge": None,
        "sign_in": sign_in,
    }
    fields.update(changes)
    return await codes.issue(env.services.deps, CodeGrant(**fields))


async def _exchange(env, client, code: str, **extra: Any):
    params = {"grant_type": GRANT, "code": code, "redirect_uri": CALLBACK, **extra}
    return await env.token({k: v for k, v in params.items() if v is not None}, client)


async def test_a_code_becomes_tokens_that_tell_the_sign_in(env):
    client = await _web_app(env)
    user = await env.user()
    sign_in = _sign_in(env, user)
    code = await _code(env, client, sign_in)

    resp = await _exchange(env, client, code)

    body = assert_tokens(resp)
    assert_no_store(resp)
    assert set(body) == {
        "access_token",
        "id_token",
        "refresh_token",
        "scope",
        "expires_in",
        "token_type",
    }
    assert body["scope"] == "openid profile email offline_access"
    _, id_claims = await env.decode(body["id_token"])
    assert id_claims["iss"] == ISSUER
    assert id_claims["sub"] == user.user_id
    assert id_claims["aud"] == client.client_id
    assert id_claims["iat"] == int(env.clock.now())
    assert id_claims["auth_time"] == sign_in.auth_time
    assert id_claims["amr"] == list(MFA_AMR)
    assert id_claims["acr"] == MULTI_FACTOR_ACR
    assert id_claims["sid"] == sign_in.sid
    assert id_claims["nonce"] == "nonce-1"
    assert id_claims["email"] == user.email
    _, access = await env.decode(body["access_token"])
    assert access["sub"] == user.user_id
    assert access["azp"] == client.client_id
    assert access["amr"] == list(MFA_AMR)
    assert audiences(access) == [f"{ISSUER}userinfo"]
    # Auth0 names no grant (gty) in the tokens of a code.
    assert "gty" not in access
    events = await env.admin.audit.query(types=["seacft"], limit=10)
    assert [(e.user_id, e.client_id) for e in events] == [(user.user_id, client.client_id)]


async def test_client_secret_basic_and_an_api_audience(env):
    await env.api()
    client = await _web_app(env, auth_method="client_secret_basic")
    user = await env.user()
    code = await _code(env, client, _sign_in(env, user), audience=API, scope="openid read:x")

    resp = await env.http.post(
        "/oauth/token",
        data={"grant_type": GRANT, "code": code, "redirect_uri": CALLBACK},
        headers=client.basic(),
    )

    body = assert_tokens(resp)
    assert body["scope"] == "openid read:x"
    assert "refresh_token" not in body
    _, access = await env.decode(body["access_token"])
    assert audiences(access) == [API, f"{ISSUER}userinfo"]


async def test_a_spa_exchanges_with_pkce_from_its_origin(env):
    spa = await _spa(env)
    user = await env.user()
    verifier, challenge = _pkce()
    code = await _code(env, spa, _sign_in(env, user), code_challenge=challenge)
    preflight = await env.http.options(
        "/oauth/token",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "auth0-client, content-type",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    allowed = preflight.headers["access-control-allow-headers"].lower()
    assert "auth0-client" in allowed
    assert "content-type" in allowed

    resp = await env.token(
        {
            "grant_type": GRANT,
            "code": code,
            "redirect_uri": CALLBACK,
            "code_verifier": verifier,
        },
        spa,
        json=True,
        headers={"Origin": ORIGIN, "Auth0-Client": "eyJuYW1lIjoiYXV0aDAtc3BhLWpzIn0="},
    )

    assert_tokens(resp)
    assert resp.headers["access-control-allow-origin"] == ORIGIN


async def test_pkce_failures(env):
    spa = await _spa(env)
    user = await env.user()
    verifier, challenge = _pkce()
    code = await _code(env, spa, _sign_in(env, user), code_challenge=challenge)

    for wrong in (None, _pkce()[0], challenge, "short"):
        resp = await _exchange(env, spa, code, code_verifier=wrong)
        assert_error(resp, 403, "invalid_grant", PKCE_FAILED)
    # A public client's code without PKCE is refused even with no verifier to check.
    bare = await _code(env, spa, _sign_in(env, user))
    assert_error(await _exchange(env, spa, bare), 403, "invalid_grant", PKCE_FAILED)
    # The failures spent nothing: the right verifier still works.
    assert_tokens(await _exchange(env, spa, code, code_verifier=verifier))


async def test_the_code_is_bound_to_its_client_and_redirect_uri(env):
    client = await _web_app(env)
    other = await _web_app(env)
    user = await env.user()
    code = await _code(env, client, _sign_in(env, user))

    assert_error(await _exchange(env, other, code), 403, "invalid_grant", INVALID_CODE)
    for uri in (CALLBACK + "/", "https://app.example.com/other", CALLBACK + "?a=1"):
        resp = await _exchange(env, client, code, redirect_uri=uri)
        assert_error(resp, 403, "invalid_grant", INVALID_CODE)
    resp = await _exchange(env, client, code, redirect_uri="")
    assert_error(resp, 400, "invalid_request", "Missing required parameter: redirect_uri")
    resp = await env.token({"grant_type": GRANT, "redirect_uri": CALLBACK}, client)
    assert_error(resp, 400, "invalid_request", "Missing required parameter: code")
    assert_tokens(await _exchange(env, client, code))
    failed = await env.admin.audit.query(types=["feacft"], limit=10)
    assert len(failed) == 4
    assert {e.client_id for e in failed} == {client.client_id, other.client_id}


async def test_an_unknown_or_expired_code(env):
    client = await _web_app(env)
    user = await env.user()
    code = await _code(env, client, _sign_in(env, user))
    assert_error(await _exchange(env, client, "nope"), 403, "invalid_grant", INVALID_CODE)
    env.clock.advance(60)
    assert_error(await _exchange(env, client, code), 403, "invalid_grant", INVALID_CODE)


async def test_a_client_without_the_grant_is_refused(env):
    client = await env.client(callbacks=[CALLBACK])  # the default grants: no authorization_code
    user = await env.user()
    code = await _code(env, client, _sign_in(env, user))
    resp = await _exchange(env, client, code)
    assert_error(resp, 403, "unauthorized_client")


async def test_a_replay_revokes_what_the_first_exchange_issued(env):
    client = await _web_app(env)
    user = await env.user()
    code = await _code(env, client, _sign_in(env, user))
    first = assert_tokens(await _exchange(env, client, code))

    replay = await _exchange(env, client, code)

    assert_error(replay, 403, "invalid_grant", INVALID_CODE)
    refreshed = await env.token(
        {"grant_type": GRANT_REFRESH, "refresh_token": first["refresh_token"]}, client
    )
    assert_error(refreshed, 403, "invalid_grant", "Unknown or invalid refresh token.")


async def test_a_refresh_keeps_the_sign_in(env):
    client = await _web_app(env)
    user = await env.user()
    sign_in = _sign_in(env, user)
    code = await _code(env, client, sign_in)
    first = assert_tokens(await _exchange(env, client, code))
    env.clock.advance(3600)

    second = assert_tokens(
        await env.token(
            {"grant_type": GRANT_REFRESH, "refresh_token": first["refresh_token"]}, client
        )
    )
    env.clock.advance(3600)
    third = assert_tokens(
        await env.token(
            {"grant_type": GRANT_REFRESH, "refresh_token": second["refresh_token"]}, client
        )
    )

    for body in (second, third):
        _, claims = await env.decode(body["id_token"])
        assert claims["iat"] == int(env.clock.now()) - (3600 if body is second else 0)
        assert claims["auth_time"] == sign_in.auth_time
        assert claims["amr"] == list(MFA_AMR)
        assert claims["acr"] == MULTI_FACTOR_ACR
        assert claims["sid"] == sign_in.sid
        # The nonce belonged to the /authorize request, not to the refresh.
        assert "nonce" not in claims
        _, access = await env.decode(body["access_token"])
        assert access["amr"] == list(MFA_AMR)
        assert access["gty"] == "refresh_token"


async def test_a_password_family_refreshes_as_before(env):
    # A family from another grant has no sign-in: its ID tokens are as they always were.
    await env.tenant(mfa_policy="never")
    client = await env.client()
    await env.user()
    first = assert_tokens(await env.password(client, scope="openid offline_access"))
    env.clock.advance(600)
    second = assert_tokens(
        await env.token(
            {"grant_type": GRANT_REFRESH, "refresh_token": first["refresh_token"]}, client
        )
    )
    _, claims = await env.decode(second["id_token"])
    assert claims["auth_time"] == int(env.clock.now())
    assert claims["amr"] == ["pwd"]
    assert not {"acr", "sid", "nonce"} & set(claims)


async def test_a_sign_in_without_mfa(env):
    client = await _web_app(env)
    user = await env.user()
    password_only = _sign_in(env, user, amr=("pwd",), acr=None)

    # The tenant requires MFA (these tests' default): the code cannot skip it.
    code = await _code(env, client, password_only)
    body = assert_error(await _exchange(env, client, code), 403, "mfa_required")
    assert body["mfa_token"]

    await env.tenant(mfa_policy="never")
    code = await _code(env, client, password_only, nonce=None)
    tokens = assert_tokens(await _exchange(env, client, code))
    _, claims = await env.decode(tokens["id_token"])
    assert claims["amr"] == ["pwd"]
    assert not {"acr", "nonce"} & set(claims)
    _, access = await env.decode(tokens["access_token"])
    assert "amr" not in access


async def test_a_blocked_or_deleted_user(env):
    client = await _web_app(env)
    user = await env.user()
    blocked_code = await _code(env, client, _sign_in(env, user))
    deleted_code = await _code(env, client, _sign_in(env, user))

    await env.services.deps.storage.users.update(replace(user, blocked=True))
    assert_error(await _exchange(env, client, blocked_code), 401, "unauthorized", "user is blocked")
    assert await env.services.deps.storage.users.delete(user.user_id)
    assert_error(await _exchange(env, client, deleted_code), 403, "invalid_grant", INVALID_CODE)


async def test_the_id_token_of_response_type_id_token(env):
    client = await env.client(grant_types=["implicit"], callbacks=[CALLBACK])
    user = await env.user()
    sign_in = _sign_in(env, user)
    deps = env.services.deps

    token = await issuance.id_token_only(
        deps, user, client.client, sign_in, scope="openid email", nonce="n-2"
    )

    _, claims = await env.decode(token)
    assert claims["aud"] == client.client_id
    assert claims["sub"] == user.user_id
    assert claims["nonce"] == "n-2"
    assert claims["auth_time"] == sign_in.auth_time
    assert claims["amr"] == list(MFA_AMR)
    assert claims["acr"] == MULTI_FACTOR_ACR
    assert claims["sid"] == sign_in.sid
    assert claims["email"] == user.email
    assert "name" not in claims  # no `profile` scope
    assert not {"at_hash", "c_hash", "scope"} & set(claims)
    assert claims["exp"] - claims["iat"] == (await env.admin.tenant()).id_token_lifetime

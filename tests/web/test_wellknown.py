"""Discovery, JWKS and health."""

from __future__ import annotations

import pytest

from .support import (
    GRANT_OOB,
    GRANT_OTP,
    GRANT_PASSWORD,
    GRANT_PASSWORD_REALM,
    GRANT_RECOVERY,
    GRANT_REFRESH,
    ISSUER,
    TOKEN_ENDPOINT,
)

pytestmark = pytest.mark.anyio

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


async def test_openid_configuration(env):
    resp = await env.http.get("/.well-known/openid-configuration")

    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    doc = resp.json()
    assert doc["issuer"] == ISSUER
    assert doc["token_endpoint"] == TOKEN_ENDPOINT
    assert doc["jwks_uri"] == "https://twofold.test/.well-known/jwks.json"
    assert doc["mfa_challenge_endpoint"] == "https://twofold.test/mfa/challenge"
    assert doc["userinfo_endpoint"] == "https://twofold.test/userinfo"
    assert doc["revocation_endpoint"] == "https://twofold.test/oauth/revoke"
    assert doc["end_session_endpoint"] == "https://twofold.test/oidc/logout"
    assert "none" in doc["revocation_endpoint_auth_methods_supported"]
    grants = set(doc["grant_types_supported"])
    assert {
        GRANT_OTP,
        GRANT_RECOVERY,
        GRANT_PASSWORD,
        GRANT_PASSWORD_REALM,
        GRANT_REFRESH,
    } <= grants
    assert "client_credentials" in grants
    methods = set(doc["token_endpoint_auth_methods_supported"])
    assert {"client_secret_basic", "client_secret_post", "private_key_jwt"} <= methods
    assert "RS256" in doc.get("id_token_signing_alg_values_supported", ["RS256"])


async def test_the_hosted_login_is_advertised(env):
    doc = (await env.http.get("/.well-known/openid-configuration")).json()

    assert doc["authorization_endpoint"] == "https://twofold.test/authorize"
    assert doc["response_types_supported"] == ["code", "id_token"]
    assert doc["response_modes_supported"] == ["query", "form_post", "web_message"]
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["acr_values_supported"] == [
        "http://schemas.openid.net/pape/policies/2007/06/multi-factor"
    ]
    assert "authorization_code" in doc["grant_types_supported"]
    assert "none" in doc["token_endpoint_auth_methods_supported"]
    assert {"acr", "amr", "auth_time", "sid", "nonce"} <= set(doc["claims_supported"])


async def test_oob_grant_advertised_only_if_supported(env):
    # Informational: mfa-oob is a known grant; when advertised it must be spelled exactly.
    doc = (await env.http.get("/.well-known/openid-configuration")).json()
    oob_like = [g for g in doc["grant_types_supported"] if "mfa-oob" in g]
    assert oob_like in ([], [GRANT_OOB])


async def test_jwks(env):
    resp = await env.http.get("/.well-known/jwks.json")

    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    keys = resp.json()["keys"]
    assert keys, keys
    for key in keys:
        assert key["kty"] == "RSA"
        assert key["kid"]
        assert key["n"]
        assert key["e"]
        assert not PRIVATE_MEMBERS & set(key), key
        assert key.get("alg", "RS256") == "RS256"
        assert key.get("use", "sig") == "sig"
    assert len({k["kid"] for k in keys}) == len(keys)


async def test_tokens_are_signed_with_a_published_key(env):
    await env.tenant(mfa_policy="never")
    client = await env.client()
    await env.user()
    resp = await env.password(client, scope="openid")
    assert resp.status_code == 200, resp.text
    kids = {k["kid"] for k in (await env.http.get("/.well-known/jwks.json")).json()["keys"]}

    for token in (resp.json()["access_token"], resp.json()["id_token"]):
        header, _ = await env.decode(token)
        assert header["kid"] in kids
        assert header["alg"] == "RS256"


async def test_healthz(env):
    resp = await env.http.get("/healthz")

    assert resp.status_code == 200, resp.text


async def test_unknown_path_is_404_not_500(env):
    resp = await env.http.get("/no/such/path")

    assert resp.status_code == 404

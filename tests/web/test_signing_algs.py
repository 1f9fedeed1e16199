"""The tenant's signing algorithm (RS256 default, ES256, EdDSA) seen over HTTP: tokens issued after
a switch verify with PyJWT against the served JWKS, tokens issued before keep verifying (for
relying parties and for the MFA API), discovery lists the algorithms of the published keys, and a
token whose header alg is not its key's is refused with an OAuth error."""

from __future__ import annotations

import base64
import json
from typing import Any

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from .support import ISSUER, MFA_AUDIENCE, assert_error, assert_tokens

pytestmark = pytest.mark.anyio

KTY = {"RS256": "RSA", "ES256": "EC", "EdDSA": "OKP"}
USERINFO = f"{ISSUER}userinfo"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def part(token: str, index: int) -> dict[str, Any]:
    segment = token.split(".")[index]
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


async def discovery_algs(env: Any) -> list[str]:
    resp = await env.http.get("/.well-known/openid-configuration")
    assert resp.status_code == 200, resp.text
    return resp.json()["id_token_signing_alg_values_supported"]


async def served_jwks(env: Any) -> dict[str, Any]:
    resp = await env.http.get("/.well-known/jwks.json")
    assert resp.status_code == 200, resp.text
    return resp.json()


async def pyjwt_verify(env: Any, token: str, alg: str, audience: str) -> dict[str, Any]:
    """Verify as a third party would: PyJWT, the served JWKS, one expected algorithm. PyJWT
    checks exp against the system clock, so time claims are left to the server's own tests."""
    keys = pyjwt.PyJWKSet.from_dict(await served_jwks(env))
    kid = part(token, 0)["kid"]
    public = next((k for k in keys.keys if k.key_id == kid), None)
    assert public is not None, f"kid {kid} is not in the served JWKS"
    return pyjwt.decode(
        token,
        public,
        algorithms=[alg],
        audience=audience,
        issuer=ISSUER,
        options={"verify_exp": False, "verify_iat": False},
    )


async def login(env: Any, client: Any) -> dict[str, Any]:
    return assert_tokens(await env.password(client, scope="openid profile email"))


async def test_rs256_is_the_default(env):
    assert (await env.admin.tenant()).signing_alg == "RS256"
    assert await discovery_algs(env) == ["RS256"]
    assert {k["kty"] for k in (await served_jwks(env))["keys"]} == {"RSA"}


@pytest.mark.parametrize("alg", ["ES256", "EdDSA"])
async def test_switching_algorithm(env, alg):
    await env.tenant(mfa_policy="never")
    client = await env.client()
    await env.user()
    before = await login(env, client)
    assert part(before["access_token"], 0)["alg"] == "RS256"

    key = await env.admin.rotate_signing_key(alg)

    assert key.alg == alg
    assert (await env.admin.tenant()).signing_alg == alg
    after = await login(env, client)
    for token, audience in (
        (after["access_token"], USERINFO),
        (after["id_token"], client.client_id),
    ):
        header = part(token, 0)
        assert header["alg"] == alg
        assert header["kid"] == key.kid
        claims = await pyjwt_verify(env, token, alg, audience)
        assert claims["sub"] == part(token, 1)["sub"]
    # Tokens issued before the switch still verify against what is served now.
    for token, audience in (
        (before["access_token"], USERINFO),
        (before["id_token"], client.client_id),
    ):
        assert (await pyjwt_verify(env, token, "RS256", audience))["iss"] == ISSUER
    assert await discovery_algs(env) == [alg, "RS256"]
    assert [k["kty"] for k in (await served_jwks(env))["keys"]] == [KTY[alg], "RSA"]

    # The next rotation keeps the tenant's algorithm and retires the RS256 key: it is no longer
    # served, listed, or able to verify what it signed.
    again = await env.admin.rotate_signing_key()
    assert again.alg == alg
    assert await discovery_algs(env) == [alg]
    assert {k["alg"] for k in (await served_jwks(env))["keys"]} == {alg}
    with pytest.raises(AssertionError, match="not in the served JWKS"):
        await pyjwt_verify(env, before["access_token"], "RS256", USERINFO)
    assert (await pyjwt_verify(env, after["access_token"], alg, USERINFO))["iss"] == ISSUER


async def test_setting_the_tenant_alone_changes_the_next_key_only(env):
    await env.tenant(mfa_policy="never")
    client = await env.client()
    await env.user()

    await env.tenant(signing_alg="ES256")

    assert part((await login(env, client))["access_token"], 0)["alg"] == "RS256"
    assert await discovery_algs(env) == ["RS256"]
    await env.admin.rotate_signing_key()
    assert part((await login(env, client))["access_token"], 0)["alg"] == "ES256"
    assert await discovery_algs(env) == ["ES256", "RS256"]


async def test_unknown_algorithms_are_refused(env):
    from twofold.core.admin import AdminError

    kids = [k.kid for k in await env.admin.signing_keys()]
    for alg in ("HS256", "none", "Ed25519", "PS256", "es256"):
        with pytest.raises(AdminError, match="signing_alg"):
            await env.tenant(signing_alg=alg)
        with pytest.raises(AdminError, match="signing_alg"):
            await env.admin.rotate_signing_key(alg)
    assert [k.kid for k in await env.admin.signing_keys()] == kids
    assert (await env.admin.tenant()).signing_alg == "RS256"


@pytest.mark.parametrize("alg", ["ES256", "EdDSA"])
async def test_mfa_api_tokens_across_a_switch(env, alg):
    """The server's own verification: an RS256 MFA-API token issued before the switch still
    works; one issued after carries the new algorithm and works too."""
    client = await env.client()
    enrolled = await env.enrolled(client)
    old = (await env.mfa_api_token(client, enrolled, "read:authenticators"))["access_token"]
    assert part(old, 0)["alg"] == "RS256"

    await env.admin.rotate_signing_key(alg)

    new = (await env.mfa_api_token(client, enrolled, "read:authenticators"))["access_token"]
    assert part(new, 0)["alg"] == alg
    assert (await pyjwt_verify(env, new, alg, MFA_AUDIENCE))["scope"] == "read:authenticators"
    for token in (old, new):
        resp = await env.list_authenticators(token)
        assert resp.status_code == 200, resp.text


async def _private_keys(env: Any) -> dict[str, tuple[str, Any]]:
    """alg -> (kid, private key) of the published keys, read the way the server reads them."""
    deps = env.services.deps
    out = {}
    for record in await deps.storage.signing_keys.list():
        if record.status == "retired":
            continue
        pem = deps.keyring.decrypt(record.private_key_enc, f"signing_key:{record.kid}")
        out[record.alg] = (record.kid, serialization.load_pem_private_key(pem, password=None))
    return out


def _sign(header: dict[str, Any], claims: dict[str, Any], private: Any, how: str) -> str:
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    if how == "ES256":
        r, s = decode_dss_signature(private.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    else:
        signature = private.sign(signing_input.encode())
    return f"{signing_input}.{b64url(signature)}"


async def test_a_token_whose_alg_is_not_its_keys_is_refused(env):
    client = await env.client()
    enrolled = await env.enrolled(client)
    await env.admin.rotate_signing_key("ES256")
    await env.admin.rotate_signing_key("EdDSA")  # EdDSA current, ES256 previous: both trusted
    real = (await env.mfa_api_token(client, enrolled, "read:authenticators"))["access_token"]
    claims = part(real, 1)
    keys = await _private_keys(env)
    ed_kid, ed_private = keys["EdDSA"]
    es_kid, es_private = keys["ES256"]

    # Faithful forgery first: the right alg for each kid, signed by that key, is accepted.
    for header, private, how in (
        ({"alg": "EdDSA", "kid": ed_kid, "typ": "JWT"}, ed_private, "EdDSA"),
        ({"alg": "ES256", "kid": es_kid, "typ": "JWT"}, es_private, "ES256"),
    ):
        resp = await env.list_authenticators(_sign(header, claims, private, how))
        assert resp.status_code == 200, resp.text

    # The EdDSA key's kid with an ES256 header, validly signed by our own ES256 key, and the
    # other way round: refused as an OAuth error, never a 500.
    for header, private, how in (
        ({"alg": "ES256", "kid": ed_kid, "typ": "JWT"}, es_private, "ES256"),
        ({"alg": "EdDSA", "kid": es_kid, "typ": "JWT"}, ed_private, "EdDSA"),
        ({"alg": "Ed25519", "kid": ed_kid, "typ": "JWT"}, ed_private, "EdDSA"),
    ):
        resp = await env.list_authenticators(_sign(header, claims, private, how))
        assert_error(resp, 401, "invalid_token")

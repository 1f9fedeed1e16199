"""Hostile input: every one answered with a 4xx OAuth error envelope, never a 500.

Sizes, nesting, content types, encodings, and JWTs that are huge, malformed, unsigned
(`alg: none`) or HMAC-signed with a public RSA key (HS/RS confusion), wherever a JWT is taken:
`client_assertion`, `Authorization: Bearer`, and an access token posing as `mfa_token`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from typing import Any

import pytest
from joserfc.jwk import RSAKey

from web.support import (
    EMAIL,
    GRANT_CC,
    GRANT_OTP,
    ISSUER,
    JWT_BEARER,
    MFA_AUDIENCE,
    PASSWORD,
    assert_error,
    assert_no_store,
    public_jwks,
    rsa_key,
)

pytestmark = pytest.mark.anyio

POSTS = ["/oauth/token", "/mfa/challenge", "/mfa/associate"]
LIMIT = 64 * 1024


def b64(data: bytes | str) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def hs256(header: dict[str, Any], claims: dict[str, Any], secret: bytes) -> str:
    """HMAC-SHA256 JWT built by hand: libraries rightly refuse a public key as an HMAC secret."""
    signing_input = f"{b64(json.dumps(header))}.{b64(json.dumps(claims))}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def compact(header: Any, claims: Any, signature: bytes = b"") -> str:
    h = header if isinstance(header, str) else b64(json.dumps(header))
    c = claims if isinstance(claims, str) else b64(json.dumps(claims))
    return f"{h}.{c}.{b64(signature)}"


def _envelope(resp, lo: int = 400, hi: int = 499) -> dict[str, Any]:
    assert lo <= resp.status_code <= hi, (resp.status_code, resp.text)
    assert resp.headers["content-type"].startswith("application/json"), resp.headers
    body = resp.json()
    assert set(body) >= {"error", "error_description"}, body
    assert isinstance(body["error"], str), body
    assert isinstance(body["error_description"], str), body
    assert_no_store(resp)
    return body


async def _bearer_headers(env) -> dict[str, str]:
    client = await env.client()
    await env.user()
    mfa_token = await env.mfa_token(client)
    return {"Authorization": f"Bearer {mfa_token}"}


# ----------------------------------------------------------------------------- sizes and shapes


@pytest.mark.parametrize("path", POSTS)
async def test_body_over_the_cap(env, path):
    headers = await _bearer_headers(env)
    resp = await env.http.post(
        path,
        content=b'{"x":"' + b"a" * LIMIT + b'"}',
        headers={**headers, "Content-Type": "application/json"},
    )
    assert _envelope(resp, 413, 413)["error"] == "invalid_request"


@pytest.mark.parametrize("path", POSTS)
async def test_lying_content_length(env, path):
    headers = await _bearer_headers(env)
    resp = await env.http.post(
        path,
        content=b"{}",
        headers={**headers, "Content-Type": "application/json", "Content-Length": "abc"},
    )
    _envelope(resp)


@pytest.mark.parametrize("path", ["/oauth/token", "/mfa/challenge"])
@pytest.mark.parametrize("name", ["client_id", "username", "password", "mfa_token", "otp"])
async def test_parameter_over_the_cap(env, path, name):
    client = await env.client()
    params = {"grant_type": "password", **client.post(), name: "x" * 8193}
    resp = await env.http.post(path, data=params)
    body = assert_error(resp, 400, "invalid_request")
    assert body["error_description"].startswith("Parameter too long"), body


@pytest.mark.parametrize("path", POSTS)
@pytest.mark.parametrize("depth", [17, 100, 30_000])
async def test_json_nested_too_deep(env, path, depth):
    headers = await _bearer_headers(env)
    payload = '{"a":' * 1 + "[" * (depth - 1) + "]" * (depth - 1) + "}"
    resp = await env.http.post(
        path, content=payload.encode(), headers={**headers, "Content-Type": "application/json"}
    )
    assert_error(resp, 400, "invalid_request")


async def test_associate_with_a_huge_array(env):
    headers = await _bearer_headers(env)
    resp = await env.associate(None, {"authenticator_types": ["otp"] * 5000}, headers=headers)
    # Either a clean 4xx or the enrolment itself; never a 500.
    assert resp.status_code in (200, 400), resp.text
    if resp.status_code == 400:
        _envelope(resp)


@pytest.mark.parametrize(
    "body",
    [
        {"authenticator_types": "otp" * 3000},
        {"authenticator_types": [{"a": 1}]},
        {"authenticator_types": [None]},
        {"authenticator_types": ["x" * 10_000]},
        {"authenticator_types": ["oob"], "oob_channels": ["sms"] * 1000},
        {"authenticator_types": ["oob"], "oob_channels": ["sms"], "phone_number": "+1" * 3000},
        {"authenticator_types": ["oob"], "oob_channels": ["email"], "email": "a" * 20000},
    ],
)
async def test_associate_hostile_bodies(env, body):
    headers = await _bearer_headers(env)
    resp = await env.associate(None, body, headers=headers)
    _envelope(resp)


# ----------------------------------------------------------------------------- content types


@pytest.mark.parametrize("path", POSTS)
@pytest.mark.parametrize(
    "content_type",
    [
        "text/xml",
        "multipart/form-data; boundary=x",
        "application/octet-stream",
        "application/x-www-form-urlencoded-but-not",
        "application/jsonp",
        "text/plain",
        "*/*",
    ],
)
async def test_unknown_content_types(env, path, content_type):
    headers = await _bearer_headers(env)
    resp = await env.http.post(
        path, content=b"grant_type=password", headers={**headers, "Content-Type": content_type}
    )
    assert _envelope(resp, 415, 415)["error"] == "invalid_request"


# ----------------------------------------------------------------------------- encodings


@pytest.mark.parametrize("path", ["/oauth/token", "/mfa/challenge"])
@pytest.mark.parametrize(
    ("content_type", "raw"),
    [
        ("application/x-www-form-urlencoded", b"grant_type=password&username=\xff\xfe"),
        ("application/x-www-form-urlencoded", b"grant_type=password&username=%ff%fe"),
        ("application/x-www-form-urlencoded", b"grant_type=password&username=%C0%AF"),
        ("application/json", b'{"grant_type":"password","username":"\xc0\xaf"}'),
        ("application/json", b'{"grant_type":"password","username":"\xed\xa0\x80"}'),
        ("application/json", b"\xef\xbb\xbf\xff"),
        ("application/json", b'{"grant_type":"password","username":"a\\u0000b"}'),
    ],
)
async def test_bad_utf8_and_nul(env, path, content_type, raw):
    resp = await env.http.post(path, content=raw, headers={"Content-Type": content_type})
    assert_error(resp, 400, "invalid_request")


@pytest.mark.parametrize(
    "field", ["username", "password", "client_id", "client_secret", "realm", "scope", "audience"]
)
async def test_lone_surrogates_in_json_strings(env, field):
    # Valid JSON, valid UTF-8 on the wire, but not encodable text: must not crash hashing or SQL.
    client = await env.client()
    await env.user()
    params = {
        "grant_type": "password",
        "username": EMAIL,
        "password": PASSWORD,
        **client.post(),
        field: "a\ud800b",
    }
    resp = await env.http.post(
        "/oauth/token",
        content=json.dumps(params).encode(),
        headers={"Content-Type": "application/json"},
    )
    _envelope(resp)


@pytest.mark.parametrize("field", ["mfa_token", "otp", "client_id"])
async def test_lone_surrogates_in_mfa_grant(env, field):
    client = await env.client()
    enrolled = await env.enrolled(client)
    params = {
        "grant_type": GRANT_OTP,
        "mfa_token": await env.mfa_token(client),
        "otp": env.code(enrolled.secret),
        **client.post(),
        field: "\udfff" * 3,
    }
    resp = await env.http.post(
        "/oauth/token",
        content=json.dumps(params).encode(),
        headers={"Content-Type": "application/json"},
    )
    _envelope(resp)


@pytest.mark.parametrize("target", [("GET", "/mfa/authenticators"), ("POST", "/mfa/associate")])
async def test_non_ascii_bearer_bytes(env, target):
    method, path = target
    resp = await env.http.request(
        method, path, headers=[(b"Authorization", b"Bearer \xff\xfe\x80abc")], json={}
    )
    assert_error(resp, 401, "invalid_token")


async def test_non_ascii_basic_bytes(env):
    resp = await env.http.post(
        "/oauth/token",
        data={"grant_type": "password"},
        headers=[(b"Authorization", b"Basic " + base64.b64encode(b"\xff:\xfe"))],
    )
    assert_error(resp, 401, "invalid_client")


# ----------------------------------------------------------------------------- JWTs


@pytest.fixture
async def jwt_client(env):
    key = rsa_key()
    await env.api()
    creds = await env.client(
        auth_method="private_key_jwt",
        jwks=public_jwks(key),
        grant_types=[GRANT_CC, "password", GRANT_OTP],
        api_grants={"https://api.example.com": ("read:x",)},
    )
    return creds, key


def _assertion_claims(env, client_id: str) -> dict[str, Any]:
    now = int(env.clock.now())
    return {
        "iss": client_id,
        "sub": client_id,
        "aud": ISSUER,
        "iat": now,
        "exp": now + 60,
        "jti": uuid.uuid4().hex,
    }


async def _cc_with_assertion(env, client_id: str, assertion: str):
    return await env.token(
        {
            "grant_type": GRANT_CC,
            "client_id": client_id,
            "client_assertion_type": JWT_BEARER,
            "client_assertion": assertion,
            "audience": "https://api.example.com",
        }
    )


async def test_the_assertion_fixture_works(env, jwt_client):
    creds, key = jwt_client
    resp = await _cc_with_assertion(env, creds.client_id, env.assertion(key, creds.client_id))
    assert resp.status_code == 200, resp.text


def _hostile_assertions(env, client_id: str, key: RSAKey) -> dict[str, str]:
    claims = _assertion_claims(env, client_id)
    confused = hs256({"alg": "HS256", "kid": key.kid}, claims, key.as_pem(private=False))
    good = env.assertion(key, client_id)
    h, p, s = good.split(".")
    return {
        "alg none": compact({"alg": "none"}, claims),
        "alg None": compact({"alg": "None", "typ": "JWT"}, claims),
        "alg none with signature": compact({"alg": "none"}, claims, b"sig"),
        "no alg": compact({"typ": "JWT"}, claims, b"sig"),
        "HS256 with the public key": confused,
        "RS256 header, HMAC signature": compact(
            {"alg": "RS256", "kid": key.kid}, claims, confused.split(".")[2].encode()
        ),
        "embedded jwk": compact(
            {"alg": "RS256", "jwk": rsa_key().as_dict(private=False)}, claims, b"x" * 256
        ),
        "jku": compact({"alg": "RS256", "jku": "https://attacker.example/jwks"}, claims, b"x"),
        "kid traversal": compact({"alg": "RS256", "kid": "../../etc/passwd"}, claims, b"x"),
        "tampered payload": f"{h}.{b64(json.dumps({**claims, 'sub': 'other'}))}.{s}",
        "stripped signature": f"{h}.{p}.",
        "two parts": f"{h}.{p}",
        "four parts": f"{h}.{p}.{s}.x",
        "JWE shape": f"{h}.{p}.{s}.x.y",
        "not base64": "!!!.@@@.###",
        "header not JSON": f"{b64('nope')}.{p}.{s}",
        "header a list": f"{b64('[1,2]')}.{p}.{s}",
        "payload a string": f"{h}.{b64(json.dumps('hi'))}.{s}",
        "payload a number": f"{h}.{b64('1e999')}.{s}",
        "huge": f"{h}.{b64(json.dumps({**claims, 'pad': 'x' * 3000}))}.{s}",
        "huge header": f"{b64(json.dumps({'alg': 'RS256', 'pad': 'y' * 6000}))}.{p}.{s}",
        "empty": "..",
        "dots": "." * 2000,
        "crit": compact({"alg": "RS256", "crit": ["exp"], "exp": 1}, claims, b"x"),
        "alg too long": compact({"alg": "RS256" * 10}, claims, b"x"),
        "alg a list": compact({"alg": ["RS256"]}, claims, b"x"),
        "kid a dict": compact({"alg": "RS256", "kid": {"a": 1}}, claims, b"x"),
    }


_HOSTILE_NAMES = [
    "alg none",
    "alg None",
    "alg none with signature",
    "no alg",
    "HS256 with the public key",
    "RS256 header, HMAC signature",
    "embedded jwk",
    "jku",
    "kid traversal",
    "tampered payload",
    "stripped signature",
    "two parts",
    "four parts",
    "JWE shape",
    "not base64",
    "header not JSON",
    "header a list",
    "payload a string",
    "payload a number",
    "huge",
    "huge header",
    "empty",
    "dots",
    "crit",
    "alg too long",
    "alg a list",
    "kid a dict",
]


@pytest.mark.parametrize("name", _HOSTILE_NAMES)
async def test_hostile_client_assertions(env, jwt_client, name):
    creds, key = jwt_client
    assertion = _hostile_assertions(env, creds.client_id, key)[name]
    resp = await _cc_with_assertion(env, creds.client_id, assertion)
    body = _envelope(resp)
    assert body["error"] in ("invalid_client", "invalid_request"), body
    # Without client_id, too (the subject is read from the unverified token).
    resp = await env.token(
        {
            "grant_type": GRANT_CC,
            "client_assertion_type": JWT_BEARER,
            "client_assertion": assertion,
            "audience": "https://api.example.com",
        }
    )
    _envelope(resp)


@pytest.mark.parametrize("name", _HOSTILE_NAMES)
async def test_hostile_client_assertions_at_challenge(env, jwt_client, name):
    creds, key = jwt_client
    assertion = _hostile_assertions(env, creds.client_id, key)[name]
    resp = await env.http.post(
        "/mfa/challenge",
        json={
            "client_id": creds.client_id,
            "client_assertion_type": JWT_BEARER,
            "client_assertion": assertion,
            "mfa_token": "x",
        },
    )
    _envelope(resp)


async def _server_key_and_access_token(env) -> tuple[dict[str, Any], str]:
    """The server's public JWK and a genuine MFA-API access token."""
    client = await env.client()
    enrolled = await env.enrolled(client)
    body = await env.mfa_api_token(client, enrolled, "read:authenticators remove:authenticators")
    jwks = (await env.http.get("/.well-known/jwks.json")).json()
    return jwks["keys"][0], body["access_token"]


def _forged_access_tokens(server_jwk: dict[str, Any], genuine: str) -> dict[str, str]:
    from joserfc import jwt as jose_jwt

    h, p, s = genuine.split(".")
    claims = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
    header = json.loads(base64.urlsafe_b64decode(h + "=" * (-len(h) % 4)))
    public = RSAKey.import_key(server_jwk)
    out: dict[str, str] = {}
    for label, secret in {
        "PEM": public.as_pem(private=False),
        "DER-ish n": base64.urlsafe_b64decode(server_jwk["n"] + "=="),
        "JWK JSON": json.dumps(server_jwk).encode(),
    }.items():
        out[f"HS256 keyed with the server's public key ({label})"] = hs256(
            {"alg": "HS256", "kid": header.get("kid")}, claims, secret
        )
    out["alg none"] = compact({**header, "alg": "none"}, claims)
    out["alg none, genuine signature"] = f"{b64(json.dumps({**header, 'alg': 'none'}))}.{p}.{s}"
    out["stranger's RS256 key, same kid"] = jose_jwt.encode(
        {"alg": "RS256", "kid": header.get("kid")},
        claims,
        rsa_key(),
        algorithms=["RS256"],
    )
    elevated = {**claims, "scope": "enroll read:authenticators remove:authenticators"}
    out["scope escalated"] = f"{h}.{b64(json.dumps(elevated))}.{s}"
    out["another audience"] = f"{h}.{b64(json.dumps({**claims, 'aud': 'https://x/'}))}.{s}"
    out["huge"] = f"{h}.{b64(json.dumps({**claims, 'pad': 'z' * 50_000}))}.{s}"
    out["8 KiB of dots and letters"] = "a." * 4096
    return out


_FORGED = [
    "HS256 keyed with the server's public key (PEM)",
    "HS256 keyed with the server's public key (DER-ish n)",
    "HS256 keyed with the server's public key (JWK JSON)",
    "alg none",
    "alg none, genuine signature",
    "stranger's RS256 key, same kid",
    "scope escalated",
    "another audience",
    "huge",
    "8 KiB of dots and letters",
]


@pytest.mark.parametrize("name", _FORGED)
async def test_forged_bearer_tokens(env, name):
    server_jwk, genuine = await _server_key_and_access_token(env)
    # The genuine token works, so a refusal below is about the forgery.
    ok = await env.list_authenticators(genuine)
    assert ok.status_code == 200, ok.text
    forged = _forged_access_tokens(server_jwk, genuine)[name]

    for resp in (
        await env.list_authenticators(forged),
        await env.associate(forged),
        await env.delete_authenticator(forged, "totp|dev_AAAAAAAAAAAAAAAA"),
    ):
        assert_error(resp, 401, "invalid_token")


@pytest.mark.parametrize("name", _FORGED)
async def test_forged_access_tokens_as_mfa_token(env, name):
    server_jwk, genuine = await _server_key_and_access_token(env)
    forged = _forged_access_tokens(server_jwk, genuine)[name]
    client = await env.client()

    resp = await env.otp_grant(client, forged, "123456")
    body = _envelope(resp)
    # A token bigger than the body cap is refused as a body (413) before anything reads it.
    assert (resp.status_code, body["error"]) in ((403, "invalid_grant"), (413, "invalid_request"))
    resp = await env.challenge(client, forged)
    _envelope(resp)


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer " + "A" * 100_000,
        "Bearer " + "eyJ" + "." * 2 + "x" * 100_000,
        "Bearer  ",
        "Bearer\tabc",
        "bearer " + "a.b.c",
        "Basic " + "A" * 10_000,
        "Bearer a.b.c, Bearer d.e.f",
        "Bearer " + "\u00e9" * 10,
    ],
)
async def test_hostile_authorization_headers(env, authorization):
    headers = [(b"Authorization", authorization.encode("utf-8"))]
    for method, path in (("GET", "/mfa/authenticators"), ("POST", "/mfa/associate")):
        resp = await env.http.request(method, path, headers=headers, json={})
        assert_error(resp, 401, "invalid_token")


async def test_mfa_audience_token_with_alg_none_is_not_an_mfa_api_principal(env):
    # A syntactically perfect unsigned token claiming everything is still nobody.
    now = int(env.clock.now())
    claims = {
        "iss": ISSUER,
        "aud": MFA_AUDIENCE,
        "sub": "auth0|000000000000000000000000",
        "azp": "x",
        "scope": "enroll read:authenticators remove:authenticators",
        "iat": now,
        "exp": now + 600,
    }
    token = compact({"alg": "none", "typ": "JWT"}, claims)
    assert_error(await env.list_authenticators(token), 401, "invalid_token")

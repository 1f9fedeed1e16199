"""Client authentication at the token endpoint and /mfa/challenge: secrets, Basic, public
clients, private_key_jwt (aud, lifetime, single-use jti)."""

from __future__ import annotations

import base64

import pytest

from .support import (
    CLIENT_AUTH_FAILED,
    EMAIL,
    GRANT_PASSWORD,
    ISSUER,
    JWT_BEARER,
    PASSWORD,
    TOKEN_ENDPOINT,
    assert_error,
    assert_no_store,
    assert_tokens,
    public_jwks,
    rsa_key,
)

pytestmark = pytest.mark.anyio

PASSWORD_PARAMS = {"grant_type": GRANT_PASSWORD, "username": EMAIL, "password": PASSWORD}


@pytest.fixture(scope="module")
def client_key():
    return rsa_key()


@pytest.fixture(scope="module")
def stranger_key():
    return rsa_key()


async def _never(env):
    await env.tenant(mfa_policy="never")
    await env.user()


def _assert_client_failed(resp):
    assert_error(resp, 401, "invalid_client", CLIENT_AUTH_FAILED)
    assert "www-authenticate" not in resp.headers
    assert_no_store(resp)


# ----------------------------------------------------------------------------- secrets


@pytest.mark.parametrize("method", ["client_secret_post", "client_secret_basic"])
async def test_secret_in_body(env, method):
    await _never(env)
    client = await env.client(auth_method=method)

    assert_tokens(await env.token(PASSWORD_PARAMS, client))


@pytest.mark.parametrize("method", ["client_secret_post", "client_secret_basic"])
async def test_secret_in_basic_header(env, method):
    await _never(env)
    client = await env.client(auth_method=method)

    resp = await env.token(PASSWORD_PARAMS, headers=client.basic())

    assert_tokens(resp)


async def test_basic_with_client_id_also_in_body(env):
    await _never(env)
    client = await env.client()

    resp = await env.token(
        {**PASSWORD_PARAMS, "client_id": client.client_id}, headers=client.basic()
    )

    assert_tokens(resp)


async def test_json_body_with_secret(env):
    await _never(env)
    client = await env.client()

    assert_tokens(await env.token(PASSWORD_PARAMS, client, json=True))


async def test_wrong_secret(env):
    await _never(env)
    client = await env.client()

    resp = await env.token(
        {**PASSWORD_PARAMS, "client_id": client.client_id, "client_secret": client.secret + "x"}
    )

    _assert_client_failed(resp)


async def test_wrong_secret_in_basic(env):
    await _never(env)
    client = await env.client()
    raw = f"{client.client_id}:wrong".encode()

    resp = await env.token(
        PASSWORD_PARAMS, headers={"Authorization": "Basic " + base64.b64encode(raw).decode()}
    )

    _assert_client_failed(resp)


async def test_missing_secret_for_confidential_client(env):
    await _never(env)
    client = await env.client()

    resp = await env.token({**PASSWORD_PARAMS, "client_id": client.client_id})

    _assert_client_failed(resp)


async def test_unknown_client(env):
    await _never(env)

    resp = await env.token(
        {**PASSWORD_PARAMS, "client_id": "no-such-client", "client_secret": "whatever"}
    )

    _assert_client_failed(resp)


async def test_unknown_public_client(env):
    await _never(env)

    resp = await env.token({**PASSWORD_PARAMS, "client_id": "no-such-client"})

    _assert_client_failed(resp)


async def test_secret_of_another_client(env):
    await _never(env)
    client = await env.client()
    other = await env.client()

    resp = await env.token(
        {**PASSWORD_PARAMS, "client_id": client.client_id, "client_secret": other.secret}
    )

    _assert_client_failed(resp)


@pytest.mark.parametrize(
    "header",
    [
        "Basic",
        "Basic !!!not-base64!!!",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode(),
    ],
)
async def test_malformed_basic_header(env, header):
    await _never(env)

    resp = await env.token(PASSWORD_PARAMS, headers={"Authorization": header})

    assert resp.status_code in (400, 401), resp.text
    assert resp.json()["error"] in ("invalid_request", "invalid_client")
    assert "www-authenticate" not in resp.headers


# ----------------------------------------------------------------------------- public


async def test_public_client_with_client_id_only(env):
    await _never(env)
    client = await env.client(auth_method="none")
    assert client.secret is None

    assert_tokens(await env.token({**PASSWORD_PARAMS, "client_id": client.client_id}))


async def test_public_client_mfa_flow(env):
    client = await env.client(auth_method="none")
    enrolled = await env.enrolled(client)
    mfa_token = await env.mfa_token(client)

    challenge = await env.challenge(client, mfa_token)
    assert challenge.status_code == 200, challenge.text
    assert challenge.json() == {"challenge_type": "otp"}

    assert_tokens(await env.otp_grant(client, mfa_token, env.code(enrolled.secret)))


# ----------------------------------------------------------------------------- private_key_jwt


async def _jwt_client(env, key):
    return await env.client(auth_method="private_key_jwt", jwks=public_jwks(key))


def _assertion_params(assertion):
    return {"client_assertion": assertion, "client_assertion_type": JWT_BEARER}


@pytest.mark.parametrize("aud", [ISSUER, TOKEN_ENDPOINT])
async def test_private_key_jwt(env, client_key, aud):
    await _never(env)
    client = await _jwt_client(env, client_key)

    resp = await env.token(
        {
            **PASSWORD_PARAMS,
            **_assertion_params(env.assertion(client_key, client.client_id, aud=aud)),
        }
    )

    assert_tokens(resp)


async def test_private_key_jwt_with_client_id(env, client_key):
    await _never(env)
    client = await _jwt_client(env, client_key)

    resp = await env.token(
        {
            **PASSWORD_PARAMS,
            "client_id": client.client_id,
            **_assertion_params(env.assertion(client_key, client.client_id)),
        }
    )

    assert_tokens(resp)


async def test_private_key_jwt_json_body(env, client_key):
    await _never(env)
    client = await _jwt_client(env, client_key)

    resp = await env.token(
        {**PASSWORD_PARAMS, **_assertion_params(env.assertion(client_key, client.client_id))},
        json=True,
    )

    assert_tokens(resp)


async def test_private_key_jwt_replay(env, client_key):
    await _never(env)
    client = await _jwt_client(env, client_key)
    assertion = env.assertion(client_key, client.client_id)
    assert_tokens(await env.token({**PASSWORD_PARAMS, **_assertion_params(assertion)}))

    resp = await env.token({**PASSWORD_PARAMS, **_assertion_params(assertion)})

    _assert_client_failed(resp)


async def test_private_key_jwt_jti_reuse_in_a_new_assertion(env, client_key):
    await _never(env)
    client = await _jwt_client(env, client_key)
    first = env.assertion(client_key, client.client_id, jti="fixed-jti")
    assert_tokens(await env.token({**PASSWORD_PARAMS, **_assertion_params(first)}))
    env.clock.advance(5)
    second = env.assertion(client_key, client.client_id, jti="fixed-jti")
    assert second != first

    resp = await env.token({**PASSWORD_PARAMS, **_assertion_params(second)})

    _assert_client_failed(resp)


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("wrong-aud", {"aud": "https://evil.example.com/"}),
        ("aud-no-slash", {"aud": "https://twofold.test"}),
        ("too-long-lived", {"lifetime": 3600}),
        ("expired", {"lifetime": 60, "iat_offset": -120}),
        ("wrong-iss", {"iss": "someone-else"}),
        ("wrong-sub", {"sub": "someone-else"}),
    ],
)
async def test_private_key_jwt_bad_claims(env, client_key, name, kwargs):
    await _never(env)
    client = await _jwt_client(env, client_key)

    resp = await env.token(
        {
            **PASSWORD_PARAMS,
            **_assertion_params(env.assertion(client_key, client.client_id, **kwargs)),
        }
    )

    _assert_client_failed(resp)


async def test_private_key_jwt_signed_by_another_key(env, client_key, stranger_key):
    await _never(env)
    client = await _jwt_client(env, client_key)
    assertion = env.assertion(stranger_key, client.client_id)

    _assert_client_failed(await env.token({**PASSWORD_PARAMS, **_assertion_params(assertion)}))


async def test_private_key_jwt_client_cannot_use_a_secret(env, client_key):
    await _never(env)
    client = await _jwt_client(env, client_key)

    resp = await env.token(
        {**PASSWORD_PARAMS, "client_id": client.client_id, "client_secret": "guess"}
    )

    _assert_client_failed(resp)


async def test_private_key_jwt_client_without_assertion(env, client_key):
    await _never(env)
    client = await _jwt_client(env, client_key)

    _assert_client_failed(await env.token({**PASSWORD_PARAMS, "client_id": client.client_id}))


async def test_assertion_for_a_secret_client_is_refused(env, client_key):
    await _never(env)
    client = await env.client()
    assertion = env.assertion(client_key, client.client_id)

    _assert_client_failed(await env.token({**PASSWORD_PARAMS, **_assertion_params(assertion)}))


async def test_wrong_assertion_type(env, client_key):
    await _never(env)
    client = await _jwt_client(env, client_key)
    assertion = env.assertion(client_key, client.client_id)

    resp = await env.token(
        {
            **PASSWORD_PARAMS,
            "client_assertion": assertion,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:saml2-bearer",
        }
    )

    _assert_client_failed(resp)


@pytest.mark.parametrize("garbage", ["x", "a.b.c", "....", "e30.e30.", "é" * 3000])
async def test_garbage_assertion(env, client_key, garbage):
    await _never(env)
    await _jwt_client(env, client_key)

    resp = await env.token({**PASSWORD_PARAMS, **_assertion_params(garbage)})

    _assert_client_failed(resp)


async def test_private_key_jwt_at_challenge(env, client_key):
    client = await _jwt_client(env, client_key)
    user = await env.user()
    assert user
    mfa_token = await env.mfa_token(
        None,
        **_assertion_params(env.assertion(client_key, client.client_id)),
    )

    resp = await env.http.post(
        "/mfa/challenge",
        json={
            "mfa_token": mfa_token,
            **_assertion_params(env.assertion(client_key, client.client_id)),
        },
    )

    # The user has no authenticator yet: client auth passed, the challenge itself cannot.
    assert_error(resp, 400, "association_required")


# ----------------------------------------------------------------------------- /mfa/challenge


async def test_challenge_with_wrong_secret(env):
    client = await env.client()
    await env.enrolled(client)
    mfa_token = await env.mfa_token(client)

    resp = await env.http.post(
        "/mfa/challenge",
        json={"client_id": client.client_id, "client_secret": "wrong", "mfa_token": mfa_token},
    )

    _assert_client_failed(resp)


async def test_challenge_with_basic(env):
    client = await env.client()
    await env.enrolled(client)
    mfa_token = await env.mfa_token(client)

    resp = await env.http.post(
        "/mfa/challenge", json={"mfa_token": mfa_token}, headers=client.basic()
    )

    assert resp.status_code == 200, resp.text
    assert resp.json() == {"challenge_type": "otp"}

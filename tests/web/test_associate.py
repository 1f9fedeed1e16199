"""POST /mfa/associate: the OTP enrolment response, replacement of pending enrolments,
bearer rules (mfa_token vs MFA-API access token) and errors."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from .support import (
    ALREADY_ENROLLED,
    EMAIL,
    EXPIRED,
    INVALID_OTP,
    RECOVERY_RE,
    SECRET_RE,
    assert_error,
    assert_no_store,
    assert_tokens,
    totp,
)

pytestmark = pytest.mark.anyio


async def test_associate_otp_response(env):
    client = await env.client()
    await env.user()
    mfa_token = await env.mfa_token(client)

    resp = await env.associate(mfa_token)

    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    assert_no_store(resp)
    body = resp.json()
    assert set(body) == {"authenticator_type", "secret", "barcode_uri", "recovery_codes"}, body
    assert body["authenticator_type"] == "otp"
    assert SECRET_RE.match(body["secret"]), body["secret"]
    assert isinstance(body["recovery_codes"], list)
    assert len(body["recovery_codes"]) == 1
    assert RECOVERY_RE.match(body["recovery_codes"][0]), body["recovery_codes"]


async def test_barcode_uri(env):
    client = await env.client()
    await env.user()
    body = await env.associate_otp(await env.mfa_token(client))

    uri = body["barcode_uri"]
    parts = urlsplit(uri)
    assert parts.scheme == "otpauth"
    assert parts.netloc == "totp"
    query = parse_qs(parts.query, strict_parsing=True)
    assert {k: v for k, v in query.items() if k != "issuer"} == {
        "secret": [body["secret"]],
        "algorithm": ["SHA1"],
        "digits": ["6"],
        "period": ["30"],
    }
    assert len(query["issuer"]) == 1
    assert query["issuer"][0]
    assert parts.query.startswith("secret=" + body["secret"] + "&issuer=")
    assert parts.query.endswith("&algorithm=SHA1&digits=6&period=30")
    # Label: "{Issuer}:{account}", percent-encoded.
    label = unquote(parts.path.lstrip("/"))
    assert label == f"{query['issuer'][0]}:{EMAIL}", label
    assert "@" not in parts.path  # the account is percent-encoded


async def test_secret_is_160_bits_and_works(env):
    client = await env.client()
    await env.user()
    mfa_token = await env.mfa_token(client)
    body = await env.associate_otp(mfa_token)

    assert len(base64.b32decode(body["secret"])) == 20

    assert_tokens(await env.otp_grant(client, mfa_token, totp(body["secret"], env.clock.now())))


async def test_secrets_differ_between_users(env):
    client = await env.client()
    await env.user("a@example.com", "password a")
    await env.user("b@example.com", "password b")
    a = await env.associate_otp(
        await env.mfa_token(client, username="a@example.com", password="password a")
    )
    b = await env.associate_otp(
        await env.mfa_token(client, username="b@example.com", password="password b")
    )

    assert a["secret"] != b["secret"]
    assert a["recovery_codes"] != b["recovery_codes"]


async def test_client_credentials_are_tolerated(env):
    client = await env.client()
    await env.user()
    mfa_token = await env.mfa_token(client)

    resp = await env.associate(mfa_token, {"authenticator_types": ["otp"], **client.post()})

    assert resp.status_code == 200, resp.text
    assert resp.json()["authenticator_type"] == "otp"


async def test_no_recovery_codes_when_disabled(env):
    await env.tenant(recovery_codes_enabled=False)
    client = await env.client()
    await env.user()

    body = await env.associate_otp(await env.mfa_token(client))

    assert set(body) == {"authenticator_type", "secret", "barcode_uri"}, body


# ----------------------------------------------------------------------------- pending enrolments


async def test_second_associate_replaces_the_pending_one(env):
    client = await env.client()
    await env.user()
    mfa_token = await env.mfa_token(client)
    first = await env.associate_otp(mfa_token)

    second = await env.associate_otp(mfa_token)

    assert second["secret"] != first["secret"]
    listed = (await env.list_authenticators(mfa_token)).json()
    otp = [a for a in listed if a["authenticator_type"] == "otp"]
    assert len(otp) == 1, listed
    assert otp[0]["active"] is False


async def test_second_associate_before_confirmation_and_recovery_codes(env):
    # Contract: recovery_codes only on the user's first association. If a re-association
    # before confirmation shows a code again, it must be a new one and the only one that works.
    client = await env.client()
    await env.user()
    mfa_token = await env.mfa_token(client)
    first = await env.associate_otp(mfa_token)
    second = await env.associate_otp(mfa_token)
    assert_tokens(await env.otp_grant(client, mfa_token, env.code(second["secret"])))

    assert "recovery_codes" not in second, second
    assert_tokens(
        await env.recovery_grant(client, await env.mfa_token(client), first["recovery_codes"][0])
    )


async def test_replaced_secret_no_longer_confirms(env):
    client = await env.client()
    await env.user()
    mfa_token = await env.mfa_token(client)
    first = await env.associate_otp(mfa_token)
    second = await env.associate_otp(mfa_token)
    old = totp(first["secret"], env.clock.now())
    assert old != totp(second["secret"], env.clock.now())

    assert_error(await env.otp_grant(client, mfa_token, old), 403, "invalid_grant", INVALID_OTP)
    assert_tokens(await env.otp_grant(client, mfa_token, totp(second["secret"], env.clock.now())))


async def test_pending_enrolment_survives_a_new_mfa_token(env):
    client = await env.client()
    await env.user()
    body = await env.associate_otp(await env.mfa_token(client))

    resp = await env.otp_grant(client, await env.mfa_token(client), env.code(body["secret"]))

    assert_tokens(resp)


# ----------------------------------------------------------------------------- already enrolled


async def test_mfa_token_cannot_enrol_a_second_factor(env):
    client = await env.client()
    await env.enrolled(client)

    resp = await env.associate(await env.mfa_token(client))

    assert_error(resp, 403, "access_denied", ALREADY_ENROLLED)
    assert_no_store(resp)


async def test_mfa_api_token_with_enroll_scope_can_add_a_factor(env):
    client = await env.client()
    enrolled = await env.enrolled(client)
    access = await env.mfa_api_token(client, enrolled, "enroll read:authenticators")

    resp = await env.associate(access["access_token"])

    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert set(body) == {"authenticator_type", "secret", "barcode_uri"}, body
    assert body["secret"] != enrolled.secret
    listed = (await env.list_authenticators(access["access_token"])).json()
    otp = sorted(a["active"] for a in listed if a["authenticator_type"] == "otp")
    assert otp == [False, True], listed


async def test_enrolment_with_access_token_is_confirmed_with_it(env):
    # The holder of an MFA-API token confirms the new factor with the mfa-otp grant, passing the
    # access token as mfa_token (the user has no mfa_token that may enrol any more).
    client = await env.client()
    enrolled = await env.enrolled(client)
    access = (await env.mfa_api_token(client, enrolled, "enroll read:authenticators"))[
        "access_token"
    ]
    second = (await env.associate(access)).json()

    resp = await env.otp_grant(client, access, env.code(second["secret"]))

    assert_tokens(resp)
    listed = (await env.list_authenticators(access)).json()
    assert sorted(a["active"] for a in listed if a["authenticator_type"] == "otp") == [True, True]


async def test_access_token_as_mfa_token_only_confirms_pending_enrolments(env):
    # With nothing pending, an MFA-API token must not trade a valid code for a successor token.
    client = await env.client()
    enrolled = await env.enrolled(client)
    access = (await env.mfa_api_token(client, enrolled, "enroll"))["access_token"]
    env.clock.advance(30)

    resp = await env.otp_grant(client, access, env.code(enrolled.secret))

    assert_error(resp, 403, "invalid_grant", "Malformed mfa_token")


async def test_access_token_as_mfa_token_cannot_spend_a_recovery_code(env):
    client = await env.client()
    enrolled = await env.enrolled(client)
    access = (await env.mfa_api_token(client, enrolled, "enroll"))["access_token"]

    resp = await env.recovery_grant(client, access, enrolled.recovery_code)

    assert_error(resp, 403, "invalid_grant", "Malformed mfa_token")
    # The code was not spent: it still works with a real mfa_token.
    assert_tokens(
        await env.recovery_grant(client, await env.mfa_token(client), enrolled.recovery_code)
    )


async def test_mfa_api_token_without_enroll_scope(env):
    client = await env.client()
    enrolled = await env.enrolled(client)
    access = await env.mfa_api_token(client, enrolled, "read:authenticators")

    resp = await env.associate(access["access_token"])

    assert_error(resp, 403, "insufficient_scope")


# ----------------------------------------------------------------------------- bearer errors


async def test_no_bearer(env):
    resp = await env.associate(None)

    assert_error(resp, 401, "invalid_token")


@pytest.mark.parametrize(
    "authorization",
    ["Bearer", "Bearer ", "Bearer garbage", "Basic Zm9vOmJhcg==", "garbage", "Bearer a b"],
)
async def test_bad_authorization_header(env, authorization):
    resp = await env.associate(None, headers={"Authorization": authorization})

    assert_error(resp, 401, "invalid_token")


async def test_consumed_mfa_token(env):
    client = await env.client()
    await env.user()
    mfa_token = await env.mfa_token(client)
    secret = (await env.associate_otp(mfa_token))["secret"]
    assert_tokens(await env.otp_grant(client, mfa_token, env.code(secret)))

    resp = await env.associate(mfa_token)

    assert_error(resp, 401, "invalid_token")


async def test_expired_mfa_token(env):
    client = await env.client()
    await env.user()
    mfa_token = await env.mfa_token(client)
    env.clock.advance(601)

    resp = await env.associate(mfa_token)

    assert_error(resp, 403, "expired_token", EXPIRED)


async def test_ordinary_access_token(env):
    await env.tenant(mfa_policy="never")
    client = await env.client()
    await env.user()
    access = assert_tokens(await env.password(client))["access_token"]

    resp = await env.associate(access)

    assert resp.status_code in (401, 403), resp.text
    assert resp.json()["error"] in ("invalid_token", "insufficient_scope")


# ----------------------------------------------------------------------------- body errors


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"authenticator_types": []},
        {"authenticator_types": "otp"},
        {"authenticator_types": [1]},
        {"authenticator_types": None},
        {"authenticator_types": ["bogus"]},
    ],
    ids=["missing", "empty", "string", "int", "null", "bogus"],
)
async def test_bad_body(env, body):
    client = await env.client()
    await env.user()
    mfa_token = await env.mfa_token(client)

    resp = await env.associate(mfa_token, body)

    if body == {}:
        assert_error(resp, 400, "invalid_request")
    elif body == {"authenticator_types": "otp"} and resp.status_code == 200:
        pass  # a bare string may be tolerated like oob_channels
    else:
        assert resp.status_code == 400, resp.text
        assert resp.json()["error"] in ("invalid_request", "unsupported_challenge_type")


async def test_malformed_json(env):
    client = await env.client()
    await env.user()
    mfa_token = await env.mfa_token(client)

    resp = await env.http.post(
        "/mfa/associate",
        content=b'{"authenticator_types": [',
        headers={"Authorization": f"Bearer {mfa_token}", "Content-Type": "application/json"},
    )

    assert_error(resp, 400, "invalid_request", "Malformed JSON body")

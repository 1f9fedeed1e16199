"""POST /mfa/challenge: selection by challenge_type / authenticator_id and every refusal."""

from __future__ import annotations

import pytest

from .support import (
    EXPIRED,
    MALFORMED,
    OTHER_CLIENT,
    assert_error,
    assert_no_store,
    assert_tokens,
)

pytestmark = pytest.mark.anyio


def _ok(resp):
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    assert resp.json() == {"challenge_type": "otp"}
    assert_no_store(resp)


async def _totp_id(env, bearer):
    listed = (await env.list_authenticators(bearer)).json()
    ids = [a["id"] for a in listed if a["authenticator_type"] == "otp" and a["active"]]
    assert len(ids) == 1, listed
    return ids[0]


async def test_otp_challenge_json(env):
    client = await env.client()
    await env.enrolled(client)

    _ok(await env.challenge(client, await env.mfa_token(client)))


async def test_otp_challenge_form(env):
    client = await env.client()
    await env.enrolled(client)

    _ok(await env.challenge(client, await env.mfa_token(client), form=True))


@pytest.mark.parametrize("challenge_type", ["otp", "otp oob", "oob otp"])
async def test_challenge_type_lists(env, challenge_type):
    client = await env.client()
    await env.enrolled(client)

    _ok(await env.challenge(client, await env.mfa_token(client), challenge_type=challenge_type))


async def test_only_oob_accepted_but_user_has_otp(env):
    client = await env.client()
    await env.enrolled(client)

    resp = await env.challenge(client, await env.mfa_token(client), challenge_type="oob")

    assert_error(resp, 400, "unsupported_challenge_type")
    assert_no_store(resp)


async def test_oob_channel_filter_without_match(env):
    client = await env.client()
    await env.enrolled(client)

    resp = await env.challenge(
        client, await env.mfa_token(client), challenge_type="oob", oob_channel="sms"
    )

    assert_error(resp, 400, "unsupported_challenge_type")


async def test_challenge_with_authenticator_id(env):
    client = await env.client()
    await env.enrolled(client)
    mfa_token = await env.mfa_token(client)

    _ok(await env.challenge(client, mfa_token, authenticator_id=await _totp_id(env, mfa_token)))


async def test_challenge_does_not_consume_mfa_token(env):
    client = await env.client()
    enrolled = await env.enrolled(client)
    mfa_token = await env.mfa_token(client)
    _ok(await env.challenge(client, mfa_token))
    _ok(await env.challenge(client, mfa_token, challenge_type="otp"))

    assert_tokens(await env.otp_grant(client, mfa_token, env.code(enrolled.secret)))


# ----------------------------------------------------------------------------- enrolment state


async def test_user_without_authenticators(env):
    client = await env.client()
    await env.user()

    resp = await env.challenge(client, await env.mfa_token(client))

    assert_error(resp, 400, "association_required")


async def test_user_with_only_a_pending_enrolment(env):
    client = await env.client()
    await env.user()
    mfa_token = await env.mfa_token(client)
    await env.associate_otp(mfa_token)

    resp = await env.challenge(client, mfa_token)

    assert_error(resp, 400, "association_required")


# ----------------------------------------------------------------------------- authenticator_id


@pytest.mark.parametrize(
    "authenticator_id",
    ["totp|dev_AAAAAAAAAAAAAAAA", "nonsense", "", "sms|dev_AAAAAAAAAAAAAAAA"],
)
async def test_unknown_authenticator_id(env, authenticator_id):
    client = await env.client()
    await env.enrolled(client)

    resp = await env.challenge(
        client, await env.mfa_token(client), authenticator_id=authenticator_id
    )

    if authenticator_id == "":
        # An empty value is as good as absent, or refused as invalid — never a 500.
        assert resp.status_code in (200, 400), resp.text
        if resp.status_code == 400:
            assert resp.json()["error"] in ("invalid_request", "invalid_authenticator")
    else:
        assert_error(resp, 400, "invalid_authenticator")


async def test_inactive_authenticator_id(env):
    client = await env.client()
    enrolled = await env.enrolled(client)
    access = (await env.mfa_api_token(client, enrolled, "enroll read:authenticators"))[
        "access_token"
    ]
    assert (await env.associate(access)).status_code == 200
    listed = (await env.list_authenticators(access)).json()
    inactive = [a["id"] for a in listed if a["authenticator_type"] == "otp" and not a["active"]]
    assert len(inactive) == 1, listed

    resp = await env.challenge(client, await env.mfa_token(client), authenticator_id=inactive[0])

    assert_error(resp, 400, "invalid_authenticator")


async def test_another_users_authenticator_id(env):
    client = await env.client()
    await env.enrolled(client, "alice@example.com", "alice pass")
    await env.enrolled(client, "bob@example.com", "bob pass")
    alice_token = await env.mfa_token(client, username="alice@example.com", password="alice pass")
    bob_token = await env.mfa_token(client, username="bob@example.com", password="bob pass")
    bobs_id = await _totp_id(env, bob_token)

    resp = await env.challenge(client, alice_token, authenticator_id=bobs_id)

    assert_error(resp, 400, "invalid_authenticator")


async def test_recovery_code_authenticator_cannot_be_challenged(env):
    client = await env.client()
    await env.enrolled(client)
    mfa_token = await env.mfa_token(client)
    listed = (await env.list_authenticators(mfa_token)).json()
    rc = [a["id"] for a in listed if a["authenticator_type"] == "recovery-code"]
    assert len(rc) == 1, listed

    resp = await env.challenge(client, mfa_token, authenticator_id=rc[0])

    assert resp.status_code == 400, resp.text
    assert resp.json()["error"] in ("invalid_authenticator", "unsupported_challenge_type")


# ----------------------------------------------------------------------------- mfa_token


async def test_missing_mfa_token(env):
    client = await env.client()

    resp = await env.challenge(client, None)

    assert_error(resp, 400, "invalid_request", "Missing required parameter: mfa_token")


async def test_garbage_mfa_token(env):
    client = await env.client()

    resp = await env.challenge(client, "garbage")

    assert_error(resp, 403, "invalid_grant", MALFORMED)


async def test_consumed_mfa_token(env):
    client = await env.client()
    enrolled = await env.enrolled(client)
    mfa_token = await env.mfa_token(client)
    assert_tokens(await env.otp_grant(client, mfa_token, env.code(enrolled.secret)))

    resp = await env.challenge(client, mfa_token)

    assert_error(resp, 403, "invalid_grant", MALFORMED)


async def test_enrolment_mfa_token_is_consumed_by_confirmation(env):
    client = await env.client()
    await env.user()
    mfa_token = await env.mfa_token(client)
    secret = (await env.associate_otp(mfa_token))["secret"]
    assert_tokens(await env.otp_grant(client, mfa_token, env.code(secret)))

    assert_error(await env.challenge(client, mfa_token), 403, "invalid_grant", MALFORMED)


async def test_expired_mfa_token(env):
    client = await env.client()
    await env.enrolled(client)
    mfa_token = await env.mfa_token(client)
    env.clock.advance(601)

    resp = await env.challenge(client, mfa_token)

    assert_error(resp, 403, "expired_token", EXPIRED)


async def test_mfa_token_of_another_client(env):
    client = await env.client()
    other = await env.client()
    await env.enrolled(client)

    resp = await env.challenge(other, await env.mfa_token(client))

    assert_error(resp, 400, "invalid_request", OTHER_CLIENT)


async def test_mfa_api_access_token_is_refused(env):
    client = await env.client()
    enrolled = await env.enrolled(client)
    access = (await env.mfa_api_token(client, enrolled, "remove:authenticators"))["access_token"]

    resp = await env.challenge(client, access)

    assert_error(resp, 403, "invalid_grant", MALFORMED)


async def test_ordinary_access_token_is_refused(env):
    await env.tenant(mfa_policy="never")
    client = await env.client()
    await env.user()
    access = assert_tokens(await env.password(client))["access_token"]

    resp = await env.challenge(client, access)

    assert_error(resp, 403, "invalid_grant", MALFORMED)


async def test_missing_client_credentials(env):
    client = await env.client()
    await env.enrolled(client)
    mfa_token = await env.mfa_token(client)

    resp = await env.http.post(
        "/mfa/challenge", json={"client_id": client.client_id, "mfa_token": mfa_token}
    )

    assert_error(resp, 401, "invalid_client", "Client authentication failed")

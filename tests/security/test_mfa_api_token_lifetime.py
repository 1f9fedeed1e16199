"""A password-only MFA-API token must not outlive the user's first enrolment.

The attack: while a user has no factor yet, the password alone gets an MFA-API access token (that
is how a user enrols). If that token came with a refresh token, or kept working once the user
had enrolled, its holder could list, delete or add authenticators for good: add an OTP
authenticator of their own, confirm it with the token as `mfa_token`, and pass MFA at every
login. So: no refresh token for the MFA-API audience, the refresh grant applies the MFA policy
again, and an MFA-API token without `mfa` in its `amr` is refused once the user has a factor.
"""

from __future__ import annotations

import uuid

import pytest

from twofold.core.ids import digest, opaque_token
from twofold.core.models import RefreshToken
from web.support import (
    ALREADY_ENROLLED,
    API,
    EMAIL,
    GRANT_REFRESH,
    MFA_AUDIENCE,
    MFA_REQUIRED,
    PASSWORD,
    Enrolled,
    assert_error,
    assert_tokens,
    audiences,
)

pytestmark = pytest.mark.anyio

MFA_API_SCOPE = "openid enroll read:authenticators remove:authenticators offline_access"


async def _refresh(env, client, token):
    return await env.token({"grant_type": GRANT_REFRESH, "refresh_token": token}, client)


async def _password_only_mfa_api_token(env, client):
    """Step 1 of the reproduction: a user with no factor, the password grant for the MFA API."""
    body = assert_tokens(await env.password(client, audience=MFA_AUDIENCE, scope=MFA_API_SCOPE))
    _, claims = await env.decode(body["access_token"])
    assert MFA_AUDIENCE in audiences(claims)
    assert "amr" not in claims
    return body


async def _user_enrols_totp(env, client):
    """Step 2: the real user enrols TOTP with their own mfa_token."""
    mfa_token = await env.mfa_token(client)
    secret = (await env.associate_otp(mfa_token))["secret"]
    assert_tokens(await env.otp_grant(client, mfa_token, env.code(secret)))
    env.next_step()
    return secret


async def _legacy_mfa_api_family(env, client, user_id, *, mfa):
    """A refresh token the MFA API was given before refresh tokens stopped being issued there
    (an upgraded installation still has such families)."""
    token = opaque_token(48)
    now = env.clock.now()
    await env.services.deps.storage.refresh_tokens.add(
        RefreshToken(
            token_hash=digest(token, "refresh_token"),
            family_id=uuid.uuid4().hex,
            user_id=user_id,
            client_id=client.client_id,
            audience=MFA_AUDIENCE,
            scope="openid enroll read:authenticators remove:authenticators offline_access",
            created_at=now,
            expires_at=now + 3600,
            mfa_at=now if mfa else None,
        )
    )
    return token


# ------------------------------------------------------------------ no refresh token there


async def test_password_only_mfa_api_token_comes_without_a_refresh_token(env):
    client = await env.client()
    await env.user()

    body = await _password_only_mfa_api_token(env, client)

    assert "refresh_token" not in body, body
    assert "offline_access" not in body["scope"].split()
    assert isinstance(body.get("id_token"), str), body


async def test_mfa_api_token_after_mfa_comes_without_a_refresh_token(env):
    client = await env.client()
    enrolled = await env.enrolled(client)

    body = await env.mfa_api_token(client, enrolled, MFA_API_SCOPE)

    assert "refresh_token" not in body, body
    assert "offline_access" not in body["scope"].split()
    _, claims = await env.decode(body["access_token"])
    assert claims["amr"] == ["mfa"]


async def test_offline_access_still_yields_a_refresh_token_for_other_audiences(env):
    await env.api()
    client = await env.client()
    enrolled = await env.enrolled(client)
    mfa_token = await env.mfa_token(client, audience=API, scope="openid offline_access read:x")

    body = assert_tokens(await env.otp_grant(client, mfa_token, env.code(enrolled.secret)))

    assert isinstance(body.get("refresh_token"), str), body


# ------------------------------------------------------------ the refresh grant's MFA policy


async def test_legacy_mfa_api_refresh_family_needs_mfa_once_the_user_has_enrolled(env):
    client = await env.client()
    user = await env.user()
    legacy = await _legacy_mfa_api_family(env, client, user.user_id, mfa=False)
    secret = await _user_enrols_totp(env, client)

    resp = await _refresh(env, client, legacy)

    body = assert_error(resp, 403, "mfa_required", MFA_REQUIRED)
    assert isinstance(body.get("mfa_token"), str), body
    assert body["mfa_requirements"] == {"challenge": [{"type": "otp"}, {"type": "recovery-code"}]}
    # The family is over: the same refresh token is refused from now on.
    assert_error(await _refresh(env, client, legacy), 403, "invalid_grant")
    # Passing the second factor gives the MFA-API token back, with amr and still no refresh token.
    tokens = assert_tokens(await env.otp_grant(client, body["mfa_token"], env.code(secret)))
    assert "refresh_token" not in tokens, tokens
    _, claims = await env.decode(tokens["access_token"])
    assert MFA_AUDIENCE in audiences(claims)
    assert claims["amr"] == ["mfa"]


async def test_legacy_mfa_api_refresh_family_issued_after_mfa_ends_without_a_new_one(env):
    client = await env.client()
    enrolled = await env.enrolled(client)
    legacy = await _legacy_mfa_api_family(env, client, enrolled.user.user_id, mfa=True)

    body = assert_tokens(await _refresh(env, client, legacy))

    assert "refresh_token" not in body, body
    _, claims = await env.decode(body["access_token"])
    assert claims["amr"] == ["mfa"]


async def test_refresh_family_without_mfa_needs_mfa_once_the_tenant_requires_it(env):
    client = await env.client()
    await env.tenant(mfa_policy="never")
    await env.user()
    first = assert_tokens(await env.password(client, scope="openid offline_access"))
    # Under `never` the user enrols through the MFA API.
    enrol = (await _password_only_mfa_api_token(env, client))["access_token"]
    secret = (await env.associate_otp(enrol))["secret"]
    assert_tokens(await env.otp_grant(client, enrol, env.code(secret)))
    env.next_step()
    # Under `never` a family issued without MFA goes on, as the password grant would.
    second = assert_tokens(await _refresh(env, client, first["refresh_token"]))
    await env.tenant(mfa_policy="always")

    resp = await _refresh(env, client, second["refresh_token"])

    body = assert_error(resp, 403, "mfa_required", MFA_REQUIRED)
    assert body["mfa_requirements"]["challenge"][0] == {"type": "otp"}
    after = assert_tokens(await env.otp_grant(client, body["mfa_token"], env.code(secret)))
    assert isinstance(after.get("refresh_token"), str), after
    assert "offline_access" in after["scope"].split()
    # A family issued after MFA keeps working.
    again = assert_tokens(await _refresh(env, client, after["refresh_token"]))
    _, claims = await env.decode(again["id_token"])
    assert claims["amr"] == ["mfa"]


async def test_refresh_family_issued_after_mfa_keeps_working(env):
    await env.api()
    client = await env.client()
    enrolled = await env.enrolled(client)
    mfa_token = await env.mfa_token(client, audience=API, scope="openid offline_access read:x")
    tokens = assert_tokens(await env.otp_grant(client, mfa_token, env.code(enrolled.secret)))

    for _ in range(3):
        tokens = assert_tokens(await _refresh(env, client, tokens["refresh_token"]))

    _, claims = await env.decode(tokens["access_token"])
    assert claims["amr"] == ["mfa"]


# ------------------------------------------------- the password-only token after enrolment


async def test_password_only_mfa_api_token_is_refused_once_the_user_has_enrolled(env):
    client = await env.client()
    await env.user()
    stale = (await _password_only_mfa_api_token(env, client))["access_token"]
    await _user_enrols_totp(env, client)

    listed = await env.list_authenticators(stale)
    assert_error(listed, 403, "access_denied", ALREADY_ENROLLED)
    added = await env.associate(stale)
    assert_error(added, 403, "access_denied", ALREADY_ENROLLED)
    # The same answer whether or not the id exists: nothing is learnt about the user's factors.
    removed = await env.delete_authenticator(stale, "totp|dev_AAAAAAAAAAAAAAAA")
    assert_error(removed, 403, "access_denied", ALREADY_ENROLLED)
    granted = await env.otp_grant(client, stale, "123456")
    assert_error(granted, 403, "access_denied", ALREADY_ENROLLED)


async def test_stale_token_cannot_add_and_confirm_an_attackers_authenticator(env):
    """Step 4 of the reproduction, end to end: nothing is added, the user's factor stays."""
    client = await env.client()
    user = await env.user()
    stale = (await _password_only_mfa_api_token(env, client))["access_token"]
    secret = await _user_enrols_totp(env, client)

    assert (await env.associate(stale)).status_code == 403

    login = Enrolled(user, EMAIL, PASSWORD, secret, None, {})
    token = await env.mfa_api_token(client, login, "read:authenticators remove:authenticators")
    listed = (await env.list_authenticators(token["access_token"])).json()
    assert [a["authenticator_type"] for a in listed if a["active"]] == ["otp", "recovery-code"]
    assert all(a["active"] for a in listed), listed


async def test_password_only_token_confirms_the_enrolment_it_started(env):
    client = await env.client()
    await env.user()
    token = (await _password_only_mfa_api_token(env, client))["access_token"]
    assert (await env.list_authenticators(token)).status_code == 200
    secret = (await env.associate_otp(token))["secret"]

    confirmed = assert_tokens(await env.otp_grant(client, token, env.code(secret)))

    _, claims = await env.decode(confirmed["access_token"])
    assert claims["amr"] == ["mfa"]
    # That confirmation was the user's first factor: the password-only token is done.
    assert_error(await env.list_authenticators(token), 403, "access_denied", ALREADY_ENROLLED)
    # The token minted after MFA is not.
    assert (await env.list_authenticators(confirmed["access_token"])).status_code == 200


async def test_mfa_api_token_with_amr_mfa_still_manages_factors(env):
    client = await env.client()
    enrolled = await env.enrolled(client)
    token = (await env.mfa_api_token(client, enrolled, "enroll read:authenticators"))[
        "access_token"
    ]

    assert (await env.list_authenticators(token)).status_code == 200
    secret = (await env.associate_otp(token))["secret"]
    assert_tokens(await env.otp_grant(client, token, env.code(secret)))

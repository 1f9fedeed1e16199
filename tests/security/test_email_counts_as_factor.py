"""A password alone must not add a factor for a user who already has one, email included.

By default every active factor counts: an explicitly enrolled email, and the implicit
authenticator of a verified email (with the email factor on). Such a user's mfa_token cannot
associate a new authenticator (the attacker's address or OTP app), and the MFA-API audience
needs the email challenge first. The tenant setting `email_counts_as_factor=False` restores
Auth0's lenient behaviour; its tests are at the end. Codes are read from the received emails.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from twofold.core.admin import AdminError
from twofold.core.clock import FrozenClock
from web.oob_support import SmtpSink, associate_oob, oob_grant, oob_settings
from web.support import (
    ALREADY_ENROLLED,
    EMAIL,
    MFA_AUDIENCE,
    MFA_REQUIRED,
    assert_error,
    assert_tokens,
)

pytestmark = pytest.mark.anyio
FROM = "Twofold <no-reply@twofold.test>"
FACTORS = {"otp", "email", "recovery-code"}
ATTACKER = "attacker@evil.test"
MFA_API_SCOPE = "enroll read:authenticators"


@pytest.fixture
async def services(tmp_path: Any, clock: FrozenClock, smtp: SmtpSink) -> AsyncIterator[Any]:
    from twofold.app import create_services

    settings = oob_settings(tmp_path, smtp_url=smtp.url, email_from=FROM)
    svc = await create_services(settings, clock=clock)
    try:
        await svc.admin.update_tenant(mfa_policy="always", enabled_factors=FACTORS)
        yield svc
    finally:
        await svc.close()


async def _explicit_email_user(env, smtp, client, address="ada@mail.test"):
    """A user with an unverified address who enrolled email explicitly (and nothing else)."""
    await env.admin.create_user(EMAIL, "correct horse", email_verified=False)
    mfa_token = await env.mfa_token(client)
    resp = await associate_oob(env, mfa_token, "email", email=address)
    assert resp.status_code == 200, resp.text
    code = smtp.last_code(address)
    assert_tokens(await oob_grant(env, client, mfa_token, resp.json()["oob_code"], code))


async def _attempts_to_add_a_factor(env, smtp, mfa_token):
    """The attacker's two ways in: an OTP app of their own, or their own email address."""
    otp = await env.associate(mfa_token)
    assert_error(otp, 403, "access_denied", ALREADY_ENROLLED)
    email = await associate_oob(env, mfa_token, "email", email=ATTACKER)
    assert_error(email, 403, "access_denied", ALREADY_ENROLLED)
    assert smtp.messages_to(ATTACKER) == []


# ---------------------------------------------------------------------- the strict default


async def test_tenants_count_email_as_a_factor_by_default(env):
    assert (await env.admin.tenant()).email_counts_as_factor is True
    # Only a real boolean turns it off: a stray string must not read as "false".
    with pytest.raises(AdminError):
        await env.tenant(email_counts_as_factor="false")
    assert (await env.admin.tenant()).email_counts_as_factor is True


async def test_implicit_email_user_cannot_add_a_factor_with_the_password_alone(env, smtp):
    client = await env.client()
    await env.user()  # verified email: the implicit email authenticator
    body = await env.mfa_required(client)
    assert body["mfa_requirements"] == {"challenge": [{"type": "email"}]}

    await _attempts_to_add_a_factor(env, smtp, body["mfa_token"])


async def test_explicit_email_user_cannot_add_a_factor_with_the_password_alone(env, smtp):
    client = await env.client()
    await _explicit_email_user(env, smtp, client)
    body = await env.mfa_required(client)
    assert body["mfa_requirements"] == {"challenge": [{"type": "email"}, {"type": "recovery-code"}]}

    await _attempts_to_add_a_factor(env, smtp, body["mfa_token"])


async def test_pending_otp_cannot_be_confirmed_with_the_password_alone(env, smtp):
    """An OTP enrolment started before the email factor was turned on stays unconfirmable with
    an mfa_token once the verified email counts."""
    await env.tenant(enabled_factors={"otp", "recovery-code"})
    client = await env.client()
    await env.user()
    started = await env.mfa_token(client)
    secret = (await env.associate_otp(started))["secret"]
    await env.tenant(enabled_factors=FACTORS)

    mfa_token = await env.mfa_token(client)
    resp = await env.otp_grant(client, mfa_token, env.code(secret))

    assert_error(resp, 403, "invalid_grant")
    assert_error(await env.otp_grant(client, started, env.code(secret)), 403, "invalid_grant")


async def test_mfa_api_audience_needs_the_email_challenge(env, smtp):
    client = await env.client()
    await env.user()

    body = assert_error(
        await env.password(client, audience=MFA_AUDIENCE, scope=MFA_API_SCOPE),
        403,
        "mfa_required",
        MFA_REQUIRED,
    )

    # The user passes the factor they have; then the MFA-API token may add another.
    mfa_token = body["mfa_token"]
    challenge = await env.challenge(client, mfa_token, challenge_type="oob")
    assert challenge.status_code == 200, challenge.text
    code = smtp.last_code(EMAIL)
    tokens = assert_tokens(
        await oob_grant(env, client, mfa_token, challenge.json()["oob_code"], code)
    )
    _, claims = await env.decode(tokens["access_token"])
    assert claims["amr"] == ["mfa"]
    secret = (await env.associate_otp(tokens["access_token"]))["secret"]
    assert_tokens(await env.otp_grant(client, tokens["access_token"], env.code(secret)))


async def test_explicit_email_user_needs_mfa_for_the_mfa_api(env, smtp):
    client = await env.client()
    await _explicit_email_user(env, smtp, client)

    resp = await env.password(client, audience=MFA_AUDIENCE, scope=MFA_API_SCOPE)

    assert_error(resp, 403, "mfa_required", MFA_REQUIRED)


async def test_email_counts_only_while_the_email_factor_is_on(env, smtp):
    """With the email factor off, a verified address is no authenticator: the user enrols."""
    await env.tenant(enabled_factors={"otp", "recovery-code"})
    client = await env.client()
    await env.user()
    body = await env.mfa_required(client)
    assert body["mfa_requirements"] == {"enroll": [{"type": "otp"}]}
    assert (await env.associate(body["mfa_token"])).status_code == 200


# -------------------------------------------------------------------- the lenient setting


async def test_lenient_setting_lets_an_email_only_user_enrol_with_the_password(env, smtp):
    await env.tenant(email_counts_as_factor=False)
    client = await env.client()
    await env.user()
    body = await env.mfa_required(client)
    assert body["mfa_requirements"] == {
        "challenge": [{"type": "email"}],
        "enroll": [{"type": "otp"}],
    }

    resp = await associate_oob(env, body["mfa_token"], "email", email="second@mail.test")

    assert resp.status_code == 200, resp.text
    code = smtp.last_code("second@mail.test")
    assert_tokens(await oob_grant(env, client, body["mfa_token"], resp.json()["oob_code"], code))


async def test_lenient_setting_gives_an_email_only_user_the_mfa_api_directly(env, smtp):
    await env.tenant(email_counts_as_factor=False)
    client = await env.client()
    await env.user()

    body = assert_tokens(await env.password(client, audience=MFA_AUDIENCE, scope=MFA_API_SCOPE))

    _, claims = await env.decode(body["access_token"])
    assert "amr" not in claims
    assert (await env.list_authenticators(body["access_token"])).status_code == 200

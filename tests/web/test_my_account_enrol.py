"""Enrolment through the My Account API: POST /me/v1/authentication-methods (202, Location,
auth_session) then POST …/{id}/verify (201, the confirmed method), for every method type. What
is enrolled here is an authenticator like any other: the MFA grants accept it, the MFA API lists
it. Codes are read from what was delivered (SMTP, the fake Twilio), TOTP codes computed here, and
passkeys made by the software authenticator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from twofold.authenticator import DeviceClient, StateFile
from twofold.core.clock import FrozenClock

from .fake_twilio import FakeTwilio, settings_for
from .my_account_support import ME, Me, first_party, password_only_token, path, signed_in
from .oob_support import SmtpSink, oob_settings, running
from .passkey_support import RP_ID, authenticator, challenge, exchange
from .support import Harness, assert_tokens, totp, wrong_code

pytestmark = pytest.mark.anyio
FACTORS = {"otp", "sms", "voice", "email", "push-notification", "recovery-code"}
# The users here have a verified email, which counts as a factor once email is on: the tests
# that enrol an email turn it on after the user has signed in.
WITHOUT_EMAIL = FACTORS - {"email"}
PHONE = "+1 (650) 253-0000"
E164 = "+16502530000"


@pytest.fixture
async def services(
    tmp_path: Any, clock: FrozenClock, smtp: SmtpSink, twilio: FakeTwilio
) -> AsyncIterator[Any]:
    settings = oob_settings(
        tmp_path,
        smtp_url=smtp.url,
        email_from="Twofold <no-reply@twofold.test>",
        **settings_for(twilio),
    )
    async with running(settings, clock, mfa_policy="always", enabled_factors=WITHOUT_EMAIL) as svc:
        yield svc


# ----------------------------------------------------------------------------- totp


async def test_totp_enrolment_then_verification(env: Harness) -> None:
    client, enrolled, me = await signed_in(env)
    started = await me.started({"type": "totp"})
    assert set(started) == {"id", "auth_session", "barcode_uri", "manual_input_code"}
    assert started["id"].startswith("totp|dev_")
    secret = started["manual_input_code"]
    uri = urlsplit(started["barcode_uri"])
    assert uri.scheme == "otpauth"
    assert parse_qs(uri.query)["secret"] == [secret]
    pending = await me.get(started["id"])
    assert pending.json()["confirmed"] is False

    code = env.code(secret)
    resp = await me.verify(
        started["id"], {"auth_session": started["auth_session"], "otp_code": wrong_code(code)}
    )
    problem = resp.json()
    assert resp.status_code == 400, problem
    assert problem["validation_errors"][0]["pointer"] == "/otp_code"
    method = await me.verified(
        started["id"], {"auth_session": started["auth_session"], "otp_code": code}
    )
    assert method["id"] == started["id"]
    assert method["type"] == "totp"
    assert method["confirmed"] is True

    # One store: the MFA grant takes a code of the new authenticator.
    env.next_step()
    mfa_token = await env.mfa_token(client, username=enrolled.email)
    assert_tokens(await env.otp_grant(client, mfa_token, totp(secret, env.clock.now())))


async def test_a_first_factor_with_the_password_alone(env: Harness) -> None:
    client = await first_party(env)
    await env.user()
    me = Me(env, await password_only_token(env, client))
    started = await me.started({"type": "totp"})
    code = env.code(started["manual_input_code"])
    await me.verified(started["id"], {"auth_session": started["auth_session"], "otp_code": code})
    # The user has a factor now: the password-only token is spent, the next one takes MFA.
    resp = await me.list()
    assert resp.status_code == 401, resp.text
    assert (await env.password(client, audience=ME)).status_code == 403


# ----------------------------------------------------------------------------- email and phone


async def test_email_enrolment_sends_a_code(env: Harness, smtp: SmtpSink) -> None:
    _, enrolled, me = await signed_in(env)
    await env.tenant(enabled_factors=FACTORS)
    started = await me.started({"type": "email", "email": "Second@Example.com"})
    assert set(started) == {"id", "auth_session"}
    assert started["id"].startswith("email|dev_")
    code = smtp.last_code("second@example.com")
    method = await me.verified(
        started["id"], {"auth_session": started["auth_session"], "otp_code": code}
    )
    assert method["email"] == "second@example.com"
    assert method["confirmed"] is True
    assert enrolled.email != method["email"]


async def test_phone_enrolment_by_sms_or_voice(env: Harness, twilio: FakeTwilio) -> None:
    _, _, me = await signed_in(env)
    started = await me.started({"type": "phone", "phone_number": PHONE})
    assert started["id"].startswith("sms|dev_")
    sent = twilio.last("sms")
    assert sent.to == E164
    method = await me.verified(
        started["id"], {"auth_session": started["auth_session"], "otp_code": sent.code}
    )
    assert method["phone_number"] == E164
    assert method["preferred_authentication_method"] == "sms"
    assert method["type"] == "phone"

    by_voice = await me.started(
        {
            "type": "phone",
            "phone_number": "+44 20 7946 0000",
            "preferred_authentication_method": "voice",
        }
    )
    assert by_voice["id"].startswith("voice|dev_")
    code = twilio.last("voice").code
    method = await me.verified(
        by_voice["id"], {"auth_session": by_voice["auth_session"], "otp_code": code}
    )
    assert method["preferred_authentication_method"] == "voice"


async def test_a_phone_number_the_factor_refuses_names_its_field(env: Harness) -> None:
    _, _, me = await signed_in(env)
    resp = await me.enrol({"type": "phone", "phone_number": "not a number"})
    assert resp.status_code == 400, resp.text
    assert resp.json()["validation_errors"][0]["pointer"] == "/phone_number"
    resp = await me.enrol({"type": "phone"})
    assert resp.json()["validation_errors"][0]["pointer"] == "/phone_number"


async def test_a_prompt_code_is_needed(env: Harness, smtp: SmtpSink) -> None:
    _, _, me = await signed_in(env)
    await env.tenant(enabled_factors=FACTORS)
    started = await me.started({"type": "email"})
    resp = await me.verify(started["id"], {"auth_session": started["auth_session"]})
    assert resp.status_code == 400, resp.text
    assert resp.json()["validation_errors"][0]["pointer"] == "/otp_code"
    assert len(smtp.messages_to("u@example.com")) == 1


# ----------------------------------------------------------------------------- push


async def test_push_enrolment_through_the_device(
    env: Harness, tmp_path: Any, clock: FrozenClock
) -> None:
    _, _, me = await signed_in(env)
    started = await me.started({"type": "push-notification"})
    assert set(started) == {"id", "auth_session", "barcode_uri"}
    assert started["id"].startswith("push|dev_")
    # The device has not bound itself yet.
    resp = await me.verify(started["id"], {"auth_session": started["auth_session"]})
    assert resp.status_code == 400, resp.text
    device = DeviceClient(StateFile(tmp_path / "device.json"), http=env.http, clock=clock.now)
    await device.enroll(started["barcode_uri"], name="Ada's phone")
    method = await me.verified(started["id"], {"auth_session": started["auth_session"]})
    assert method["type"] == "push-notification"
    assert method["confirmed"] is True
    assert method["name"] == "Ada's phone"


# ----------------------------------------------------------------------------- recovery code


async def test_a_new_recovery_code_replaces_the_old_one(env: Harness) -> None:
    client, enrolled, me = await signed_in(env)
    started = await me.started({"type": "recovery-code"})
    assert set(started) == {"id", "auth_session", "recovery_code"}
    fresh = started["recovery_code"]
    # Not in force before it is verified.
    assert enrolled.recovery_code is not None
    method = await me.verified(started["id"], {"auth_session": started["auth_session"]})
    assert method["type"] == "recovery-code"
    assert method["confirmed"] is True

    old = await env.recovery_grant(client, await env.mfa_token(client), enrolled.recovery_code)
    assert old.status_code == 403, old.text
    assert_tokens(await env.recovery_grant(client, await env.mfa_token(client), fresh))


async def test_a_recovery_code_needs_a_factor(env: Harness) -> None:
    client = await first_party(env)
    await env.user()
    me = Me(env, await password_only_token(env, client))
    resp = await me.enrol({"type": "recovery-code"})
    assert resp.status_code == 400, resp.text
    assert resp.json()["validation_errors"][0]["pointer"] == "/type"


async def test_the_shown_recovery_code_may_be_checked(env: Harness) -> None:
    _, _, me = await signed_in(env)
    started = await me.started({"type": "recovery-code"})
    body = {"auth_session": started["auth_session"], "recovery_code": "0" * 24}
    resp = await me.verify(started["id"], body)
    assert resp.json()["validation_errors"][0]["pointer"] == "/recovery_code"
    body["recovery_code"] = started["recovery_code"].lower()
    method = await me.verified(started["id"], body)
    assert method["confirmed"] is True


# ----------------------------------------------------------------------------- passkey


async def test_passkey_enrolment_then_login(env: Harness) -> None:
    client, enrolled, me = await signed_in(env)
    started = await me.started({"type": "passkey"})
    assert set(started) == {"id", "auth_session", "authn_params_public_key"}
    options = started["authn_params_public_key"]
    assert options["rp"]["id"] == RP_ID
    assert options["user"]["name"] == enrolled.email
    assert options["authenticatorSelection"]["userVerification"] == "required"
    assert options["excludeCredentials"] == []
    auth = authenticator(backup_eligible=True, backed_up=True)
    credential = auth.create(options)
    method = await me.verified(
        started["id"], {"auth_session": started["auth_session"], "authn_response": credential}
    )
    assert method["type"] == "passkey"
    assert method["usage"] == ["primary"]
    assert method["confirmed"] is True
    assert method["key_id"] == credential["id"]
    assert method["credential_device_type"] == "multi_device"
    assert method["credential_backed_up"] is True
    assert method["user_handle"] == options["user"]["id"]
    assert method["transports"] == ["hybrid", "internal"]
    assert method["aaguid"] == "7a1d3e5f-0000-0000-b0f0-000000000001"
    assert method["identity_user_id"] == enrolled.user.user_id.split("|")[1]
    assert isinstance(method["public_key"], str)

    # One store: the passkey signs the user in (native passkey login).
    login = await challenge(env, client)
    signed = auth.get(login["authn_params_public_key"])
    tokens = assert_tokens(await exchange(env, client, login["auth_session"], signed))
    _, claims = await env.decode(tokens["access_token"])
    assert claims["sub"] == enrolled.user.user_id

    # A second passkey shares the user's WebAuthn id and may not be the same credential again.
    again = await me.started({"type": "passkey"})
    second = again["authn_params_public_key"]
    assert second["user"]["id"] == options["user"]["id"]
    assert [c["id"] for c in second["excludeCredentials"]] == [credential["id"]]
    assert [m["type"] for m in await me.methods()] == ["totp", "recovery-code", "passkey"]


async def test_packed_attestation_and_the_registering_user_agent(env: Harness) -> None:
    _, _, me = await signed_in(env)
    started = await me.started({"type": "passkey"})
    credential = authenticator().create(started["authn_params_public_key"], fmt="packed")
    body = {"auth_session": started["auth_session"], "authn_response": credential}
    headers = {"Authorization": f"Bearer {me.token}", "User-Agent": "Firefox on Linux"}
    resp = await env.http.post(path(started["id"], verify=True), json=body, headers=headers)
    assert resp.status_code == 201, resp.text
    method = resp.json()
    assert method["credential_device_type"] == "single_device"
    assert method["user_agent"] == "Firefox on Linux"


# ----------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({}, "/type"),
        ({"type": "password"}, "/type"),
        ({"type": 3}, "/type"),
        ({"type": "totp", "extra": 1}, "/extra"),
        ({"type": "totp", "connection": "another-realm"}, "/connection"),
        ({"type": "totp", "identity_user_id": "someone-else"}, "/identity_user_id"),
        (
            {"type": "phone", "phone_number": PHONE, "preferred_authentication_method": "fax"},
            "/preferred_authentication_method",
        ),
    ],
)
async def test_bad_enrolments_name_their_field(
    env: Harness, body: dict[str, Any], pointer: str
) -> None:
    _, _, me = await signed_in(env)
    resp = await me.enrol(body)
    assert resp.status_code == 400, resp.text
    assert [e["pointer"] for e in resp.json()["validation_errors"]] == [pointer]


async def test_a_factor_the_tenant_has_off_cannot_be_enrolled(env: Harness) -> None:
    _, _, me = await signed_in(env)
    await env.tenant(enabled_factors={"otp", "recovery-code"})
    for kind in ("email", "phone", "push-notification"):
        resp = await me.enrol({"type": kind, "phone_number": PHONE})
        assert resp.status_code == 400, resp.text
        assert resp.json()["detail"] == f"The {kind} factor is not enabled"


async def test_identity_and_connection_may_name_the_caller(env: Harness) -> None:
    _, enrolled, me = await signed_in(env)
    body = {
        "type": "totp",
        "identity_user_id": enrolled.user.user_id.split("|")[1],
        "connection": "Username-Password-Authentication",
    }
    started = await me.started(body)
    assert started["id"].startswith("totp|dev_")

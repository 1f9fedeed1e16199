"""SMS and voice over a fake Twilio (real HTTP to uvicorn on 127.0.0.1): enrolment of the phone
factor as sms/voice siblings, E.164 normalisation, challenges, linked deletion, provider failures
and timeouts, the SMS send limit. Codes are read from what Twilio received."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from twofold.core.clock import FrozenClock

from .fake_twilio import SENDER, FakeTwilio, settings_for
from .oob_support import INVALID_BINDING, associate_oob, oob_grant, oob_settings
from .support import MFA_AUDIENCE, PASSWORD, Harness, assert_error, assert_tokens, wrong_code

pytestmark = pytest.mark.anyio
PHONE = "+1 (650) 253-0000"
E164 = "+16502530000"
FACTORS = {"otp", "sms", "voice", "recovery-code"}
SMS_ID = re.compile(r"^sms\|dev_([A-Za-z0-9]{16})$")


@pytest.fixture
async def services(tmp_path: Any, clock: FrozenClock, twilio: FakeTwilio) -> AsyncIterator[Any]:
    from twofold.app import create_services

    svc = await create_services(oob_settings(tmp_path, **settings_for(twilio)), clock=clock)
    try:
        await svc.admin.update_tenant(mfa_policy="always", enabled_factors=FACTORS)
        yield svc
    finally:
        await svc.close()


async def _enrol_phone(
    env: Harness, twilio: FakeTwilio, client: Any, channel: str = "sms"
) -> tuple[str, dict[str, Any]]:
    await env.user()
    mfa_token = await env.mfa_token(client)
    resp = await associate_oob(env, mfa_token, channel, phone_number=PHONE)
    assert resp.status_code == 200, resp.text
    return mfa_token, resp.json()


async def _enrolled_phone(env: Harness, twilio: FakeTwilio, client: Any) -> None:
    mfa_token, body = await _enrol_phone(env, twilio, client)
    assert_tokens(await oob_grant(env, client, mfa_token, body["oob_code"], twilio.last().code))


async def test_associate_sms_normalises_and_sends_through_twilio(env, twilio):
    client = await env.client()
    _, body = await _enrol_phone(env, twilio, client)

    assert set(body) == {
        "authenticator_type",
        "binding_method",
        "oob_channel",
        "oob_code",
        "recovery_codes",
    }
    assert body["oob_channel"] == "sms"
    assert body["binding_method"] == "prompt"
    sent = twilio.last("sms")
    assert sent.to == E164
    assert sent.form["From"] == SENDER
    assert "expires in 5 minutes" in sent.form["Body"]
    assert len(sent.code) == 6


async def test_phone_enrolment_makes_sms_and_voice_siblings(env, twilio):
    client = await env.client()
    mfa_token, body = await _enrol_phone(env, twilio, client)
    listed = (await env.list_authenticators(mfa_token)).json()
    phones = [a for a in listed if a["authenticator_type"] == "oob"]
    assert sorted(a["oob_channel"] for a in phones) == ["sms", "voice"]
    sms = next(a for a in phones if a["oob_channel"] == "sms")
    voice = next(a for a in phones if a["oob_channel"] == "voice")
    match = SMS_ID.match(sms["id"])
    assert match
    assert voice["id"] == f"voice|dev_{match.group(1)}"
    for a in phones:
        assert a["active"] is False
        assert a["type"] == "phone"
        assert a["name"] == "XXXXXXXX0000"
    assert E164 not in str(listed)

    assert_tokens(await oob_grant(env, client, mfa_token, body["oob_code"], twilio.last().code))
    listed = (await env.list_authenticators(await env.mfa_token(client))).json()
    assert all(a["active"] for a in listed)
    assert len(listed) == 3


async def test_voice_only_when_sms_is_off(env, twilio):
    await env.tenant(enabled_factors={"voice", "recovery-code"})
    client = await env.client()
    mfa_token, body = await _enrol_phone(env, twilio, client, "voice")
    assert body["oob_channel"] == "voice"
    call = twilio.last("voice")
    assert call.to == E164
    assert "<Say" in call.form["Twiml"]
    listed = (await env.list_authenticators(mfa_token)).json()
    assert [a["oob_channel"] for a in listed if a["authenticator_type"] == "oob"] == ["voice"]
    assert_tokens(await oob_grant(env, client, mfa_token, body["oob_code"], call.code))


@pytest.mark.parametrize(
    "phone",
    ["+15555550100", "6502530000", "12345", "+1 650 ABC 0000", "+" + "1" * 40, "++16502530000"],
)
async def test_invalid_phone_numbers(env, twilio, phone):
    client = await env.client()
    await env.user()
    mfa_token = await env.mfa_token(client)
    resp = await associate_oob(env, mfa_token, "sms", phone_number=phone)
    assert_error(resp, 400, "invalid_request")
    assert phone not in resp.text
    assert not twilio.received


async def test_missing_phone_number(env, twilio):
    client = await env.client()
    await env.user()
    mfa_token = await env.mfa_token(client)
    resp = await associate_oob(env, mfa_token, "sms")
    assert_error(resp, 400, "invalid_request", "Missing required parameter: phone_number")


@pytest.mark.parametrize("phone", ["+44 20 7946 0000", "0044 20 7946 0000", "+49 151 12345678"])
async def test_international_formats(env, twilio, phone):
    client = await env.client()
    await env.user()
    mfa_token = await env.mfa_token(client)
    resp = await associate_oob(env, mfa_token, "sms", phone_number=phone)
    assert resp.status_code == 200, resp.text
    assert twilio.last().to == "+" + re.sub(r"\D", "", phone).removeprefix("00")


async def test_challenge_sms_and_voice(env, twilio):
    client = await env.client()
    await _enrolled_phone(env, twilio, client)
    for channel in ("sms", "voice"):
        mfa_token = await env.mfa_token(client)
        resp = await env.challenge(client, mfa_token, challenge_type="oob", oob_channel=channel)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["binding_method"] == "prompt"
        received = twilio.last(channel)
        wrong = await oob_grant(env, client, mfa_token, body["oob_code"], wrong_code(received.code))
        assert_error(wrong, 403, "invalid_grant", INVALID_BINDING)
        assert_tokens(await oob_grant(env, client, mfa_token, body["oob_code"], received.code))


async def test_deleting_voice_removes_its_sms_sibling(env, twilio):
    client = await env.client()
    await _enrolled_phone(env, twilio, client)
    mfa_token = await env.mfa_token(
        client, audience=MFA_AUDIENCE, scope="read:authenticators remove:authenticators"
    )
    resp = await env.challenge(client, mfa_token, challenge_type="oob")
    token = assert_tokens(
        await oob_grant(env, client, mfa_token, resp.json()["oob_code"], twilio.last().code)
    )["access_token"]
    listed = (await env.list_authenticators(token)).json()
    voice = next(a for a in listed if a.get("oob_channel") == "voice")
    assert (await env.delete_authenticator(token, voice["id"])).status_code == 204
    assert not [a for a in (await env.list_authenticators(token)).json() if a.get("oob_channel")]


async def test_twilio_error_is_a_502_and_leaves_no_enrolment(env, twilio, caplog):
    twilio.mode = "error"
    client = await env.client()
    await env.user()
    mfa_token = await env.mfa_token(client)
    resp = await associate_oob(env, mfa_token, "sms", phone_number=PHONE)
    assert_error(resp, 502, "bad_gateway", "The message could not be delivered. Try again later.")
    assert (await env.list_authenticators(mfa_token)).json() == []
    [event] = await env.services.deps.storage.audit.query(types=["gd_send_sms_failure"])
    assert "21211" in event.details["reason"]
    assert E164 not in str(event.details)
    assert E164 not in caplog.text
    assert "6502530000" not in caplog.text


async def test_twilio_down_on_challenge_is_a_502(env, twilio):
    client = await env.client()
    await _enrolled_phone(env, twilio, client)
    twilio.mode = "down"
    resp = await env.challenge(client, await env.mfa_token(client), challenge_type="oob")
    assert_error(resp, 502, "bad_gateway")


async def test_twilio_hanging_times_out(env, twilio):
    client = await env.client()
    await _enrolled_phone(env, twilio, client)
    twilio.mode = "hang"
    started = time.monotonic()
    resp = await env.challenge(client, await env.mfa_token(client), challenge_type="oob")
    assert_error(resp, 502, "bad_gateway")
    assert time.monotonic() - started < 4
    [event] = await env.services.deps.storage.audit.query(types=["gd_send_sms_failure"])
    assert "Timeout" in event.details["reason"]


async def test_sms_send_limit_ten_then_one_an_hour(env, twilio, clock):
    client = await env.client()
    await _enrolled_phone(env, twilio, client)  # 1 SMS
    mfa_token = await env.mfa_token(client)
    for _ in range(9):
        resp = await env.challenge(client, mfa_token, challenge_type="oob", oob_channel="voice")
        assert resp.status_code == 200, resp.text
    limited = await env.challenge(client, mfa_token, challenge_type="oob")
    assert_error(limited, 429, "too_many_requests", "Too many messages sent. Try again later.")
    assert limited.headers["x-ratelimit-limit"] == "10"
    assert limited.headers["x-ratelimit-remaining"] == "0"
    assert "x-ratelimit-reset" in limited.headers
    clock.advance(3600)
    mfa_token = await env.mfa_token(client)
    assert (await env.challenge(client, mfa_token, challenge_type="oob")).status_code == 200
    again = await env.challenge(client, mfa_token, challenge_type="oob")
    assert_error(again, 429, "too_many_requests")


async def test_sms_limit_is_per_user(env, twilio):
    client = await env.client()
    await _enrolled_phone(env, twilio, client)
    mfa_token = await env.mfa_token(client)
    for _ in range(9):
        assert (await env.challenge(client, mfa_token, challenge_type="oob")).status_code == 200
    await env.user("b@example.com", PASSWORD)
    other = await env.mfa_token(client, username="b@example.com")
    resp = await associate_oob(env, other, "sms", phone_number="+44 20 7946 0000")
    assert resp.status_code == 200, resp.text

"""The email factor end to end over a real SMTP server (aiosmtpd on 127.0.0.1): associate,
authorization_pending / slow_down, binding codes, challenge, the implicit verified-email
authenticator, limits and failures. Codes are read from the received emails."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from twofold.core.clock import FrozenClock

from .oob_support import (
    EMAIL_ID_RE,
    INVALID_BINDING,
    OOB_EXPIRED,
    OOB_MISMATCH,
    PENDING,
    SLOW_DOWN,
    SmtpSink,
    associate_oob,
    body_of,
    oob_grant,
    oob_settings,
    state_rows,
)
from .support import (
    EMAIL,
    MALFORMED,
    Harness,
    assert_error,
    assert_no_store,
    assert_tokens,
    wrong_code,
)

pytestmark = pytest.mark.anyio
FROM = "Twofold <no-reply@twofold.test>"
FACTORS = {"otp", "email", "recovery-code"}


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


async def _unverified_user(env: Harness, email: str = EMAIL) -> Any:
    return await env.admin.create_user(email, "correct horse", email_verified=False)


async def _enrol_email(env: Harness, smtp: SmtpSink, client: Any, address: str = "ada@mail.test"):
    await _unverified_user(env)
    mfa_token = await env.mfa_token(client)
    resp = await associate_oob(env, mfa_token, "email", email=address)
    assert resp.status_code == 200, resp.text
    return mfa_token, resp.json()


# ------------------------------------------------------------------------------- enrolment


async def test_associate_email_sends_a_code_and_answers_spec_shape(env, smtp):
    client = await env.client()
    _, body = await _enrol_email(env, smtp, client, "Ada@Mail.Test")

    assert set(body) == {
        "authenticator_type",
        "binding_method",
        "oob_channel",
        "oob_code",
        "recovery_codes",
    }
    assert body["authenticator_type"] == "oob"
    assert body["binding_method"] == "prompt"
    assert body["oob_channel"] == "email"
    assert isinstance(body["oob_code"], str)
    assert len(body["oob_code"]) >= 32
    [message] = smtp.messages_to("ada@mail.test")
    assert message["From"] == FROM
    assert "verification" in message["Subject"].lower() or "confirm" in message["Subject"].lower()
    code = smtp.last_code("ada@mail.test")
    assert len(code) == 6


async def test_full_enrolment_pending_slow_down_wrong_then_right(env, smtp, clock):
    client = await env.client()
    mfa_token, body = await _enrol_email(env, smtp, client)
    oob_code = body["oob_code"]
    code = smtp.last_code("ada@mail.test")

    pending = await oob_grant(env, client, mfa_token, oob_code)
    assert_error(pending, 400, "authorization_pending", PENDING)
    assert_no_store(pending)
    assert_error(await oob_grant(env, client, mfa_token, oob_code), 400, "slow_down", SLOW_DOWN)
    clock.advance(5)
    assert_error(await oob_grant(env, client, mfa_token, oob_code), 400, "authorization_pending")

    wrong = await oob_grant(env, client, mfa_token, oob_code, wrong_code(code))
    assert_error(wrong, 403, "invalid_grant", INVALID_BINDING)

    tokens = assert_tokens(await oob_grant(env, client, mfa_token, oob_code, code))
    _, claims = await env.decode(tokens["access_token"])
    assert claims["amr"] == ["mfa"]

    # Spent: neither the oob_code nor the mfa_token works again.
    again = await oob_grant(env, client, mfa_token, oob_code, code)
    assert_error(again, 403, "invalid_grant", MALFORMED)


async def test_enrolled_email_is_listed_active_with_masked_name(env, smtp):
    client = await env.client()
    mfa_token, body = await _enrol_email(env, smtp, client, "ada.lovelace@example.com")
    listed = (await env.list_authenticators(mfa_token)).json()
    [pending] = [a for a in listed if a["authenticator_type"] == "oob"]
    assert pending["active"] is False
    assert pending["oob_channel"] == "email"
    assert pending["name"] == "****@exam*******"
    assert pending["type"] == "email"
    assert EMAIL_ID_RE.match(pending["id"])
    code = smtp.last_code("ada.lovelace@example.com")
    assert_tokens(await oob_grant(env, client, mfa_token, body["oob_code"], code))

    second = await env.mfa_token(client)
    listed = (await env.list_authenticators(second)).json()
    by_type = {a["authenticator_type"]: a for a in listed}
    assert by_type["oob"]["active"] is True
    assert by_type["recovery-code"]["active"] is True
    assert "ada.lovelace" not in str(listed)


async def test_code_expires_after_five_minutes(env, smtp, clock):
    client = await env.client()
    mfa_token, body = await _enrol_email(env, smtp, client)
    code = smtp.last_code("ada@mail.test")
    clock.advance(301)
    resp = await oob_grant(env, client, mfa_token, body["oob_code"], code)
    assert_error(resp, 403, "expired_token", OOB_EXPIRED)


async def test_code_bound_to_its_mfa_token(env, smtp):
    client = await env.client()
    _, body = await _enrol_email(env, smtp, client)
    code = smtp.last_code("ada@mail.test")
    other = await env.mfa_token(client)
    resp = await oob_grant(env, client, other, body["oob_code"], code)
    assert_error(resp, 400, "invalid_request", OOB_MISMATCH)


async def test_unknown_oob_code(env, smtp):
    client = await env.client()
    mfa_token, _ = await _enrol_email(env, smtp, client)
    resp = await oob_grant(env, client, mfa_token, "x" * 43, "123456")
    assert_error(resp, 403, "invalid_grant")


async def test_missing_oob_code(env, smtp):
    client = await env.client()
    mfa_token, _ = await _enrol_email(env, smtp, client)
    resp = await env.token(
        {"grant_type": "http://auth0.com/oauth/grant-type/mfa-oob", "mfa_token": mfa_token}, client
    )
    assert_error(resp, 400, "invalid_request", "Missing required parameter: oob_code")


async def test_wrong_binding_codes_draw_from_the_failure_bucket(env, smtp):
    client = await env.client()
    mfa_token, body = await _enrol_email(env, smtp, client)
    code = smtp.last_code("ada@mail.test")
    for _ in range(10):
        resp = await oob_grant(env, client, mfa_token, body["oob_code"], wrong_code(code))
        assert_error(resp, 403, "invalid_grant", INVALID_BINDING)
    locked = await oob_grant(env, client, mfa_token, body["oob_code"], code)
    assert_error(locked, 429, "too_many_attempts")


async def test_good_codes_cost_nothing(env, smtp, clock):
    client = await env.client()
    await _unverified_user(env)
    for _ in range(12):
        mfa_token = await env.mfa_token(client)
        resp = await associate_oob(env, mfa_token, "email", email="ada@mail.test")
        if resp.status_code in (400, 403):  # enrolled already, or at the cap: challenge instead
            resp = await env.challenge(client, mfa_token, challenge_type="oob")
        assert resp.status_code == 200, resp.text
        code = smtp.last_code("ada@mail.test")
        assert_tokens(await oob_grant(env, client, mfa_token, resp.json()["oob_code"], code))
        clock.advance(61)


async def test_code_and_oob_code_not_stored_in_clear(env, smtp, tmp_path):
    client = await env.client()
    _, body = await _enrol_email(env, smtp, client)
    code = smtp.last_code("ada@mail.test")
    rows = state_rows(Path(tmp_path) / "t.db")
    oob_rows = [(k, v) for k, v in rows if k.startswith("oob:")]
    assert oob_rows
    for key, value in rows:
        assert body["oob_code"] not in key
        assert body["oob_code"] not in value
    for _, value in oob_rows:
        assert code not in value
        assert "ada@mail.test" not in value


async def test_invalid_email_address(env, smtp):
    client = await env.client()
    await _unverified_user(env)
    mfa_token = await env.mfa_token(client)
    for bad in ["not-an-email", "a@b", "x@@example.com", 42, "a b@example.com"]:
        resp = await associate_oob(env, mfa_token, "email", email=bad)
        assert_error(resp, 400, "invalid_request")
    assert not smtp.received


async def test_email_factor_disabled(env, smtp):
    await env.tenant(enabled_factors={"otp", "recovery-code"})
    client = await env.client()
    await _unverified_user(env)
    mfa_token = await env.mfa_token(client)
    resp = await associate_oob(env, mfa_token, "email", email="ada@mail.test")
    assert_error(resp, 400, "invalid_request", "The email factor is not enabled")


async def test_unknown_oob_channel(env, smtp):
    client = await env.client()
    await _unverified_user(env)
    mfa_token = await env.mfa_token(client)
    resp = await associate_oob(env, mfa_token, "pigeon")
    assert_error(resp, 400, "invalid_request")
    resp = await env.associate(mfa_token, {"authenticator_types": ["oob"]})
    assert_error(resp, 400, "invalid_request", "Missing required parameter: oob_channels")


async def test_oob_channels_as_a_bare_string(env, smtp):
    client = await env.client()
    await _unverified_user(env)
    mfa_token = await env.mfa_token(client)
    body = {"authenticator_types": ["oob"], "oob_channels": "email", "email": "ada@mail.test"}
    resp = await env.associate(mfa_token, body)
    assert resp.status_code == 200, resp.text
    assert resp.json()["oob_channel"] == "email"


# ------------------------------------------------------------------------- implicit email


async def test_verified_email_is_an_implicit_active_authenticator(env, smtp):
    client = await env.client()
    await env.user()  # email_verified=True
    mfa_token = await env.mfa_token(client)
    listed = (await env.list_authenticators(mfa_token)).json()
    [implicit] = listed
    assert EMAIL_ID_RE.match(implicit["id"])
    assert implicit["active"] is True
    assert implicit["oob_channel"] == "email"
    assert implicit["name"] == "****@exam*******"
    # Stable across calls.
    assert (await env.list_authenticators(mfa_token)).json()[0]["id"] == implicit["id"]


async def test_no_implicit_email_when_the_factor_is_off_or_unverified(env, smtp):
    client = await env.client()
    await env.user()
    await _unverified_user(env, "other@example.com")
    assert (
        await env.list_authenticators(await env.mfa_token(client, username="other@example.com"))
    ).json() == []
    await env.tenant(enabled_factors={"otp", "recovery-code"})
    assert (await env.list_authenticators(await env.mfa_token(client))).json() == []


async def test_challenge_the_implicit_email(env, smtp):
    client = await env.client()
    await env.user()
    mfa_token = await env.mfa_token(client)
    required = await env.mfa_required(client)
    assert {"type": "email"} in required["mfa_requirements"]["challenge"]
    [implicit] = (await env.list_authenticators(mfa_token)).json()

    resp = await env.challenge(
        client, mfa_token, challenge_type="oob", authenticator_id=implicit["id"]
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert set(body) == {"challenge_type", "oob_code", "binding_method"}
    assert body["challenge_type"] == "oob"
    assert body["binding_method"] == "prompt"
    message = smtp.messages_to(EMAIL)[-1]
    assert "expires in 5 minutes" in body_of(message)
    code = smtp.last_code(EMAIL)
    assert_tokens(await oob_grant(env, client, mfa_token, body["oob_code"], code))


async def test_email_only_user_may_still_enrol_another_factor(env, smtp):
    # The lenient mode (email does not count): the strict default is covered in tests/security.
    await env.tenant(email_counts_as_factor=False)
    client = await env.client()
    await env.user()
    mfa_token = await env.mfa_token(client)
    resp = await env.associate(mfa_token)
    assert resp.status_code == 200, resp.text
    assert resp.json()["authenticator_type"] == "otp"


async def test_implicit_email_cannot_be_deleted(env, smtp):
    # Enrols OTP with the mfa_token beside the verified email: the lenient mode.
    await env.tenant(email_counts_as_factor=False)
    client = await env.client()
    enrolled = await env.enrolled(client)
    token = await env.mfa_api_token(client, enrolled, "remove:authenticators read:authenticators")
    listed = (await env.list_authenticators(token["access_token"])).json()
    [implicit] = [a for a in listed if a["authenticator_type"] == "oob"]
    resp = await env.delete_authenticator(token["access_token"], implicit["id"])
    assert_error(resp, 403, "access_denied")


async def test_mfa_api_token_can_enrol_and_confirm_email(env, smtp):
    # Enrols OTP with the mfa_token beside the verified email: the lenient mode.
    await env.tenant(email_counts_as_factor=False)
    client = await env.client()
    enrolled = await env.enrolled(client)
    token = (await env.mfa_api_token(client, enrolled, "enroll read:authenticators"))[
        "access_token"
    ]
    resp = await associate_oob(env, token, "email", email="second@mail.test")
    assert resp.status_code == 200, resp.text
    oob_code = resp.json()["oob_code"]
    assert "recovery_codes" not in resp.json()
    code = smtp.last_code("second@mail.test")
    assert_tokens(await oob_grant(env, client, token, oob_code, code))
    # The access token does not keep the spent code alive.
    again = await oob_grant(env, client, token, oob_code, code)
    assert_error(again, 403, "invalid_grant")
    listed = (await env.list_authenticators(token)).json()
    assert any(a.get("name") == "****@mail*****" and a["active"] for a in listed)


# ------------------------------------------------------------------------ limits, failures


async def test_email_send_limit(env, smtp, clock):
    client = await env.client()
    await env.user()
    mfa_token = await env.mfa_token(client)
    for _ in range(20):
        resp = await env.challenge(client, mfa_token, challenge_type="oob")
        assert resp.status_code == 200, resp.text
    limited = await env.challenge(client, mfa_token, challenge_type="oob")
    assert_error(limited, 429, "too_many_requests")
    assert limited.headers["x-ratelimit-limit"] == "20"
    assert limited.headers["x-ratelimit-remaining"] == "0"
    assert int(limited.headers["x-ratelimit-reset"]) > clock.now()
    assert len(smtp.messages_to(EMAIL)) == 20
    clock.advance(60)
    assert (await env.challenge(client, mfa_token, challenge_type="oob")).status_code == 200


async def test_smtp_server_down_is_a_502_with_an_audit_entry(env, smtp, caplog):
    client = await env.client()
    await env.user()
    smtp.stop()
    mfa_token = await env.mfa_token(client)
    resp = await env.challenge(client, mfa_token, challenge_type="oob")
    assert_error(resp, 502, "bad_gateway")
    assert EMAIL not in resp.text
    events = await env.services.deps.storage.audit.query(types=["gd_send_email_failure"])
    assert len(events) == 1
    assert EMAIL not in str(events[0].details)
    assert EMAIL not in caplog.text


# ---------------------------------------------------------- rows shared by MFA grants


async def test_mfa_oob_grant_common_error_rows(env, smtp, clock):
    from .support import EXPIRED, GRANT_OOB, OTHER_CLIENT

    client = await env.client()
    mfa_token, body = await _enrol_email(env, smtp, client)
    code = smtp.last_code("ada@mail.test")
    oob_code = body["oob_code"]

    resp = await oob_grant(env, client, "not-a-token", oob_code, code)
    assert_error(resp, 403, "invalid_grant", MALFORMED)

    other = await env.client()
    resp = await oob_grant(env, other, mfa_token, oob_code, code)
    assert_error(resp, 400, "invalid_request", OTHER_CLIENT)

    no_oob = await env.client(grant_types=["password"])
    resp = await oob_grant(env, no_oob, mfa_token, oob_code, code)
    assert_error(
        resp, 403, "unauthorized_client", f"Grant type '{GRANT_OOB}' not allowed for the client."
    )

    bad_secret = type(client)(client.client_id, "wrong", client.auth_method)
    resp = await oob_grant(env, bad_secret, mfa_token, oob_code, code)
    assert_error(resp, 401, "invalid_client")

    clock.advance(601)
    resp = await oob_grant(env, client, mfa_token, oob_code, code)
    assert_error(resp, 403, "expired_token", EXPIRED)


async def test_discovery_advertises_the_oob_grant(env, smtp):
    doc = (await env.http.get("/.well-known/openid-configuration")).json()
    assert "http://auth0.com/oauth/grant-type/mfa-oob" in doc["grant_types_supported"]


async def test_concurrent_grants_with_the_right_code_succeed_once(env, smtp):
    import asyncio

    client = await env.client()
    mfa_token, body = await _enrol_email(env, smtp, client)
    code = smtp.last_code("ada@mail.test")
    results = await asyncio.gather(
        *(oob_grant(env, client, mfa_token, body["oob_code"], code) for _ in range(5))
    )
    assert sorted(r.status_code for r in results) == [200, 403, 403, 403, 403]


async def test_a_crash_inside_the_grant_leaves_no_step_done(env, smtp, monkeypatch):
    # Spending the oob_code, confirming the enrolment and spending the mfa_token are one unit:
    # a failure at the last step must leave the first two undone, so the user can try again.
    from twofold.core.grants import mfa_common

    client = await env.client()
    mfa_token, body = await _enrol_email(env, smtp, client)
    code = smtp.last_code("ada@mail.test")

    async def crash(deps, token, record):
        raise RuntimeError("the process died here")

    monkeypatch.setattr(mfa_common, "spend", crash)
    failed = await oob_grant(env, client, mfa_token, body["oob_code"], code)
    assert failed.status_code == 500
    listed = (await env.list_authenticators(mfa_token)).json()
    [pending] = [a for a in listed if a["authenticator_type"] == "oob"]
    assert pending["active"] is False

    monkeypatch.undo()
    tokens = assert_tokens(await oob_grant(env, client, mfa_token, body["oob_code"], code))
    _, claims = await env.decode(tokens["access_token"])
    assert claims["amr"] == ["mfa"]
    listed = (await env.list_authenticators(await env.mfa_token(client))).json()
    assert [a["active"] for a in listed if a["authenticator_type"] == "oob"] == [True]

"""The audit trail records each MFA event with Auth0's event type names, user, client and IP,
and never a secret."""

from __future__ import annotations

import pytest

from .support import INVALID_OTP, assert_error, assert_tokens

pytestmark = pytest.mark.anyio


async def _types(env, user_id):
    events = await env.services.deps.storage.audit.query(user_id=user_id, limit=1000)
    return [e.type for e in reversed(events)], events


async def test_enrolment_login_failure_recovery_and_unenroll_are_recorded(env):
    client = await env.client()
    enrolled = await env.enrolled(client)
    user_id = enrolled.user.user_id

    mfa_token = await env.mfa_token(client)
    wrong = await env.otp_grant(client, mfa_token, "000000")
    if wrong.status_code == 200:  # the one-in-a-million chance that 000000 is the code
        pytest.skip("000000 happened to be valid")
    assert_error(wrong, 403, "invalid_grant", INVALID_OTP)
    assert_tokens(await env.recovery_grant(client, mfa_token, enrolled.recovery_code))

    types, events = await _types(env, user_id)
    assert types == [
        "mfar",
        "gd_start_enroll",
        "gd_enrollment_complete",
        "gd_auth_succeed",
        "mfar",
        "gd_auth_failed",
        "gd_recovery_succeed",
    ]
    assert all(e.client_id == client.client_id for e in events)
    assert all(e.ip for e in events)
    dumped = repr(events)
    for secret in (enrolled.secret, enrolled.recovery_code, enrolled.password, mfa_token):
        assert secret not in dumped


async def test_wrong_password_and_unknown_user_are_recorded(env):
    client = await env.client()
    user = await env.user()
    await env.password(client, password="not the password")
    await env.password(client, username="nobody@example.com")

    events = await env.services.deps.storage.audit.query(types=["fp", "fu"])
    assert [(e.type, e.user_id) for e in events] == [("fu", None), ("fp", user.user_id)]
    assert "not the password" not in repr(events)

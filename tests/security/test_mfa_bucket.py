"""The MFA failure bucket driven to empty and back through the recovery-code grant, and its
independence from the password buckets.

The OTP grant's empty-and-back cycle is in tests/web/test_token_mfa_otp.py.
"""

from __future__ import annotations

import pytest

from twofold.core.attempts import PASSWORD_PER_IP_USER
from web.support import (
    INVALID_RECOVERY,
    MFA_REQUIRED,
    WRONG_CREDENTIALS,
    assert_error,
    assert_no_store,
    assert_tokens,
)

pytestmark = pytest.mark.anyio

CAPACITY = 10
REFILL = 360.0
WRONG = "A" * 24


async def _fail_recovery(env, client, mfa_token, n):
    for _ in range(n):
        assert_error(
            await env.recovery_grant(client, mfa_token, WRONG),
            403,
            "invalid_grant",
            INVALID_RECOVERY,
        )


async def test_recovery_code_bucket_empties_and_refills(env):
    client = await env.client()
    enrolled = await env.enrolled(client)
    mfa_token = await env.mfa_token(client)
    await _fail_recovery(env, client, mfa_token, CAPACITY)

    # Empty: the right recovery code is refused before it is checked, and is not spent.
    resp = await env.recovery_grant(client, mfa_token, enrolled.recovery_code)
    assert_error(resp, 429, "too_many_attempts")
    assert_no_store(resp)
    env.clock.advance(REFILL - 1)
    assert_error(
        await env.recovery_grant(client, mfa_token, enrolled.recovery_code),
        429,
        "too_many_attempts",
    )

    # One attempt back after six minutes: spent by a failure, empty again.
    env.clock.advance(1)
    await _fail_recovery(env, client, mfa_token, 1)
    assert_error(
        await env.recovery_grant(client, mfa_token, enrolled.recovery_code),
        429,
        "too_many_attempts",
    )

    # Refilled again: the recovery code was never spent and works (a new mfa_token: the first
    # one has expired after ten minutes).
    env.clock.advance(REFILL)
    mfa_token = await env.mfa_token(client)
    body = assert_tokens(await env.recovery_grant(client, mfa_token, enrolled.recovery_code))
    assert body["recovery_code"] != enrolled.recovery_code


async def test_a_full_hour_refills_the_whole_bucket(env):
    client = await env.client()
    enrolled = await env.enrolled(client)
    mfa_token = await env.mfa_token(client)
    await _fail_recovery(env, client, mfa_token, CAPACITY)

    env.clock.advance(CAPACITY * REFILL)
    mfa_token = await env.mfa_token(client)
    await _fail_recovery(env, client, mfa_token, CAPACITY)
    assert_error(
        await env.otp_grant(client, mfa_token, env.code(enrolled.secret)), 429, "too_many_attempts"
    )


async def test_mfa_lockout_does_not_block_the_password_step(env):
    client = await env.client()
    enrolled = await env.enrolled(client)
    await _fail_recovery(env, client, await env.mfa_token(client), CAPACITY)

    # Password still answers mfa_required; only the second factor is locked.
    resp = await env.password(client, enrolled.email, enrolled.password)
    assert_error(resp, 403, "mfa_required", MFA_REQUIRED)


async def test_password_lockout_does_not_touch_the_mfa_bucket(env):
    client = await env.client()
    enrolled = await env.enrolled(client)
    mfa_token = await env.mfa_token(client)
    for _ in range(PASSWORD_PER_IP_USER.capacity):
        assert_error(
            await env.password(client, enrolled.email, "wrong"),
            403,
            "invalid_grant",
            WRONG_CREDENTIALS,
        )
    assert_error(
        await env.password(client, enrolled.email, enrolled.password), 429, "too_many_attempts"
    )

    # The mfa_token obtained before still completes MFA: the buckets are separate.
    assert_tokens(await env.otp_grant(client, mfa_token, env.code(enrolled.secret)))

"""The MFA grants' failed-attempt bucket on PostgreSQL, where it lives in the grant's own
transaction: a burst of wrong codes gets at most `capacity` of them answered (the bucket's row is
locked, not written, before the code is acted on), and good or replayed codes cost nothing."""

from __future__ import annotations

import pytest

from .support import INVALID_OTP, INVALID_RECOVERY, assert_error, assert_tokens, wrong_code
from .test_management_postgres import pg_url, services  # noqa: F401  (the PostgreSQL fixtures)
from .test_token_mfa_otp import _concurrently

pytestmark = pytest.mark.anyio


async def _left(env, user_id: str) -> int:
    from twofold.core.grants import mfa_common

    left, _ = await mfa_common.attempts(env.services.deps).remaining(user_id)
    return left


@pytest.mark.parametrize("grant", ["otp", "recovery"])
async def test_a_burst_of_wrong_codes_gets_at_most_capacity_answered(env, grant):
    client = await env.client()
    enrolled = await env.enrolled(client)
    capacity = env.services.deps.policy.failed_attempts_capacity
    mfa_token = await env.mfa_token(client)
    if grant == "otp":
        bad = wrong_code(env.code(enrolled.secret), env.code(enrolled.secret, -1))
        calls = [lambda: env.otp_grant(client, mfa_token, bad)] * (capacity + 6)
    else:
        calls = [lambda: env.recovery_grant(client, mfa_token, "X" * 24)] * (capacity + 6)

    results = await _concurrently(*calls)

    statuses = sorted(r.status_code for r in results)
    assert statuses == [403] * capacity + [429] * 6, [r.text for r in results]
    for r in results:
        if r.status_code == 403:
            assert_error(
                r, 403, "invalid_grant", INVALID_OTP if grant == "otp" else INVALID_RECOVERY
            )
    assert await _left(env, enrolled.user.user_id) == 0


async def test_good_and_replayed_codes_cost_nothing(env):
    client = await env.client()
    enrolled = await env.enrolled(client)
    user_id = enrolled.user.user_id
    capacity = env.services.deps.policy.failed_attempts_capacity
    code = env.code(enrolled.secret)
    bad = wrong_code(code, env.code(enrolled.secret, -1))
    for _ in range(capacity - 1):
        assert_error(
            await env.otp_grant(client, await env.mfa_token(client), bad),
            403,
            "invalid_grant",
            INVALID_OTP,
        )
    assert await _left(env, user_id) == 1

    assert_tokens(await env.otp_grant(client, await env.mfa_token(client), code))
    replayed = await env.otp_grant(client, await env.mfa_token(client), code)
    assert_error(replayed, 403, "invalid_grant", INVALID_OTP)
    assert await _left(env, user_id) == 1

    assert_error(
        await env.otp_grant(client, await env.mfa_token(client), bad),
        403,
        "invalid_grant",
        INVALID_OTP,
    )
    assert_error(
        await env.otp_grant(client, await env.mfa_token(client), bad), 429, "too_many_attempts"
    )

"""What one user can cost: authenticators held, associates made, and the price of a refused
grant.

With an MFA-API token a user (or whoever holds the token) could associate and confirm TOTPs in
a loop; every later TOTP grant then decrypted and checked every secret before taking an attempt,
so refused (429) requests grew expensive. Associates left state behind without limit.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from twofold.core import associated_data
from twofold.core.factors import totp_codes
from twofold.core.models import Authenticator
from web.support import assert_error, assert_tokens, wrong_code

pytestmark = pytest.mark.anyio

TOO_MANY_AUTHENTICATORS = "The user already has the most authenticators of this kind allowed"
TOO_MANY_ASSOCIATES = "Too many enrollment requests. Try again later."


def _policy(env: Any, **changes: Any) -> None:
    deps = env.services.deps
    deps.policy = dataclasses.replace(deps.policy, **changes)


async def test_active_totps_per_user_are_capped(env):
    _policy(env, max_authenticators_per_kind=3)
    client = await env.client()
    enrolled = await env.enrolled(client)
    access = (await env.mfa_api_token(client, enrolled, "enroll"))["access_token"]
    for _ in range(2):  # the first TOTP is one: two more make three
        assoc = await env.associate_otp(access)
        assert_tokens(await env.otp_grant(client, access, env.code(assoc["secret"])))
        env.next_step()

    refused = await env.associate(access)
    assert_error(refused, 400, "invalid_request", TOO_MANY_AUTHENTICATORS)
    # Nothing was started: the list holds the three active TOTPs and no pending one.
    listing = await env.list_authenticators(
        (await env.mfa_api_token(client, enrolled, "read:authenticators"))["access_token"]
    )
    totps = [a for a in listing.json() if a["authenticator_type"] == "otp"]
    assert [a["active"] for a in totps] == [True, True, True]


async def test_associate_is_rate_limited_per_user(env):
    _policy(env, associate_capacity=3, associate_refill_seconds=60.0, associate_per_token=100)
    client = await env.client()
    await env.user()
    for _ in range(3):
        assert (await env.associate(await env.mfa_token(client))).status_code == 200
    refused = await env.associate(await env.mfa_token(client))
    assert_error(refused, 429, "too_many_requests", TOO_MANY_ASSOCIATES)
    assert int(refused.headers["Retry-After"]) >= 1
    env.clock.advance(61)
    assert (await env.associate(await env.mfa_token(client))).status_code == 200


async def test_associate_is_rate_limited_per_mfa_token(env):
    _policy(env, associate_capacity=100, associate_per_token=4)
    client = await env.client()
    await env.user()
    mfa_token = await env.mfa_token(client)
    for _ in range(4):
        assert (await env.associate(mfa_token)).status_code == 200
    assert_error(await env.associate(mfa_token), 429, "too_many_requests", TOO_MANY_ASSOCIATES)
    # Another mfa_token of the same user still has its own allowance.
    assert (await env.associate(await env.mfa_token(client))).status_code == 200


async def test_a_refused_grant_opens_no_secret_however_many_the_user_holds(env, monkeypatch):
    client = await env.client()
    enrolled = await env.enrolled(client)
    deps = env.services.deps
    # Many TOTPs put in directly (past the cap that enrolment now enforces).
    for i in range(40):
        extra_id = f"totp|dev_extra{i:011d}"
        await deps.storage.authenticators.add(
            Authenticator(
                id=extra_id,
                user_id=enrolled.user.user_id,
                kind="totp",
                active=True,
                created_at=env.clock.now(),
                secret_enc=deps.keyring.encrypt(
                    totp_codes.new_secret().encode(), associated_data.otp_secret(extra_id)
                ),
            )
        )
    opened: list[str] = []
    decrypt = deps.keyring.decrypt

    def counting(envelope: str, aad: str) -> bytes:
        opened.append(aad)
        return decrypt(envelope, aad)

    monkeypatch.setattr(deps.keyring, "decrypt", counting)
    code = env.code(enrolled.secret)
    mfa_token = await env.mfa_token(client)
    for _ in range(deps.policy.failed_attempts_capacity):
        wrong = await env.otp_grant(client, mfa_token, wrong_code(code))
        assert_error(wrong, 403, "invalid_grant")
    opened.clear()
    refused = await env.otp_grant(client, mfa_token, code)
    assert_error(refused, 429, "too_many_attempts")
    assert opened == []

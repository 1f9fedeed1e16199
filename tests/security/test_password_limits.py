"""Password attempt limits (spec §11 "same-user login attempts", issue 5 §1).

Two token buckets are taken before the password is checked: per user+IP (20, then one every 6 s
= 10 a minute) and per user across all addresses (50, then one a minute). Only failures spend
them; a 429 `too_many_attempts` comes before any hashing. `auth0-forwarded-for` names the end
user's address only for clients listed in TWOFOLD_TRUSTED_FORWARDING_CLIENTS.
"""

from __future__ import annotations

import anyio
import pytest

from twofold.core.attempts import PASSWORD_PER_IP_USER, PASSWORD_PER_USER
from web.support import (
    EMAIL,
    MFA_REQUIRED,
    PASSWORD,
    WRONG_CREDENTIALS,
    assert_error,
    assert_no_store,
)

pytestmark = pytest.mark.anyio

PER_IP = PASSWORD_PER_IP_USER.capacity  # 20
IP_REFILL = PASSWORD_PER_IP_USER.refill_seconds  # 6 s
PER_USER = PASSWORD_PER_USER.capacity  # 50
USER_REFILL = PASSWORD_PER_USER.refill_seconds  # 60 s


def test_limits_are_the_specs() -> None:
    # 20 per IP+user, then 10 a minute (spec §11, Auth0's rate-limit table).
    assert (PER_IP, 60 / IP_REFILL) == (20, 10)
    assert PER_USER > PER_IP


async def _login(env, client, password=PASSWORD, *, ip=None, username=EMAIL, auth="post"):
    headers = {"auth0-forwarded-for": ip} if ip else {}
    params = {"grant_type": "password", "username": username, "password": password}
    if auth == "basic":
        headers.update(client.basic())
        return await env.http.post("/oauth/token", data=params, headers=headers)
    return await env.token(params, client, headers=headers)


async def _fail(env, client, n, **kw):
    for _ in range(n):
        assert_error(
            await _login(env, client, "wrong", **kw), 403, "invalid_grant", WRONG_CREDENTIALS
        )


def _blocked(resp):
    body = assert_error(resp, 429, "too_many_attempts")
    assert_no_store(resp)
    assert "mfa_token" not in body, body
    assert int(resp.headers["retry-after"]) >= 1
    return body


def _passes(resp):
    assert_error(resp, 403, "mfa_required", MFA_REQUIRED)


# ----------------------------------------------------------------------------- per user + IP


async def test_per_ip_bucket_empties_and_refills(env):
    client = await env.client()
    await env.user()
    await _fail(env, client, PER_IP)

    # Empty: refused before the password is looked at, even the right one.
    _blocked(await _login(env, client))
    env.clock.advance(IP_REFILL - 0.5)
    _blocked(await _login(env, client))

    # One refilled attempt, spent by a failure, then empty again.
    env.clock.advance(0.5)
    await _fail(env, client, 1)
    _blocked(await _login(env, client))

    # Refilled again: the right password passes, and gives its attempt back.
    env.clock.advance(IP_REFILL)
    _passes(await _login(env, client))
    await _fail(env, client, 1)
    _blocked(await _login(env, client, "wrong"))

    # Fully refilled after 20 x 6 s.
    env.clock.advance(PER_IP * IP_REFILL)
    await _fail(env, client, PER_IP)
    _blocked(await _login(env, client))


async def test_successes_do_not_drain_the_bucket(env):
    client = await env.client()
    await env.user()
    await _fail(env, client, PER_IP - 1)
    for _ in range(5):
        _passes(await _login(env, client))

    await _fail(env, client, 1)

    _blocked(await _login(env, client))


async def test_unknown_user_is_limited_exactly_like_a_known_one(env):
    # The 429 must not become a "does this user exist" oracle.
    client = await env.client()
    await env.user()
    answers = {}
    for username in (EMAIL, "nobody@example.com"):
        await _fail(env, client, PER_IP, username=username)
        resp = await _login(env, client, username=username)
        answers[username] = (resp.status_code, resp.json(), resp.headers.get("retry-after"))

    assert answers[EMAIL] == answers["nobody@example.com"]
    assert answers[EMAIL][0] == 429


async def test_one_users_lockout_leaves_others_alone(env):
    client = await env.client()
    await env.user()
    await env.user("other@example.com", "other pass")
    await _fail(env, client, PER_IP)

    _passes(await _login(env, client, "other pass", username="other@example.com"))


async def test_login_by_email_case_shares_the_bucket(env):
    client = await env.client()
    await env.user()
    await _fail(env, client, PER_IP // 2, username=EMAIL.upper())
    await _fail(env, client, PER_IP // 2, username=EMAIL)

    _blocked(await _login(env, client, username=EMAIL.title()))


async def test_concurrent_guesses_cannot_outrun_the_bucket(env):
    client = await env.client()
    await env.user()
    results = []

    async def guess():
        results.append(await _login(env, client, "wrong"))

    async with anyio.create_task_group() as tg:
        for _ in range(2 * PER_IP):
            tg.start_soon(guess)

    statuses = sorted(r.status_code for r in results)
    checked = statuses.count(403)
    assert checked <= PER_IP, statuses
    assert checked >= PER_IP - 2, statuses  # lost compare-and-set races may refuse a few more
    assert statuses.count(429) == 2 * PER_IP - checked, statuses


async def test_lockout_is_audited(env):
    client = await env.client()
    user = await env.user()
    await _fail(env, client, PER_IP)
    _blocked(await _login(env, client))

    events = await env.services.deps.storage.audit.query(user_id=user.user_id, limit=100)
    types = [e.type for e in events]
    assert types.count("fp") == PER_IP, types
    assert "limit_wc" in types, types


# ----------------------------------------------------------------------------- auth0-forwarded-for


async def test_trusted_client_gets_a_bucket_per_end_user_address(env, trust):
    client = await env.client()
    trust(client.client_id)
    await env.user()
    await _fail(env, client, PER_IP, ip="203.0.113.7")

    _blocked(await _login(env, client, ip="203.0.113.7"))
    _passes(await _login(env, client, ip="198.51.100.9"))
    # The peer itself (no header) is yet another address.
    _passes(await _login(env, client))


async def test_trusted_client_with_basic_authentication(env, trust):
    client = await env.client(auth_method="client_secret_basic")
    trust(client.client_id)
    await env.user()
    await _fail(env, client, PER_IP, ip="203.0.113.7", auth="basic")

    _blocked(await _login(env, client, ip="203.0.113.7", auth="basic"))
    _passes(await _login(env, client, ip="2001:db8::1", auth="basic"))


async def test_untrusted_client_cannot_escape_by_forging_the_header(env, trust):
    trusted = await env.client()
    trust(trusted.client_id)
    client = await env.client()
    await env.user()
    for n in range(PER_IP):
        assert_error(
            await _login(env, client, "wrong", ip=f"203.0.113.{n}"),
            403,
            "invalid_grant",
            WRONG_CREDENTIALS,
        )

    _blocked(await _login(env, client, ip="198.51.100.250"))


async def test_untrusted_client_claiming_a_trusted_client_id_is_refused(env, trust):
    # The address is only believed after the client authenticated as the trusted one.
    trusted = await env.client()
    trust(trusted.client_id)
    await env.user()
    params = {
        "grant_type": "password",
        "username": EMAIL,
        "password": PASSWORD,
        "client_id": trusted.client_id,
        "client_secret": "not the secret",
    }
    resp = await env.http.post(
        "/oauth/token", data=params, headers={"auth0-forwarded-for": "203.0.113.1"}
    )
    assert_error(resp, 401, "invalid_client")


async def test_malformed_forwarded_address_falls_back_to_the_peer(env, trust):
    client = await env.client()
    trust(client.client_id)
    await env.user()
    await _fail(env, client, PER_IP // 2, ip="not-an-ip")
    await _fail(env, client, PER_IP // 2, ip="999.1.1.1")

    # Both garbage values counted against the peer's own bucket.
    _blocked(await _login(env, client))


async def test_forwarded_list_uses_the_first_address(env, trust):
    client = await env.client()
    trust(client.client_id)
    await env.user()
    await _fail(env, client, PER_IP, ip="203.0.113.7, 10.0.0.1")

    _blocked(await _login(env, client, ip="203.0.113.7"))
    _passes(await _login(env, client, ip="10.0.0.1"))


# ----------------------------------------------------------------------------- per user


async def test_per_user_bucket_caps_guesses_spread_over_addresses(env, trust):
    client = await env.client()
    trust(client.client_id)
    await env.user()
    # Never more than half an IP bucket from one address: only the per-user bucket can stop this.
    per_address = PER_IP // 2
    sent = 0
    n = 0
    while sent < PER_USER:
        batch = min(per_address, PER_USER - sent)
        await _fail(env, client, batch, ip=f"198.51.100.{n}")
        sent += batch
        n += 1

    fresh = "192.0.2.200"
    _blocked(await _login(env, client, ip=fresh))
    env.clock.advance(USER_REFILL - 1)
    _blocked(await _login(env, client, ip=fresh))
    env.clock.advance(1)
    await _fail(env, client, 1, ip=fresh)
    _blocked(await _login(env, client, ip=fresh))

    env.clock.advance(USER_REFILL)
    _passes(await _login(env, client, ip=fresh))


async def test_refused_per_user_attempt_does_not_spend_the_ip_bucket(env, trust):
    client = await env.client()
    trust(client.client_id)
    await env.user()
    per_address = PER_IP // 2
    for n in range(PER_USER // per_address):
        await _fail(env, client, per_address, ip=f"198.51.100.{n}")
    for _ in range(PER_IP + 5):
        _blocked(await _login(env, client, ip="192.0.2.1"))

    # Per-user refills after 60 s; 192.0.2.1's own bucket was never touched by the refusals.
    env.clock.advance(USER_REFILL)
    _passes(await _login(env, client, ip="192.0.2.1"))

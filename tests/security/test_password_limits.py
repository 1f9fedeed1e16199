"""Password attempt limits ("same-user login attempts", Auth0's attack protection).

Three token buckets are taken before the password is checked: per user+IP (20, then one every
6 s = 10 a minute), per address across all users (100, then 100 a day, like Auth0's suspicious IP
throttling) and per user across all addresses (500, then one a minute: only a campaign from
dozens of addresses reaches it). Only failures spend them; a 429 `too_many_attempts` comes before
any hashing. `auth0-forwarded-for` names the end user's address only for clients listed in
TWOFOLD_TRUSTED_FORWARDING_CLIENTS.
"""

from __future__ import annotations

import anyio
import pytest

from twofold.config import Settings
from twofold.core.attempts import PASSWORD_PER_ADDRESS, PASSWORD_PER_IP_USER, PASSWORD_PER_USER
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
PER_ADDRESS = PASSWORD_PER_ADDRESS.capacity  # 100
ADDRESS_REFILL = PASSWORD_PER_ADDRESS.refill_seconds  # 864 s
PER_USER = PASSWORD_PER_USER.capacity  # 500
USER_REFILL = PASSWORD_PER_USER.refill_seconds  # 60 s


def test_limits_are_the_specs() -> None:
    # 20 per IP+user, then 10 a minute.
    assert (PER_IP, 60 / IP_REFILL) == (20, 10)
    # Auth0's suspicious IP throttling default: 100 failures, then 100 a day.
    assert (PER_ADDRESS, 86_400 / ADDRESS_REFILL) == (100, 100)
    # Locking a user out takes the whole pair budget of at least 25 addresses.
    assert PER_USER >= 25 * PER_IP
    # The settings' defaults are these buckets.
    settings = Settings()
    assert settings.password_failures_per_address == PER_ADDRESS
    assert settings.password_failures_per_address_refill == ADDRESS_REFILL
    assert settings.password_failures_per_user == PER_USER
    assert settings.password_failures_per_user_refill == USER_REFILL


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


# ----------------------------------------------------------------------- lockout (Auth0 model)


async def test_blocked_pair_leaves_the_address_free_for_other_users(env, trust):
    client = await env.client()
    trust(client.client_id)
    await env.user()
    await env.user("other@example.com", "other pass")
    await _fail(env, client, PER_IP, ip="203.0.113.7")

    # The pair (user, address) is blocked, even for the right password...
    _blocked(await _login(env, client, ip="203.0.113.7"))
    # ...but neither the address for another user, nor the user from another address.
    _passes(await _login(env, client, "other pass", username="other@example.com", ip="203.0.113.7"))
    _passes(await _login(env, client, ip="198.51.100.9"))


async def test_fifty_addresses_cannot_lock_a_user_out(env, trust):
    # The reported attack: a wrong password from each of 50 addresses, then the right one from
    # anywhere else was refused, and one failure a minute kept it so.
    client = await env.client()
    trust(client.client_id)
    await env.user()
    for n in range(50):
        await _fail(env, client, 1, ip=f"198.51.100.{n}")

    _passes(await _login(env, client, ip="192.0.2.200"))
    for minute in range(5):
        env.clock.advance(60)
        await _fail(env, client, 1, ip=f"203.0.113.{minute}")
        _passes(await _login(env, client, ip="192.0.2.200"))
    # Nor from the peer address itself (no header).
    _passes(await _login(env, client))


async def test_per_address_limit_across_users(env, trust):
    client = await env.client()
    trust(client.client_id)
    attacker = "203.0.113.66"
    # Spread over many usernames, never reaching one pair's limit: only the per-address
    # bucket can stop this (password spraying).
    per_name = PER_IP // 2
    for n in range(PER_ADDRESS // per_name):
        await _fail(env, client, per_name, ip=attacker, username=f"victim{n}@example.com")
    user = await env.user()

    # The address is throttled for every user, the right password included.
    body = _blocked(await _login(env, client, ip=attacker))
    _blocked(await _login(env, client, "wrong", ip=attacker, username="fresh@example.com"))
    assert body == (await _login(env, client, ip=attacker)).json()
    events = await env.services.deps.storage.audit.query(user_id=user.user_id, limit=100)
    assert "limit_mu" in [e.type for e in events], [e.type for e in events]
    # The user is not: from any other address the right password works.
    _passes(await _login(env, client, ip="198.51.100.1"))

    # One failure back after the refill interval, then throttled again.
    env.clock.advance(ADDRESS_REFILL)
    await _fail(env, client, 1, ip=attacker, username="late@example.com")
    _blocked(await _login(env, client, ip=attacker))


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
    # More refusals than the pair's and the address's buckets hold.
    for _ in range(PER_ADDRESS + 5):
        _blocked(await _login(env, client, ip="192.0.2.1"))

    # Per-user refills after 60 s; neither 192.0.2.1's pair bucket nor its address bucket was
    # touched by the refusals.
    env.clock.advance(USER_REFILL)
    _passes(await _login(env, client, ip="192.0.2.1"))

"""X-Forwarded-For from a trusted proxy is believed only when it names one IP address.

`twofold serve` puts `proxy_headers.ProxyHeaders` around the app (instead of uvicorn's middleware,
which took any text). Here the same wrapping runs in-process: the test client's peer,
127.0.0.1, is the trusted proxy. What the app then takes for the client address is what the
audit trail records and what keys the per-address password buckets; hostile values must leave
it at the peer's address.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from twofold.core.attempts import PASSWORD_PER_IP_USER
from twofold.proxy_headers import ProxyHeaders, TrustedProxies, forwarded_client
from web.support import BASE_URL, EMAIL, PASSWORD, WRONG_CREDENTIALS, Harness, assert_error

pytestmark = pytest.mark.anyio

PEER = "127.0.0.1"  # httpx's ASGITransport client address

HOSTILE = [
    "<script>alert(1)</script>",
    "evil.example.com",
    "unknown",
    "203.0.113.7 198.51.100.1",
    "999.1.1.1",
    "fe80::1%eth0",
    "fe80::1%<script>",
    "203.0.113.7, not-an-address",  # the entry the proxy vouches for is garbage
    "203.0.113.7:99999",
    "[2001:db8::1",
    "1" * 5000,
    "2001:db8::1" + ":1" * 2000,
    ",,,",
    " ",
]

VALID = [
    ("203.0.113.7", "203.0.113.7"),
    ("2001:DB8:0:0::1", "2001:db8::1"),
    ("::ffff:203.0.113.7", "203.0.113.7"),  # IPv4-mapped: the IPv4 address
    ("[2001:db8::1]:443", "2001:db8::1"),
    ("203.0.113.7:8080", "203.0.113.7"),
    ("spoofed-by-client, 203.0.113.7", "203.0.113.7"),  # left of the proxy's entry: ignored
    ("203.0.113.7, 127.0.0.1", "203.0.113.7"),  # a trusted proxy in the chain is skipped
]


@pytest.fixture
async def proxied(services: Any, clock: Any) -> AsyncIterator[Harness]:
    from twofold.app import build_app

    app = ProxyHeaders(build_app(services), trusted=PEER)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as http:
        yield Harness(http, services, clock)


async def _wrong_password(env: Harness, client: Any, forwarded: str | None) -> None:
    headers = {"x-forwarded-for": forwarded} if forwarded is not None else {}
    params = {"grant_type": "password", "username": EMAIL, "password": "wrong"}
    assert_error(
        await env.token(params, client, headers=headers), 403, "invalid_grant", WRONG_CREDENTIALS
    )


async def _recorded_ip(env: Harness, user_id: str) -> str | None:
    events = await env.services.deps.storage.audit.query(user_id=user_id, types=["fp"], limit=1)
    return events[0].ip


@pytest.mark.parametrize("forwarded", HOSTILE)
async def test_hostile_forwarded_for_leaves_the_peer_address(proxied, forwarded):
    client = await proxied.client()
    user = await proxied.user()
    await _wrong_password(proxied, client, forwarded)

    assert await _recorded_ip(proxied, user.user_id) == PEER


@pytest.mark.parametrize(("forwarded", "expected"), VALID)
async def test_valid_forwarded_for_names_the_client(proxied, forwarded, expected):
    client = await proxied.client()
    user = await proxied.user()
    await _wrong_password(proxied, client, forwarded)

    assert await _recorded_ip(proxied, user.user_id) == expected


async def test_hostile_values_all_count_against_the_peers_bucket(proxied):
    # Each garbage value used to be a bucket of its own, so varying it escaped the limits.
    client = await proxied.client()
    await proxied.user()
    for n in range(PASSWORD_PER_IP_USER.capacity):
        await _wrong_password(proxied, client, f"{HOSTILE[n % len(HOSTILE)]}{n}")

    params = {"grant_type": "password", "username": EMAIL, "password": PASSWORD}
    assert_error(await proxied.token(params, client), 429, "too_many_attempts")


async def test_forwarded_for_from_an_untrusted_peer_is_ignored(services, clock):
    from twofold.app import build_app

    app = ProxyHeaders(build_app(services), trusted="10.0.0.0/8")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as http:
        env = Harness(http, services, clock)
        client = await env.client()
        user = await env.user()
        await _wrong_password(env, client, "203.0.113.7")

        assert await _recorded_ip(env, user.user_id) == PEER


def test_forwarded_client_reads_from_the_right():
    trusted = TrustedProxies("10.0.0.0/8, ::1")
    assert forwarded_client("198.51.100.1, 203.0.113.7, 10.1.2.3", trusted) == ("203.0.113.7", 0)
    assert forwarded_client("203.0.113.7, ::1", trusted) == ("203.0.113.7", 0)
    assert forwarded_client("10.0.0.1, 10.0.0.2", trusted) == ("10.0.0.1", 0)
    assert forwarded_client("203.0.113.7, evil, 10.1.2.3", trusted) is None
    assert forwarded_client("[::ffff:203.0.113.7]:80", trusted) == ("203.0.113.7", 80)

"""Fixtures for the in-process HTTP tests: a fresh database, services and app per test.

Each test gets its own SQLite file under ``tmp_path``, a FrozenClock started at
``support.START`` and an httpx client speaking to the ASGI app. The tenant is put on MFA policy
``always`` with the default factors (otp + recovery codes); tests that want otherwise change it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from twofold.core.clock import FrozenClock

from .fake_twilio import FakeTwilio
from .oob_support import SmtpSink
from .support import BASE_URL, START, Harness, make_settings


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
async def services(tmp_path: Any, clock: FrozenClock) -> AsyncIterator[Any]:
    from twofold.app import create_services

    svc = await create_services(make_settings(tmp_path), clock=clock)
    try:
        await svc.admin.update_tenant(mfa_policy="always")
        yield svc
    finally:
        await svc.close()


@pytest.fixture
async def http(services: Any) -> AsyncIterator[httpx.AsyncClient]:
    from twofold.app import build_app

    app = build_app(services)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=BASE_URL
    ) as client:
        yield client


@pytest.fixture
def env(http: httpx.AsyncClient, services: Any, clock: FrozenClock) -> Harness:
    return Harness(http, services, clock)


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps what it receives."""
    with SmtpSink.running() as sink:
        yield sink


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    """Twilio's REST API as a real HTTP server on 127.0.0.1, recording each message."""
    fake = FakeTwilio().start()
    try:
        yield fake
    finally:
        fake.stop()

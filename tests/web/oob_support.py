"""Helpers for the out-of-band tests: a real SMTP server (aiosmtpd) in-process, a capturing
channel, settings with delivery configured, and the mfa-oob grant call.

Codes are read from what was delivered (the email body, the captured SMS text), never from the
server's state.
"""

from __future__ import annotations

import re
import socket
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

# One SMTP sink for every suite (re-exported for the in-process tests).
from e2e._oob import SmtpSink as SmtpSink
from e2e._oob import body_of as body_of
from e2e._oob import code_in as code_in

from .support import DOMAIN, GRANT_OOB, Creds, Harness

PENDING = "Authorization pending: please repeat the request in a few seconds."
SLOW_DOWN = "You are polling faster than allowed. Try again in a few seconds."
INVALID_BINDING = "Invalid binding_code."
OOB_EXPIRED = "oob_code is expired"
OOB_MISMATCH = "The oob_code doesn't match the mfa_token"
REJECTED = "MFA Authorization rejected."
EMAIL_ID_RE = re.compile(r"^email\|dev_[A-Za-z0-9]{16}$")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def running(settings: Any, clock: Any, **tenant: Any) -> AsyncIterator[Any]:
    """Services on these settings, the tenant changed as given; closed afterwards."""
    from twofold.app import create_services

    svc = await create_services(settings, clock=clock)
    try:
        await svc.admin.update_tenant(**tenant)
        yield svc
    finally:
        await svc.close()


def oob_settings(tmp_path: Any, **extra: Any) -> Any:
    from twofold.config import Settings

    base: dict[str, Any] = {
        "database_url": f"sqlite:///{tmp_path}/t.db",
        "domain": DOMAIN,
        "data_dir": tmp_path,
        "environment": "test",
        "argon2_time_cost": 1,
        "argon2_memory_cost": 1024,
    }
    return Settings(**{**base, **extra})


class Capture:
    """A Channel that keeps what it is given (and can be told to fail)."""

    def __init__(self, fail: Exception | None = None, delay: float = 0.0) -> None:
        self.sent: list[Any] = []
        self.fail = fail
        self.delay = delay

    async def send(self, message: Any) -> None:
        if self.delay:
            import asyncio

            await asyncio.sleep(self.delay)
        if self.fail is not None:
            raise self.fail
        self.sent.append(message)

    def last_code(self) -> str:
        assert self.sent, "nothing sent"
        code = self.sent[-1].code
        assert isinstance(code, str)
        return code


async def oob_grant(
    env: Harness, client: Creds, mfa_token: str, oob_code: str, binding_code: str | None = None
) -> httpx.Response:
    params = {"grant_type": GRANT_OOB, "mfa_token": mfa_token, "oob_code": oob_code}
    if binding_code is not None:
        params["binding_code"] = binding_code
    return await env.token(params, client)


async def associate_oob(env: Harness, bearer: str, channel: str, **extra: Any) -> httpx.Response:
    body = {"authenticator_types": ["oob"], "oob_channels": [channel], **extra}
    return await env.associate(bearer, body)


def state_rows(db: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(db) as conn:
        return [(str(k), str(v)) for k, v in conn.execute("SELECT key, value FROM state")]


def wait_until(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError("condition not met in time")

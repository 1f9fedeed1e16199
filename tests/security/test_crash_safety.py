"""Crash safety: SIGKILL a server mid-load, restart it, lose nothing acknowledged.

Workers enrol users (password → associate → confirm with the first TOTP code) while others keep
the write path busy (wrong codes, new mfa_tokens, recovery logins of enrolled users). Once enough
enrolments have been acknowledged, the whole server process group gets SIGKILL — no shutdown
hook runs. Then: `PRAGMA integrity_check` is ok, the server restarts on the same database, and
every enrolment that was answered 200 is listed active and verifies with a fresh TOTP code.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import signal
import sqlite3
import time
from dataclasses import dataclass

import anyio
import httpx
import pytest

from e2e._server import Tls, TwofoldServer, User, free_port
from web.support import GRANT_OTP, GRANT_RECOVERY, totp

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]

USERS = 24
WORKERS = 6
KILL_AFTER = 10  # acknowledged enrolments before the kill


@dataclass
class Ack:
    user: User
    secret: str
    step: int


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
def crash_server(tmp_path):
    server = TwofoldServer(
        workdir=tmp_path, port=free_port(), tls=Tls.create(tmp_path), pycache_dir=tmp_path / "pyc"
    )
    server.migrate()
    try:
        yield server
    finally:
        if server.process is not None and server.process.poll() is None:
            server.stop()


def _make_users(server: TwofoldServer) -> list[User]:
    def one(i: int) -> User:
        return server.create_user(f"u{i}", f"crash{i}@example.com", f"crash-password-{i}")

    with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
        return list(pool.map(one, range(USERS)))


def _kill(server: TwofoldServer) -> None:
    proc = server.process
    assert proc is not None
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


def _integrity(path) -> str:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return str(db.execute("PRAGMA integrity_check").fetchone()[0])


async def test_sigkill_mid_load_loses_no_acknowledged_enrolment(crash_server):
    server = crash_server
    client = server.create_client("crash test")
    users = _make_users(server)
    server.start()
    creds = {"client_id": client.client_id, "client_secret": client.client_secret}
    acked: list[Ack] = []
    queue = list(users)
    killed = anyio.Event()
    errors_after_kill = 0

    async def login(http: httpx.AsyncClient, user: User) -> str:
        resp = await http.post(
            "/oauth/token",
            data={
                "grant_type": "password",
                "username": user.email,
                "password": user.password,
                **creds,
            },
        )
        assert resp.status_code == 403, resp.text
        return str(resp.json()["mfa_token"])

    async def enrol(http: httpx.AsyncClient, user: User) -> None:
        token = await login(http, user)
        resp = await http.post(
            "/mfa/associate",
            json={"authenticator_types": ["otp"]},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert resp.status_code == 200, resp.text
        assoc = resp.json()
        # A wrong code first: a write (attempt bucket, audit) racing the kill.
        await http.post(
            "/oauth/token",
            data={"grant_type": GRANT_OTP, "mfa_token": token, "otp": "000000", **creds},
        )
        step = int(time.time()) // 30
        resp = await http.post(
            "/oauth/token",
            data={
                "grant_type": GRANT_OTP,
                "mfa_token": token,
                "otp": totp(assoc["secret"], step * 30),
                **creds,
            },
        )
        if resp.status_code == 200:
            acked.append(Ack(user, assoc["secret"], step))
            # Keep writing for this user: a recovery login rotates the code.
            token = await login(http, user)
            await http.post(
                "/oauth/token",
                data={
                    "grant_type": GRANT_RECOVERY,
                    "mfa_token": token,
                    "recovery_code": assoc["recovery_codes"][0],
                    **creds,
                },
            )

    async def worker() -> None:
        nonlocal errors_after_kill
        async with httpx.AsyncClient(
            base_url=server.base_url, verify=server.tls.client_context(), timeout=15
        ) as http:
            while queue and not killed.is_set():
                user = queue.pop()
                try:
                    await enrol(http, user)
                except (httpx.HTTPError, AssertionError):
                    if not killed.is_set():
                        raise
                    errors_after_kill += 1
                    return

    async def killer() -> None:
        while len(acked) < KILL_AFTER:
            await anyio.sleep(0.005)
        _kill(server)
        killed.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(killer)
        for _ in range(WORKERS):
            tg.start_soon(worker)

    assert killed.is_set()
    assert len(acked) >= KILL_AFTER
    assert len(acked) < USERS, "the kill came after all the work: nothing was in flight"
    # The database survived a kill -9 mid-write.
    for path in sorted(server.database_file.parent.glob(server.database_file.name + "*")):
        print("after kill:", path.name, path.stat().st_size)
    assert _integrity(server.database_file) == "ok"

    server.start()
    async with httpx.AsyncClient(
        base_url=server.base_url, verify=server.tls.client_context(), timeout=15
    ) as http:
        # Every acknowledged enrolment is there, active.
        tokens = {}
        for ack in acked:
            token = await login(http, ack.user)
            tokens[ack.user.email] = token
            listed = await http.get(
                "/mfa/authenticators", headers={"Authorization": f"Bearer {token}"}
            )
            assert listed.status_code == 200, listed.text
            totps = [a for a in listed.json() if a["authenticator_type"] == "otp"]
            assert any(a["active"] for a in totps), (ack.user.email, listed.json())

        # …and usable: a code of a step after the confirmed one verifies.
        last = max(ack.step for ack in acked)
        while int(time.time()) // 30 <= last:
            await anyio.sleep(0.25)
        for ack in acked:
            resp = await http.post(
                "/oauth/token",
                data={
                    "grant_type": GRANT_OTP,
                    "mfa_token": tokens[ack.user.email],
                    "otp": totp(ack.secret, time.time()),
                    **creds,
                },
            )
            assert resp.status_code == 200, (ack.user.email, resp.text)
    server.stop()
    assert _integrity(server.database_file) == "ok"

"""`twofold keys rotate-encryption`: every secret at rest re-encrypted under the
current key, in batches, while the server keeps serving; then the old key can go.

In process (FrozenClock): rotation with tiny batches, rotation racing live traffic, and the
server on the new key alone. Real process: the CLI against a running server, then a restart
with the old key removed.
"""

from __future__ import annotations

import base64
import json
import os
import time
from typing import Any

import httpx
import pytest

from e2e._server import Tls, TwofoldServer, free_port
from twofold.core.associated_data import COLUMNS
from twofold.core.clock import FrozenClock
from twofold.core.encryption_rotation import rotate
from twofold.storage.reencrypt import SqlEncryptedColumns
from web.support import (
    BASE_URL,
    DOMAIN,
    START,
    Harness,
    assert_tokens,
    totp,
)

pytestmark = pytest.mark.anyio

OLD = "old1:" + base64.b64encode(os.urandom(32)).decode()
NEW = "new2:" + base64.b64encode(os.urandom(32)).decode()


def _settings(tmp_path: Any, keys: str) -> Any:
    from twofold.config import Settings

    return Settings(
        database_url=f"sqlite:///{tmp_path}/t.db",
        domain=DOMAIN,
        data_dir=tmp_path,
        environment="test",
        argon2_time_cost=1,
        argon2_memory_cost=1024,
        encryption_keys=keys,
    )


class Node:
    """One set of services (a 'server') on the shared database, with its own key ring."""

    def __init__(self, services: Any, http: httpx.AsyncClient, clock: FrozenClock) -> None:
        self.services = services
        self.http = http
        self.env = Harness(http, services, clock)


async def _node(stack: Any, tmp_path: Any, keys: str, clock: FrozenClock) -> Node:
    from twofold.app import build_app, create_services

    services = await create_services(_settings(tmp_path, keys), clock=clock)
    stack.push_async_callback(services.close)
    http = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=build_app(services)), base_url=BASE_URL
    )
    stack.push_async_callback(http.aclose)
    return Node(services, http, clock)


async def _cells(services: Any) -> dict[str, str]:
    cols = SqlEncryptedColumns(services.database)
    out = {}
    for column in COLUMNS:
        for key, envelope in await cols.page(column, None, 10_000):
            out[f"{column} {key}"] = envelope
    return out


def _kids(cells: dict[str, str]) -> set[str]:
    return {envelope.split(".")[1] for envelope in cells.values()}


async def _enrol_users(env: Harness, n: int) -> tuple[Any, list[Any]]:
    client = await env.client()
    users = [await env.enrolled(client, f"user{i}@example.com", f"password {i}") for i in range(n)]
    return client, users


async def test_rotation_in_batches_then_the_old_key_can_go(tmp_path):
    from contextlib import AsyncExitStack

    clock = FrozenClock(START)
    async with AsyncExitStack() as stack:
        old = await _node(stack, tmp_path, OLD, clock)
        await old.services.admin.update_tenant(mfa_policy="always")
        client, users = await _enrol_users(old.env, 5)
        await old.services.admin.rotate_signing_key()  # two signing keys
        before = await _cells(old.services)
        assert _kids(before) == {"old1"}
        # Secrets: 5 TOTP secrets and 2 private keys.
        assert sum(k.startswith("authenticators.secret_enc") for k in before) == 5
        assert sum(k.startswith("signing_keys") for k in before) == 2

        both = await _node(stack, tmp_path, f"{NEW},{OLD}", clock)
        dry = await rotate(
            SqlEncryptedColumns(both.services.database), both.services.deps.keyring, dry_run=True
        )
        assert dry.remaining == len(before)
        assert dry.reencrypted == 0
        assert _kids(await _cells(both.services)) == {"old1"}

        report = await rotate(
            SqlEncryptedColumns(both.services.database), both.services.deps.keyring, batch=2
        )
        assert report.complete, report
        assert report.reencrypted == len(before)
        after = await _cells(both.services)
        assert _kids(after) == {"new2"}
        assert set(after) == set(before)
        # Fresh ciphertexts, and a second run has nothing to do.
        assert all(after[k] != before[k] for k in before)
        again = await rotate(
            SqlEncryptedColumns(both.services.database), both.services.deps.keyring
        )
        assert (again.reencrypted, again.already_current, again.complete) == (0, len(before), True)

        # The new key alone: every TOTP secret and the signing keys still open.
        new = await _node(stack, tmp_path, NEW, clock)
        for user in users:
            mfa_token = await new.env.mfa_token(client, username=user.email, password=user.password)
            tokens = assert_tokens(
                await new.env.otp_grant(client, mfa_token, new.env.code(user.secret))
            )
            await new.env.decode(tokens["access_token"])
        new.env.next_step()
        # And the old key alone no longer opens anything: a node with it cannot even start,
        # and says why.
        from twofold.app import ConfigurationError

        with pytest.raises(
            ConfigurationError, match=r"TWOFOLD_ENCRYPTION_KEYS.*does not decrypt the existing"
        ):
            await _node(stack, tmp_path, OLD, clock)


class Interleaved:
    """EncryptedColumns that lets live traffic run between the rotation's reads and writes."""

    def __init__(self, inner: SqlEncryptedColumns, step: Any) -> None:
        self.inner = inner
        self.step = step

    async def page(self, column: str, after: str | None, limit: int) -> Any:
        await self.step()
        return await self.inner.page(column, after, limit)

    async def replace(self, column: str, changes: Any) -> int:
        await self.step()
        return await self.inner.replace(column, changes)


async def test_rotation_interleaved_with_live_traffic(tmp_path):
    """Between every batch read and write, servers enrol and verify; one still writes under
    the old key (not restarted yet). Nothing fails, nothing is clobbered, and a run after every
    node has the new key current finishes the job."""
    from contextlib import AsyncExitStack

    clock = FrozenClock(START)
    async with AsyncExitStack() as stack:
        old = await _node(stack, tmp_path, OLD, clock)
        await old.services.admin.update_tenant(mfa_policy="always")
        client, users = await _enrol_users(old.env, 12)
        lagging = await _node(stack, tmp_path, f"{OLD},{NEW}", clock)
        rotated = await _node(stack, tmp_path, f"{NEW},{OLD}", clock)
        statuses: list[int] = []
        newcomers: list[tuple[Any, str]] = []
        turn = 0

        async def step() -> None:
            nonlocal turn
            turn += 1
            node = lagging if turn % 2 else rotated
            env = node.env
            user = users[turn % len(users)]
            mfa_token = await env.mfa_token(client, username=user.email, password=user.password)
            resp = await env.otp_grant(client, mfa_token, env.code(user.secret))
            statuses.append(resp.status_code)
            # A new user enrols: a new secret, written under this node's current key.
            email = f"new{turn}@example.com"
            await env.user(email, "pw-newcomer")
            token = await env.mfa_token(client, username=email, password="pw-newcomer")
            assoc = await env.associate_otp(token)
            resp = await env.otp_grant(client, token, env.code(assoc["secret"]))
            statuses.append(resp.status_code)
            newcomers.append((email, assoc["secret"]))
            clock.advance(30)  # a fresh TOTP step for the next verification

        cells = Interleaved(SqlEncryptedColumns(rotated.services.database), step)
        report = await rotate(cells, rotated.services.deps.keyring, batch=3)
        assert not report.unreadable, report
        assert turn > 5
        assert set(statuses) == {200}, statuses
        # Old-key cells may remain from the lagging node; with it restarted, one run finishes.
        final = await rotate(
            SqlEncryptedColumns(rotated.services.database), rotated.services.deps.keyring
        )
        assert final.complete, final
        assert _kids(await _cells(rotated.services)) == {"new2"}
        new = await _node(stack, tmp_path, NEW, clock)
        for email, secret in newcomers[-3:]:
            mfa_token = await new.env.mfa_token(client, username=email, password="pw-newcomer")
            assert_tokens(await new.env.otp_grant(client, mfa_token, new.env.code(secret)))


# ----------------------------------------------------------------------------- real process


class KeyedServer(TwofoldServer):
    keys: str = OLD

    def env(self) -> dict[str, str]:
        env = super().env()
        env["TWOFOLD_ENCRYPTION_KEYS"] = self.keys
        return env


def _restart(server: KeyedServer, keys: str) -> None:
    server.stop()
    server.keys = keys
    server.start()


@pytest.mark.e2e
def test_cli_rotation_against_a_running_server(tmp_path):
    server = KeyedServer(
        workdir=tmp_path, port=free_port(), tls=Tls.create(tmp_path), pycache_dir=tmp_path / "pyc"
    )
    server.migrate()
    client = server.create_client("rotation")
    user = server.create_user("rita", "rita@example.com", "rita-password-1")
    creds = {"client_id": client.client_id, "client_secret": client.client_secret}
    server.start()
    try:
        with httpx.Client(
            base_url=server.base_url, verify=server.tls.client_context(), timeout=30
        ) as http:

            def login() -> str:
                resp = http.post(
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

            def verify(mfa_token: str, code: str) -> httpx.Response:
                return http.post(
                    "/oauth/token",
                    data={
                        "grant_type": "http://auth0.com/oauth/grant-type/mfa-otp",
                        "mfa_token": mfa_token,
                        "otp": code,
                        **creds,
                    },
                )

            token = login()
            assoc = http.post(
                "/mfa/associate",
                json={"authenticator_types": ["otp"]},
                headers={"Authorization": f"Bearer {token}"},
            ).json()
            step = int(time.time()) // 30
            assert verify(token, totp(assoc["secret"], step * 30)).status_code == 200

            # Step 1-2 of the procedure: the new key current, the old one still readable.
            _restart(server, f"{NEW},{OLD}")
            server.keys = f"{NEW},{OLD}"
            with pytest.raises(AssertionError, match="keep the old keys"):
                server.cli("keys", "rotate-encryption", "--dry-run")
            report = server.cli_json("keys", "rotate-encryption", "--batch", "1", "--json")
            assert report["complete"] is True, report
            assert report["reencrypted"] >= 2, report  # the TOTP secret and the signing key
            assert set(report["cells_by_kid_before"]) == {"old1"}, report
            check = server.cli_json("keys", "rotate-encryption", "--dry-run", "--json")
            assert check["complete"] is True, check
            assert set(check["cells_by_kid_before"]) == {"new2"}, check
            # The running server is undisturbed.
            assert http.get("/readyz").status_code == 200

            # Step 3: the old key removed.
            _restart(server, NEW)
            jwks = http.get("/.well-known/jwks.json").json()
            assert jwks["keys"], jwks
            while int(time.time()) // 30 <= step:
                time.sleep(0.25)
            resp = verify(login(), totp(assoc["secret"], time.time()))
            assert resp.status_code == 200, resp.text
            body = resp.json()
            header = json.loads(base64.urlsafe_b64decode(body["access_token"].split(".")[0] + "=="))
            assert header["kid"] in {k["kid"] for k in jwks["keys"]}
    finally:
        server.stop()

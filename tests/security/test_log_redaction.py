"""No secret reaches a log line.

In process: every request and response of a full flow is logged verbatim (headers, bodies) by a
deliberately careless wire logger, through Twofold's own log configuration at debug level; the
captured JSON lines must still hold none of the secrets the flow used.

Real process: a `twofold serve` at debug level with JSON logs runs the flow over HTTPS, with
secrets also pushed into places the server does log (query strings and paths in the access log,
error details); its log file must hold none of them.
"""

from __future__ import annotations

import io
import json
import logging
import re
import time
from typing import Any

import httpx
import pytest
import structlog

from e2e._server import Tls, TwofoldServer, free_port
from twofold.observability.logging import configure
from web.support import (
    BASE_URL,
    GRANT_CC,
    GRANT_OTP,
    GRANT_RECOVERY,
    GRANT_REFRESH,
    JWT_BEARER,
    MFA_AUDIENCE,
    Harness,
    assert_tokens,
    public_jwks,
    rsa_key,
    totp,
)

pytestmark = pytest.mark.anyio

WIRE = logging.getLogger("twofold.test.wire")


class WireLogger:
    """ASGI middleware that logs everything it sees: the worst a careless developer could do."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []

        async def logging_receive() -> Any:
            message = await receive()
            if message["type"] == "http.request":
                chunks.append(message.get("body", b""))
                if not message.get("more_body"):
                    WIRE.debug(
                        "request %s %s?%s headers=%s body=%s",
                        scope["method"],
                        scope["path"],
                        scope.get("query_string", b"").decode(),
                        [(k.decode(), v.decode()) for k, v in scope["headers"]],
                        b"".join(chunks).decode("utf-8", "replace"),
                    )
            return message

        async def logging_send(message: Any) -> None:
            if message["type"] == "http.response.body":
                body = message.get("body", b"").decode("utf-8", "replace")
                WIRE.debug("response body %s", body)
                structlog.get_logger("twofold.test.wire").debug(
                    "response", body=body, parsed=_maybe_json(body)
                )
            await send(message)

        await self.app(scope, logging_receive, logging_send)


def _maybe_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


@pytest.fixture
def captured():
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, structlog.get_config())
    buf = io.StringIO()
    configure("debug", "json", stream=buf)
    try:
        yield buf
    finally:
        root.handlers[:], level, config = saved
        root.setLevel(level)
        structlog.configure(**config)


@pytest.fixture
async def wire_env(services, clock, captured):
    from twofold.app import build_app

    app = WireLogger(build_app(services))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as http:
        yield Harness(http, services, clock)


class Secrets:
    """Every secret a flow handled, by label."""

    def __init__(self) -> None:
        self.found: dict[str, str] = {}

    def add(self, label: str, value: Any) -> None:
        if isinstance(value, str) and value:
            self.found[f"{label}: {value[:12]}…"] = value

    def take(self, body: dict[str, Any], *fields: str) -> None:
        for name in fields:
            value = body.get(name)
            if isinstance(value, list):
                for i, item in enumerate(value):
                    self.add(f"{name}[{i}]", item)
            else:
                self.add(name, value)

    def leaks(self, text: str) -> list[str]:
        out = []
        for label, value in self.found.items():
            if value.isdigit():  # a 6-digit code: only where it stands alone
                if re.search(rf"(?<![0-9.]){value}(?![0-9])", text):
                    out.append(label)
            elif value in text or (value.isupper() and value.lower() in text):
                out.append(label)
        return out


TOKEN_FIELDS = ("access_token", "id_token", "refresh_token", "mfa_token", "recovery_code")


async def test_in_process_flow_logs_no_secret(wire_env, captured):
    env = wire_env
    found = Secrets()
    await env.api()
    client = await env.client(grant_types=None)
    found.add("client_secret", client.secret)
    found.add("password", "correct horse")
    await env.user()

    # Password → mfa_required → associate → confirm: tokens incl. refresh.
    body = await env.mfa_required(client, scope="openid offline_access")
    found.take(body, "mfa_token")
    assoc = await env.associate_otp(body["mfa_token"])
    found.take(assoc, "secret", "barcode_uri", "recovery_codes")
    code = env.code(assoc["secret"])
    found.add("otp", code)
    tokens = assert_tokens(await env.otp_grant(client, body["mfa_token"], code))
    found.take(tokens, *TOKEN_FIELDS)
    env.next_step()

    # A wrong code and a wrong password are logged too (the server logs errors).
    mfa_token = await env.mfa_token(client)
    found.add("mfa_token", mfa_token)
    resp = await env.otp_grant(client, mfa_token, "000001")
    assert resp.status_code == 403
    found.add("wrong password", "Tr0ub4dor&3-wrong")
    assert (await env.password(client, password="Tr0ub4dor&3-wrong")).status_code == 403

    # Recovery grant (rotates the code), refresh rotation, listing with the mfa_token.
    listed = await env.list_authenticators(mfa_token)
    assert listed.status_code == 200
    rec = assert_tokens(await env.recovery_grant(client, mfa_token, assoc["recovery_codes"][0]))
    found.take(rec, *TOKEN_FIELDS)
    refreshed = assert_tokens(
        await env.token(
            {"grant_type": GRANT_REFRESH, "refresh_token": tokens["refresh_token"]}, client
        )
    )
    found.take(refreshed, *TOKEN_FIELDS)

    # MFA-API token, then an OTP with JSON body and Basic authentication.
    api_token = await env.mfa_api_token(client, _Enrolled(assoc["secret"]), "read:authenticators")
    found.take(api_token, *TOKEN_FIELDS)
    basic_client = await env.client(auth_method="client_secret_basic")
    found.add("basic client_secret", basic_client.secret)
    found.add("basic header", basic_client.basic()["Authorization"].split()[1])
    mfa_token = (
        await env.http.post(
            "/oauth/token",
            json={
                "grant_type": "password",
                "username": "u@example.com",
                "password": "correct horse",
            },
            headers=basic_client.basic(),
        )
    ).json()["mfa_token"]
    found.add("mfa_token", mfa_token)
    code = env.code(assoc["secret"])
    found.add("otp", code)
    assert_tokens(
        await env.http.post(
            "/oauth/token",
            json={"grant_type": GRANT_OTP, "mfa_token": mfa_token, "otp": code},
            headers=basic_client.basic(),
        )
    )

    # private_key_jwt client credentials.
    key = rsa_key()
    jwt_client = await env.client(
        auth_method="private_key_jwt",
        jwks=public_jwks(key),
        grant_types=[GRANT_CC],
        api_grants={"https://api.example.com": ("read:x",)},
    )
    assertion = env.assertion(key, jwt_client.client_id)
    found.add("client_assertion", assertion)
    cc = await env.token(
        {
            "grant_type": GRANT_CC,
            "client_id": jwt_client.client_id,
            "client_assertion_type": JWT_BEARER,
            "client_assertion": assertion,
            "audience": "https://api.example.com",
        }
    )
    found.take(assert_tokens(cc), "access_token")
    # A replayed assertion is an error the server logs with a debug detail.
    replay = await env.token(
        {
            "grant_type": GRANT_CC,
            "client_id": jwt_client.client_id,
            "client_assertion_type": JWT_BEARER,
            "client_assertion": assertion,
            "audience": "https://api.example.com",
        }
    )
    assert replay.status_code == 401

    text = captured.getvalue()
    wire_lines = [line for line in text.splitlines() if "twofold.test.wire" in line]
    # The careless logger did log every exchange (so the check below means something).
    assert len(wire_lines) > 30, text[:2000]
    assert "grant_type" in text
    assert "mfa_required" in text
    leaks = found.leaks(text)
    assert not leaks, "secrets in the logs:\n" + "\n".join(leaks)
    for line in text.splitlines():
        json.loads(line)  # still one JSON document per line


class _Enrolled:
    def __init__(self, secret: str) -> None:
        self.email = "u@example.com"
        self.password = "correct horse"
        self.secret = secret


# ----------------------------------------------------------------------------- real process


class DebugServer(TwofoldServer):
    def env(self) -> dict[str, str]:
        env = super().env()
        env["TWOFOLD_LOG_LEVEL"] = "debug"
        env["TWOFOLD_LOG_FORMAT"] = "json"
        return env


@pytest.fixture
def debug_server(tmp_path):
    server = DebugServer(
        workdir=tmp_path, port=free_port(), tls=Tls.create(tmp_path), pycache_dir=tmp_path / "pyc"
    )
    server.migrate()
    try:
        yield server
    finally:
        server.stop()


def _now_code(secret: str) -> str:
    return totp(secret, time.time())


@pytest.mark.e2e
async def test_real_server_logs_no_secret(debug_server):
    server = debug_server
    found = Secrets()
    client = server.create_client("log test")
    found.add("client_secret", client.client_secret)
    password = "pw-" + "Zq9" * 8
    user = server.create_user("dora", "dora@example.com", password)
    found.add("password", password)
    server.start()
    creds = {"client_id": client.client_id, "client_secret": client.client_secret}

    async with httpx.AsyncClient(
        base_url=server.base_url, verify=server.tls.client_context(), timeout=30
    ) as http:
        login = {
            "grant_type": "password",
            "username": user.email,
            "password": password,
            "scope": "openid offline_access",
        }
        body = (await http.post("/oauth/token", data={**login, **creds})).json()
        found.take(body, "mfa_token")
        mfa_token = body["mfa_token"]
        bearer = {"Authorization": f"Bearer {mfa_token}"}
        assoc = (
            await http.post("/mfa/associate", json={"authenticator_types": ["otp"]}, headers=bearer)
        ).json()
        found.take(assoc, "secret", "barcode_uri", "recovery_codes")
        code = _now_code(assoc["secret"])
        found.add("otp", code)
        tokens = (
            await http.post(
                "/oauth/token",
                data={"grant_type": GRANT_OTP, "mfa_token": mfa_token, "otp": code, **creds},
            )
        ).json()
        assert "access_token" in tokens, tokens
        found.take(tokens, *TOKEN_FIELDS)

        # Second login with the recovery code; a wrong code first.
        body = (await http.post("/oauth/token", data={**login, **creds})).json()
        mfa_token = body["mfa_token"]
        found.add("mfa_token", mfa_token)
        wrong = await http.post(
            "/oauth/token",
            data={
                "grant_type": GRANT_RECOVERY,
                "mfa_token": mfa_token,
                "recovery_code": "X" * 24,
                **creds,
            },
        )
        assert wrong.status_code == 403
        rec = await http.post(
            "/oauth/token",
            json={
                "grant_type": GRANT_RECOVERY,
                "mfa_token": mfa_token,
                "recovery_code": assoc["recovery_codes"][0],
                **creds,
            },
        )
        found.take(assert_tokens(rec), *TOKEN_FIELDS)

        # Secrets where the server does log: request lines (access log) and error details.
        await http.get(f"/mfa/authenticators?access_token={tokens['access_token']}")
        await http.get(f"/mfa/authenticators?mfa_token={mfa_token}&otp={code}")
        await http.post(f"/oauth/token?client_secret={client.client_secret}&password={password}")
        await http.delete(f"/mfa/authenticators/{tokens['access_token']}", headers=bearer)
        await http.get(
            "/mfa/authenticators", headers={"Authorization": f"Bearer {assoc['secret']}"}
        )
        await http.post(
            "/oauth/token",
            data={
                "grant_type": GRANT_CC,
                "client_id": client.client_id,
                "client_assertion_type": JWT_BEARER,
                "client_assertion": tokens["id_token"],
                "audience": MFA_AUDIENCE,
            },
        )
        await http.post(
            "/oauth/token", headers={"Authorization": f"Basic {client.client_secret}"}, data=login
        )

    server.stop()
    log = server.log_text()
    assert '"logger"' in log, log[:3000]
    assert "uvicorn" in log, log[:3000]
    assert "/mfa/authenticators?" in log, "the access log must be on for this test to mean much"
    leaks = found.leaks(log)
    assert not leaks, "secrets in the server log:\n" + "\n".join(leaks)

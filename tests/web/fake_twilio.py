"""A fake of Twilio's REST API (Messages.json, Calls.json) as a Starlette app under uvicorn on
127.0.0.1, in a thread of its own: the server talks real HTTP to it.

It checks what Twilio would check (Basic auth with the account SID and token, the account in the
path, To/From/Body or Twiml) and records every request. `mode` makes it fail like Twilio does
("error": 400 with a Twilio error body; "down": 503) or hang ("hang": never answers in time).
"""

from __future__ import annotations

import asyncio
import base64
import re
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "fake-twilio-token-" + "x" * 14
SENDER = "+15005550006"


@dataclass
class Received:
    kind: str  # "sms" or "voice"
    form: dict[str, str]

    @property
    def to(self) -> str:
        return self.form["To"]

    @property
    def code(self) -> str:
        if self.kind == "sms":
            found = re.findall(r"(?<!\d)\d{6}(?!\d)", self.form["Body"])
        else:
            # The voice script spells the code: "1, 2, 3, 4, 5, 6".
            found = [m.replace(", ", "") for m in re.findall(r"\d(?:, \d){5}", self.form["Twiml"])]
        assert found, self.form
        return found[0]


@dataclass
class FakeTwilio:
    port: int = 0
    mode: str = "ok"
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def last(self, kind: str | None = None) -> Received:
        with self.lock:
            found = [r for r in self.received if kind is None or r.kind == kind]
        assert found, "Twilio received nothing"
        return found[-1]

    async def _create(self, request: Request) -> JSONResponse:
        kind = "sms" if request.url.path.endswith("/Messages.json") else "voice"
        expected = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
        if request.headers.get("authorization") != expected:
            return JSONResponse({"code": 20003, "message": "Authenticate"}, status_code=401)
        if request.path_params["sid"] != ACCOUNT_SID:
            return JSONResponse({"code": 20404, "message": "Not found"}, status_code=404)
        form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        if self.mode == "hang":
            await asyncio.sleep(5)
        if self.mode == "down":
            return JSONResponse({"code": 20500, "message": "Internal"}, status_code=503)
        if self.mode == "error":
            return JSONResponse(
                {"code": 21211, "message": f"The 'To' number {form.get('To')} is not valid."},
                status_code=400,
            )
        required = ["To", "From", "Body"] if kind == "sms" else ["To", "From", "Twiml"]
        if any(not form.get(name) for name in required):
            return JSONResponse({"code": 21604, "message": "missing"}, status_code=400)
        with self.lock:
            self.received.append(Received(kind, form))
        prefix = "SM" if kind == "sms" else "CA"
        return JSONResponse(
            {"sid": prefix + secrets.token_hex(16), "status": "queued"}, status_code=201
        )

    async def _account(self, request: Request) -> JSONResponse:
        expected = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
        if request.headers.get("authorization") != expected:
            return JSONResponse({"code": 20003, "message": "Authenticate"}, status_code=401)
        if request.path_params["sid"] != ACCOUNT_SID:
            return JSONResponse({"code": 20404, "message": "Not found"}, status_code=404)
        return JSONResponse({"sid": ACCOUNT_SID, "status": "active"})

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/2010-04-01/Accounts/{sid}.json", self._account, methods=["GET"]),
                Route("/2010-04-01/Accounts/{sid}/Messages.json", self._create, methods=["POST"]),
                Route("/2010-04-01/Accounts/{sid}/Calls.json", self._create, methods=["POST"]),
            ]
        )

    def start(self) -> FakeTwilio:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        config = uvicorn.Config(
            self.app(),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("fake Twilio did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)


def settings_for(fake: FakeTwilio, **extra: Any) -> dict[str, Any]:
    return {
        "twilio_account_sid": ACCOUNT_SID,
        "twilio_auth_token": AUTH_TOKEN,
        "twilio_from": SENDER,
        "twilio_base_url": fake.url,
        "delivery_timeout": 1.0,
        **extra,
    }

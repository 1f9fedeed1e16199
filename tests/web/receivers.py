"""HTTP receivers for delivery tests: any Starlette app under uvicorn on 127.0.0.1 in a thread,
and a webhook receiver that checks Standard Webhooks signatures with the independent
`standardwebhooks` package from PyPI."""

from __future__ import annotations

import base64
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


class ThreadedServer:
    def __init__(self, app: Any) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("receiver did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@dataclass
class WebhookReceiver:
    """Accepts POST /hook when the signature verifies under `secret`; 401 otherwise."""

    secret: str = field(default_factory=new_secret)
    status: int = 204
    verified: list[dict[str, Any]] = field(default_factory=list)
    rejected: int = 0
    headers: list[dict[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadedServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.port}/hook"

    async def _hook(self, request: Request) -> Response:
        body = await request.body()
        try:
            payload = Webhook(self.secret).verify(body, dict(request.headers))
        except WebhookVerificationError:
            with self.lock:
                self.rejected += 1
            return JSONResponse({"error": "bad signature"}, status_code=401)
        with self.lock:
            self.verified.append(payload)
            self.headers.append(dict(request.headers))
        return Response(status_code=self.status)

    def start(self) -> WebhookReceiver:
        self._server = ThreadedServer(
            Starlette(routes=[Route("/hook", self._hook, methods=["POST"])])
        )
        self._server.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()

    def last(self) -> dict[str, Any]:
        with self.lock:
            assert self.verified, f"no verified webhook ({self.rejected} rejected)"
            return self.verified[-1]

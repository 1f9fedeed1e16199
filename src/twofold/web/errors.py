"""OAuthError → JSON response; and the last line of defence that turns anything else into a
500 server_error JSON without a stack trace or an exception message reaching the client.

A backend outage is not "anything else": the adapters raise `BackendUnavailable`, an OAuthError
rendered like any other (503 temporarily_unavailable with Retry-After)."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Message, Receive, Scope, Send

from twofold.core import audit
from twofold.core.errors import BackendUnavailable, OAuthError, ServerError
from twofold.web.middleware import HttpMiddleware

log = logging.getLogger("twofold.web")

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


_NO_STORE_RAW = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in NO_STORE.items()]


class _NoStoreJSON(JSONResponse):
    """A JSONResponse whose usual headers are laid out in advance, in the order Starlette
    writes them; with extra headers (or no body to measure), Starlette's own way."""

    def init_headers(self, headers: Mapping[str, str] | None = None) -> None:
        if headers or self.status_code < 200 or self.status_code in (204, 304):
            super().init_headers({**NO_STORE, **(headers or {})})
            return
        self.raw_headers = [
            *_NO_STORE_RAW,
            (b"content-length", str(len(self.body)).encode("latin-1")),
            (b"content-type", b"application/json"),
        ]


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return _NoStoreJSON(body, status_code=status, headers=headers)


def error_response(exc: OAuthError) -> Response:
    if exc.status >= 500:
        # A backend outage (503) or our own failure: the operator's business, not the client's.
        log.warning("server error %s: %s", exc.error, exc.debug or exc.description)
    elif exc.debug:
        log.info("oauth error %s: %s", exc.error, exc.debug)
    return json_response(exc.body(), exc.status, exc.headers)


async def oauth_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, OAuthError)
    if isinstance(exc, BackendUnavailable):
        runtime = getattr(request.app.state, "runtime", None)
        if runtime is not None:
            runtime.deps.metrics.backend_error(exc.backend)
    return error_response(exc)


def _where(exc: BaseException) -> str:
    # Frames only (file:line:function): exception messages may carry request data.
    frames = traceback.extract_tb(exc.__traceback__)[-6:]
    return " <- ".join(f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno}:{f.name}" for f in frames[::-1])


class RequestContextMiddleware(HttpMiddleware):
    """Records the peer address and user agent for the audit trail of this request."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        agent = next((v for k, v in scope.get("headers", []) if k == b"user-agent"), b"")
        token = audit.request_context.set(
            audit.RequestContext(
                ip=client[0] if client else None,
                user_agent=agent.decode("latin-1")[:200] or None,
            )
        )
        try:
            await self.app(scope, receive, send)
        finally:
            audit.request_context.reset(token)


class CatchAll(HttpMiddleware):
    """Pure ASGI middleware: an unexpected exception becomes a 500 server_error JSON."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            log.error("unhandled %s at %s", type(exc).__name__, _where(exc))
            if started:
                raise
            response = error_response(ServerError())
            await response(scope, receive, send)

"""The one ASGI layer around every HTTP request: the audit trail's request context, CORS, the
security headers, and the last line of defence that turns an unexpected exception into a 500
server_error JSON without a stack trace or an exception message reaching the client.

One layer, one wrapped `send`, instead of a middleware for each: every layer costs the
interpreter a coroutine and a closure per request. What a response carries is what the
separate layers gave it, in the same order: its own headers, then CORS's (`Vary`, the allowed
origin), then the security headers. The catch-all's 500 goes out as it is, without them."""

from __future__ import annotations

import logging
import traceback

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from twofold.core import audit
from twofold.core.errors import ServerError
from twofold.web import cors
from twofold.web.errors import error_response
from twofold.web.middleware import HttpMiddleware

log = logging.getLogger("twofold.web")

_HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")


class Envelope(HttpMiddleware):
    """HSTS when serving TLS; nothing that names the server software."""

    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        super().__init__(app)
        self.security_headers = [(b"x-content-type-options", b"nosniff")]
        if hsts:
            self.security_headers.append(_HSTS)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False
        decision: cors.Decision | None = None
        security_headers = self.security_headers

        async def wrapped_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                if decision is not None:
                    headers += await decision.response_headers()
                headers += security_headers
                message["headers"] = headers
                started = True
            await send(message)

        try:
            token = audit.request_context.set(_request_context(scope))
            try:
                decision = cors.begin(scope)
                if decision is not None and decision.preflight:
                    response = await cors.preflight(decision)
                    # The preflight's answer carries its own CORS headers.
                    decision = None
                    await response(scope, receive, wrapped_send)
                else:
                    await self.app(scope, receive, wrapped_send)
            finally:
                audit.request_context.reset(token)
        except Exception as exc:
            log.error("unhandled %s at %s", type(exc).__name__, _where(exc))
            if started:
                raise
            await error_response(ServerError())(scope, receive, send)


def _request_context(scope: Scope) -> audit.RequestContext:
    """The peer address and user agent, for the audit trail of this request."""
    client = scope.get("client")
    agent = next((v for k, v in scope.get("headers", []) if k == b"user-agent"), b"")
    return audit.RequestContext(
        ip=client[0] if client else None,
        user_agent=agent.decode("latin-1")[:200] or None,
    )


def _where(exc: BaseException) -> str:
    # Frames only (file:line:function): exception messages may carry request data.
    frames = traceback.extract_tb(exc.__traceback__)[-6:]
    return " <- ".join(f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno}:{f.name}" for f in frames[::-1])

"""The shape every pure ASGI middleware of Twofold shares: it works on HTTP requests and lets
other scopes (lifespan) pass through untouched."""

from __future__ import annotations

from collections.abc import Awaitable

from starlette.types import ASGIApp, Receive, Scope, Send


class HttpMiddleware:
    """Subclasses implement `handle`, called for HTTP requests only; `self.app` is the next
    application."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # Not a coroutine itself: it hands over the next one, so a layer costs one coroutine
        # per request instead of two.
        if scope["type"] != "http":
            return self.app(scope, receive, send)
        return self.handle(scope, receive, send)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError

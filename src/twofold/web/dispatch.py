"""Starlette's router, with the routes of a fixed path found by one dictionary look-up.

Starlette tries every route's regular expression in order until one matches, then runs the
endpoint inside a second copy of the exception handling that `ExceptionMiddleware` already
wraps the whole router in. For a request whose path and method a fixed-path route answers, this
router calls that endpoint directly: the same route, the same scope keys, and an exception
reaches the same handlers through `ExceptionMiddleware`. Everything else (path parameters,
405, 404, the slash redirect, mounts, lifespan) goes through Starlette's own loop."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route, Router
from starlette.types import Receive, Scope, Send

Endpoint = Callable[[Request], Awaitable[Response]]


class FixedPathRouter(Router):
    def __init__(self, routes: Sequence[BaseRoute], **kwargs: Any) -> None:
        super().__init__(routes, **kwargs)
        self.fixed: dict[tuple[str, str], tuple[Route, Endpoint]] = {}
        for route in self.routes:
            if not _direct(route):
                continue
            assert isinstance(route, Route)
            for method in route.methods or ():
                # Only where Starlette's loop would pick this very route first.
                if _first_full_match(self.routes, route.path, method) is route:
                    self.fixed.setdefault((route.path, method), (route, route.endpoint))

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = (
            self.fixed.get((scope["path"], scope["method"]))
            if scope["type"] == "http" and not scope.get("root_path")
            else None
        )
        if found is None:
            await super().app(scope, receive, send)
            return
        route, endpoint = found
        if "router" not in scope:
            scope["router"] = self
        scope["route"] = route
        scope["endpoint"] = endpoint
        scope["path_params"] = dict(scope.get("path_params", {}))
        response = await endpoint(Request(scope, receive, send))
        await response(scope, receive, send)


def _direct(route: BaseRoute) -> bool:
    """A plain route of a fixed path whose app is Starlette's wrapper of an async function
    (a route given its own middleware or body limit is not; Twofold gives none)."""
    return (
        type(route) is Route
        and not route.param_convertors
        and inspect.iscoroutinefunction(route.endpoint)
        and route.app.__qualname__ == "request_response.<locals>.app"
    )


def _first_full_match(routes: Sequence[BaseRoute], path: str, method: str) -> BaseRoute | None:
    scope = {"type": "http", "path": path, "root_path": "", "method": method}
    for route in routes:
        if route.matches(scope)[0] is Match.FULL:
            return route
    return None

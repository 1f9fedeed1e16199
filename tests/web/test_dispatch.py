"""The fixed-path router answers exactly as Starlette's loop would: the first matching route,
405 and 404 through the exception handlers, path parameters and mounts untouched."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import pytest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route, Router

from twofold.web.dispatch import FixedPathRouter

pytestmark = pytest.mark.anyio


class Boom(Exception):
    pass


def _says(name: str) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        return JSONResponse(
            {
                "by": name,
                "params": request.path_params,
                "route": getattr(request.scope.get("route"), "path", None),
                "endpoint": request.scope["endpoint"].__name__,
            }
        )

    endpoint.__name__ = name
    return endpoint


async def _boom(request: Request) -> Response:
    raise Boom


async def _status(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return PlainTextResponse(f"handled {exc.status_code}", status_code=exc.status_code)


async def _boom_handler(request: Request, exc: Exception) -> Response:
    return PlainTextResponse(f"boom at {request.url.path}", status_code=418)


ROUTES = [
    Route("/x/{name}", _says("param"), methods=["GET"]),
    Route("/x/fixed", _says("shadowed"), methods=["GET", "POST"]),
    Route("/y", _says("first"), methods=["POST"]),
    Route("/y", _says("second"), methods=["POST", "PUT"]),
    Route("/boom", _boom, methods=["POST"]),
    Mount("/m", routes=[Route("/z", _says("mounted"))]),
]


def _app(router_class: type[Router]) -> Starlette:
    app = Starlette(routes=ROUTES, exception_handlers={HTTPException: _status, Boom: _boom_handler})
    app.router = router_class(ROUTES)
    return app


REQUESTS = [
    ("GET", "/x/fixed"),  # the parameter route comes first and wins
    ("POST", "/x/fixed"),  # the parameter route does not take POST: the fixed route does
    ("POST", "/y"),
    ("PUT", "/y"),
    ("DELETE", "/y"),
    ("POST", "/boom"),
    ("GET", "/m/z"),
    ("GET", "/nowhere"),
    ("POST", "/y/"),
]


async def _answers(router_class: type[Router]) -> list[tuple[int, str, list[tuple[bytes, bytes]]]]:
    transport = httpx.ASGITransport(app=_app(router_class))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        answers = []
        for method, path in REQUESTS:
            resp = await http.request(method, path)
            answers.append((resp.status_code, resp.text, resp.headers.raw))
        return answers


async def test_fixed_path_router_answers_as_starlettes_router() -> None:
    assert await _answers(FixedPathRouter) == await _answers(Router)


async def test_fixed_paths_are_looked_up_only_where_the_loop_would_pick_them() -> None:
    router = FixedPathRouter(ROUTES)
    assert set(router.fixed) == {
        ("/x/fixed", "POST"),
        ("/y", "POST"),
        ("/y", "PUT"),
        ("/boom", "POST"),
    }
    assert router.fixed[("/y", "POST")][1].__name__ == "first"


async def test_the_fixed_path_answer_is_the_route_and_its_handlers() -> None:
    transport = httpx.ASGITransport(app=_app(FixedPathRouter))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        resp = await http.post("/y")
        boom = await http.post("/boom")
        wrong = await http.delete("/y")
    assert resp.json() == {"by": "first", "params": {}, "route": "/y", "endpoint": "first"}
    assert (boom.status_code, boom.text) == (418, "boom at /boom")
    assert (wrong.status_code, wrong.text) == (405, "handled 405")

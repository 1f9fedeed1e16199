"""Auth0's Management API v2 under /api/v2/: authentication, rate limit and scope per call, then
the use case in twofold.core.management. Every error, the shared core's included, is answered
in the Management API's shape `{statusCode, error, message, errorCode}`."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from twofold.core.deps import Deps
from twofold.core.errors import OAuthError
from twofold.core.management import access, users
from twofold.core.management import scopes as s
from twofold.core.management.errors import ManagementError, bad_body, from_oauth
from twofold.web import parsing
from twofold.web.context import runtime
from twofold.web.errors import NO_STORE

MAX_ID_CHARS = 256
Action = Callable[[Deps], Awaitable[Any]]


def _response(body: Any, status: int, headers: dict[str, str]) -> Response:
    if status == 204:
        return Response(status_code=204, headers={**NO_STORE, **headers})
    return JSONResponse(body, status_code=status, headers={**NO_STORE, **headers})


def _error(exc: ManagementError, headers: dict[str, str] | None = None) -> Response:
    return _response(exc.body(), exc.status, {**(headers or {}), **exc.headers})


async def _call(
    request: Request,
    scopes: tuple[str, ...] | Callable[[Any], tuple[str, ...]],
    action: Callable[[Deps, Any], Awaitable[Any]],
    *,
    status: int = 200,
    body: bool = False,
) -> Response:
    deps = runtime(request).deps
    rate: access.RateLimit | None = None
    try:
        caller = await access.authenticate(deps, request.headers.get("authorization"))
        rate = await access.take_call(deps, caller)
        payload = await _json_body(request) if body else None
        caller.require(*(scopes(payload) if callable(scopes) else scopes))
        result = await action(deps, payload)
    except ManagementError as exc:
        return _error(exc, rate.headers() if rate else None)
    except OAuthError as exc:
        return _error(from_oauth(exc), rate.headers() if rate else None)
    return _response(result, status, rate.headers())


async def _json_body(request: Request) -> Any:
    """A JSON object or array, size- and depth-capped."""
    raw = await parsing.read_body(request, runtime(request).max_body_bytes)
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if not raw.strip():
        return {}
    if media != parsing.JSON and not media.endswith("+json"):
        raise ManagementError(
            415, "unsupported_media_type", "Content-Type must be application/json"
        )
    try:
        value = json.loads(raw.decode("utf-8"))
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except (UnicodeError, ValueError, RecursionError):
        raise bad_body("'Invalid JSON'") from None
    if parsing._depth(value) > parsing.MAX_JSON_DEPTH:
        raise bad_body("'The JSON body is nested too deeply'")
    return value


def _path(request: Request, name: str) -> str:
    return unquote(request.path_params[name])[:MAX_ID_CHARS]


def _query(request: Request) -> dict[str, str]:
    return {k: v[:2048] for k, v in request.query_params.items()}


# ----- users


async def list_users(request: Request) -> Response:
    query = _query(request)
    return await _call(request, (s.READ_USERS,), lambda d, _: users.list_users(d, query))


async def create_user(request: Request) -> Response:
    return await _call(
        request, (s.CREATE_USERS,), lambda d, b: users.create_user(d, b), status=201, body=True
    )


async def get_user(request: Request) -> Response:
    user_id = _path(request, "user_id")
    return await _call(request, (s.READ_USERS,), lambda d, _: users.get_user(d, user_id))


async def update_user(request: Request) -> Response:
    user_id = _path(request, "user_id")
    return await _call(
        request, users.update_scopes, lambda d, b: users.update_user(d, user_id, b), body=True
    )


async def delete_user(request: Request) -> Response:
    user_id = _path(request, "user_id")
    return await _call(
        request, (s.DELETE_USERS,), lambda d, _: users.delete_user(d, user_id), status=204
    )


async def users_by_email(request: Request) -> Response:
    query = _query(request)
    return await _call(request, (s.READ_USERS,), lambda d, _: users.users_by_email(d, query))


ROUTES = [
    Route("/api/v2/users", list_users, methods=["GET"]),
    Route("/api/v2/users", create_user, methods=["POST"]),
    Route("/api/v2/users-by-email", users_by_email, methods=["GET"]),
    Route("/api/v2/users/{user_id}", get_user, methods=["GET"]),
    Route("/api/v2/users/{user_id}", update_user, methods=["PATCH"]),
    Route("/api/v2/users/{user_id}", delete_user, methods=["DELETE"]),
]

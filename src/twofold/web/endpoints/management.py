"""Auth0's Management API v2 under /api/v2/: authentication, rate limit and scope per call, then
the use case in twofold.core.management. Every error, the shared core's included, is answered
in the Management API's shape `{statusCode, error, message, errorCode}`."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from twofold.core.deps import Deps
from twofold.core.errors import OAuthError
from twofold.core.management import access, enrollments, factors, logs, methods, users
from twofold.core.management import scopes as s
from twofold.core.management.errors import ManagementError, bad_body, from_oauth
from twofold.web import parsing
from twofold.web.context import runtime
from twofold.web.errors import NO_STORE

MAX_ID_CHARS = 256
PREFIX = "/api/v2/"


def _response(body: Any, status: int, headers: dict[str, str]) -> Response:
    # An action with nothing to say (a delete, a job without errors) answers 204.
    if status == 204 or body is None:
        return Response(status_code=204, headers={**NO_STORE, **headers})
    return JSONResponse(body, status_code=status, headers={**NO_STORE, **headers})


def _error(exc: ManagementError, headers: dict[str, str] | None = None) -> Response:
    return _response(exc.body(), exc.status, {**(headers or {}), **exc.headers})


@dataclass(frozen=True)
class Call:
    """What a Management API use case is handed: path parameters unquoted and capped, the query
    string capped, the parsed body (None when the operation takes none) and the caller."""

    deps: Deps
    path: dict[str, str]
    query: dict[str, str]
    body: Any
    caller: access.Caller


Scopes = tuple[str, ...] | Callable[[Any], tuple[str, ...]]
# How an operation reads its body: True, a JSON document; or its own reader (an upload).
BodyReader = Callable[[Request], Awaitable[Any]]


def unrouted(status: int) -> Response:
    """A path under /api/v2/ that no route serves (404), or a method its route does not take
    (405): Management API clients parse this shape whatever went wrong."""
    if status == 405:
        return _error(ManagementError(405, "method_not_allowed", "Method Not Allowed"))
    return _error(ManagementError(404, "not_found", "Not Found"))


def operation(
    method: str,
    path: str,
    scopes: Scopes,
    action: Callable[[Call], Awaitable[Any]],
    *,
    status: int = 200,
    body: bool | BodyReader = False,
) -> Route:
    """One Management API operation: authentication, rate limit and scope, then `action`."""

    async def endpoint(request: Request) -> Response:
        return await _call(request, scopes, action, status=status, body=body)

    return Route(path, endpoint, methods=[method])


async def _call(
    request: Request,
    scopes: Scopes,
    action: Callable[[Call], Awaitable[Any]],
    *,
    status: int,
    body: bool | BodyReader,
) -> Response:
    deps = runtime(request).deps
    rate: access.RateLimit | None = None
    try:
        caller = await access.authenticate(deps, request.headers.get("authorization"))
        rate = await access.take_call(deps, caller)
        if not callable(scopes):
            # The scope is checked before the body is read: no scope, no parsing.
            caller.require(*scopes)
        reader = _json_body if body is True else body
        payload = await reader(request) if reader else None
        if callable(scopes):
            caller.require(*scopes(payload))
        path = {name: unquote(value)[:MAX_ID_CHARS] for name, value in request.path_params.items()}
        query = {k: v[:2048] for k, v in request.query_params.items()}
        result = await action(Call(deps, path, query, payload, caller))
        if request.method != "GET":
            route = request.scope.get("route")
            operation = f"{request.method} {getattr(route, 'path', request.url.path)}"
            user_id = path.get("user_id")
            if user_id is None and isinstance(result, dict):
                user_id = result.get("user_id")
            await access.record_change(deps, caller, operation, user_id)
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


_USERS = "/api/v2/users"
_USER = "/api/v2/users/{user_id}"
_METHODS = _USER + "/authentication-methods"
_METHOD = _METHODS + "/{method_id}"
_ENROLLMENT = "/api/v2/guardian/enrollments/{enrollment_id}"

ROUTES = [
    # users
    operation("GET", _USERS, (s.READ_USERS,), lambda c: users.list_users(c.deps, c.query)),
    operation(
        "POST",
        _USERS,
        (s.CREATE_USERS,),
        lambda c: users.create_user(c.deps, c.body),
        status=201,
        body=True,
    ),
    operation(
        "GET",
        "/api/v2/users-by-email",
        (s.READ_USERS,),
        lambda c: users.users_by_email(c.deps, c.query),
    ),
    operation(
        "GET", _USER, (s.READ_USERS,), lambda c: users.get_user(c.deps, c.path["user_id"], c.query)
    ),
    operation(
        "PATCH",
        _USER,
        users.update_scopes,
        lambda c: users.update_user(c.deps, c.path["user_id"], c.body),
        body=True,
    ),
    operation(
        "DELETE",
        _USER,
        (s.DELETE_USERS,),
        lambda c: users.delete_user(c.deps, c.path["user_id"]),
        status=204,
    ),
    # authentication methods
    operation(
        "GET",
        _METHODS,
        (s.READ_METHODS,),
        lambda c: methods.list_methods(c.deps, c.path["user_id"], c.query),
    ),
    operation(
        "POST",
        _METHODS,
        (s.CREATE_METHODS,),
        lambda c: methods.create_method(c.deps, c.path["user_id"], c.body, c.caller.client_id),
        status=201,
        body=True,
    ),
    operation(
        "PUT",
        _METHODS,
        (s.UPDATE_METHODS,),
        lambda c: methods.replace_methods(c.deps, c.path["user_id"], c.body, c.caller.client_id),
        body=True,
    ),
    operation(
        "DELETE",
        _METHODS,
        (s.DELETE_METHODS,),
        lambda c: methods.delete_all(c.deps, c.path["user_id"], c.caller.client_id),
        status=204,
    ),
    operation(
        "GET",
        _METHOD,
        (s.READ_METHODS,),
        lambda c: methods.get_method(c.deps, c.path["user_id"], c.path["method_id"]),
    ),
    operation(
        "PATCH",
        _METHOD,
        (s.UPDATE_METHODS,),
        lambda c: methods.update_method(c.deps, c.path["user_id"], c.path["method_id"], c.body),
        body=True,
    ),
    operation(
        "DELETE",
        _METHOD,
        (s.DELETE_METHODS,),
        lambda c: methods.delete_method(
            c.deps, c.path["user_id"], c.path["method_id"], c.caller.client_id
        ),
        status=204,
    ),
    # enrollments, the guardian factors and recovery codes
    operation(
        "DELETE",
        _USER + "/authenticators",
        (s.DELETE_ENROLLMENTS,),
        lambda c: methods.delete_all(c.deps, c.path["user_id"], c.caller.client_id),
        status=204,
    ),
    operation(
        "GET",
        _USER + "/enrollments",
        (s.READ_USERS,),
        lambda c: enrollments.list_enrollments(c.deps, c.path["user_id"]),
    ),
    operation(
        "POST",
        _USER + "/recovery-code-regeneration",
        (s.UPDATE_USERS,),
        lambda c: enrollments.regenerate_recovery_code(c.deps, c.path["user_id"]),
    ),
    operation(
        "POST",
        _USER + "/multifactor/actions/invalidate-remember-browser",
        (s.UPDATE_USERS,),
        lambda c: enrollments.forget_remembered_browsers(c.deps, c.path["user_id"]),
        status=204,
    ),
    operation(
        "GET",
        _ENROLLMENT,
        (s.READ_ENROLLMENTS,),
        lambda c: enrollments.get_enrollment(c.deps, c.path["enrollment_id"]),
    ),
    operation(
        "DELETE",
        _ENROLLMENT,
        (s.DELETE_ENROLLMENTS,),
        lambda c: enrollments.delete_enrollment(
            c.deps, c.path["enrollment_id"], c.caller.client_id
        ),
        status=204,
    ),
    operation(
        "GET",
        "/api/v2/guardian/factors",
        (s.READ_FACTORS,),
        lambda c: factors.list_factors(c.deps),
    ),
    operation(
        "PUT",
        "/api/v2/guardian/factors/{name}",
        (s.UPDATE_FACTORS,),
        lambda c: factors.set_factor(c.deps, c.path["name"], c.body),
        body=True,
    ),
    # logs
    operation("GET", "/api/v2/logs", (s.READ_LOGS,), lambda c: logs.list_logs(c.deps, c.query)),
    operation(
        "GET",
        "/api/v2/logs/{log_id}",
        (s.READ_LOGS,),
        lambda c: logs.get_log(c.deps, c.path["log_id"]),
    ),
    operation(
        "GET",
        _USER + "/logs",
        (s.READ_LOGS_USERS, s.READ_LOGS),
        lambda c: logs.list_logs(c.deps, c.query, user_id=c.path["user_id"]),
    ),
]

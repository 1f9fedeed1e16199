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
from twofold.core.management import access, enrollments, factors, logs, methods, users
from twofold.core.management import scopes as s
from twofold.core.management.errors import ManagementError, bad_body, from_oauth
from twofold.web import parsing
from twofold.web.context import runtime
from twofold.web.errors import NO_STORE

MAX_ID_CHARS = 256


def _response(body: Any, status: int, headers: dict[str, str]) -> Response:
    # An action with nothing to say (a delete, a job without errors) answers 204.
    if status == 204 or body is None:
        return Response(status_code=204, headers={**NO_STORE, **headers})
    return JSONResponse(body, status_code=status, headers={**NO_STORE, **headers})


def _error(exc: ManagementError, headers: dict[str, str] | None = None) -> Response:
    return _response(exc.body(), exc.status, {**(headers or {}), **exc.headers})


async def _call(
    request: Request,
    scopes: tuple[str, ...] | Callable[[Any], tuple[str, ...]],
    action: Callable[[Deps, Any, access.Caller], Awaitable[Any]],
    *,
    status: int = 200,
    body: bool = False,
) -> Response:
    deps = runtime(request).deps
    rate: access.RateLimit | None = None
    try:
        caller = await access.authenticate(deps, request.headers.get("authorization"))
        rate = await access.take_call(deps, caller)
        if not callable(scopes):
            # The scope is checked before the body is read: no scope, no parsing.
            caller.require(*scopes)
        payload = await _json_body(request) if body else None
        if callable(scopes):
            caller.require(*scopes(payload))
        result = await action(deps, payload, caller)
        if request.method != "GET":
            route = request.scope.get("route")
            operation = f"{request.method} {getattr(route, 'path', request.url.path)}"
            user_id = _path(request, "user_id") if "user_id" in request.path_params else None
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


def _path(request: Request, name: str) -> str:
    return unquote(request.path_params[name])[:MAX_ID_CHARS]


def _query(request: Request) -> dict[str, str]:
    return {k: v[:2048] for k, v in request.query_params.items()}


# ----- users


async def list_users(request: Request) -> Response:
    query = _query(request)
    return await _call(request, (s.READ_USERS,), lambda d, _, __: users.list_users(d, query))


async def create_user(request: Request) -> Response:
    return await _call(
        request, (s.CREATE_USERS,), lambda d, b, _: users.create_user(d, b), status=201, body=True
    )


async def get_user(request: Request) -> Response:
    user_id = _path(request, "user_id")
    return await _call(request, (s.READ_USERS,), lambda d, _, __: users.get_user(d, user_id))


async def update_user(request: Request) -> Response:
    user_id = _path(request, "user_id")
    return await _call(
        request, users.update_scopes, lambda d, b, _: users.update_user(d, user_id, b), body=True
    )


async def delete_user(request: Request) -> Response:
    user_id = _path(request, "user_id")
    return await _call(
        request, (s.DELETE_USERS,), lambda d, _, __: users.delete_user(d, user_id), status=204
    )


async def users_by_email(request: Request) -> Response:
    query = _query(request)
    return await _call(request, (s.READ_USERS,), lambda d, _, __: users.users_by_email(d, query))


# ----- authentication methods


async def list_methods(request: Request) -> Response:
    user_id, query = _path(request, "user_id"), _query(request)
    return await _call(
        request, (s.READ_METHODS,), lambda d, _, __: methods.list_methods(d, user_id, query)
    )


async def create_method(request: Request) -> Response:
    user_id = _path(request, "user_id")
    return await _call(
        request,
        (s.CREATE_METHODS,),
        lambda d, b, c: methods.create_method(d, user_id, b, c.client_id),
        status=201,
        body=True,
    )


async def replace_methods(request: Request) -> Response:
    user_id = _path(request, "user_id")
    return await _call(
        request,
        (s.UPDATE_METHODS,),
        lambda d, b, c: methods.replace_methods(d, user_id, b, c.client_id),
        body=True,
    )


async def delete_methods(request: Request) -> Response:
    user_id = _path(request, "user_id")
    return await _call(
        request,
        (s.DELETE_METHODS,),
        lambda d, _, c: methods.delete_all(d, user_id, c.client_id),
        status=204,
    )


async def get_method(request: Request) -> Response:
    user_id, method_id = _path(request, "user_id"), _path(request, "method_id")
    return await _call(
        request, (s.READ_METHODS,), lambda d, _, __: methods.get_method(d, user_id, method_id)
    )


async def update_method(request: Request) -> Response:
    user_id, method_id = _path(request, "user_id"), _path(request, "method_id")
    return await _call(
        request,
        (s.UPDATE_METHODS,),
        lambda d, b, _: methods.update_method(d, user_id, method_id, b),
        body=True,
    )


async def delete_method(request: Request) -> Response:
    user_id, method_id = _path(request, "user_id"), _path(request, "method_id")
    return await _call(
        request,
        (s.DELETE_METHODS,),
        lambda d, _, c: methods.delete_method(d, user_id, method_id, c.client_id),
        status=204,
    )


async def delete_authenticators(request: Request) -> Response:
    user_id = _path(request, "user_id")
    return await _call(
        request,
        (s.DELETE_ENROLLMENTS,),
        lambda d, _, c: methods.delete_all(d, user_id, c.client_id),
        status=204,
    )


async def list_enrollments(request: Request) -> Response:
    user_id = _path(request, "user_id")
    return await _call(
        request, (s.READ_USERS,), lambda d, _, __: enrollments.list_enrollments(d, user_id)
    )


async def get_enrollment(request: Request) -> Response:
    enrollment_id = _path(request, "enrollment_id")
    return await _call(
        request,
        (s.READ_ENROLLMENTS,),
        lambda d, _, __: enrollments.get_enrollment(d, enrollment_id),
    )


async def delete_enrollment(request: Request) -> Response:
    enrollment_id = _path(request, "enrollment_id")
    return await _call(
        request,
        (s.DELETE_ENROLLMENTS,),
        lambda d, _, c: enrollments.delete_enrollment(d, enrollment_id, c.client_id),
        status=204,
    )


async def regenerate_recovery_code(request: Request) -> Response:
    user_id = _path(request, "user_id")
    return await _call(
        request,
        (s.UPDATE_USERS,),
        lambda d, _, __: enrollments.regenerate_recovery_code(d, user_id),
    )


async def list_factors(request: Request) -> Response:
    return await _call(request, (s.READ_FACTORS,), lambda d, _, __: factors.list_factors(d))


async def set_factor(request: Request) -> Response:
    name = _path(request, "name")
    return await _call(
        request, (s.UPDATE_FACTORS,), lambda d, b, _: factors.set_factor(d, name, b), body=True
    )


# ----- logs


async def list_logs(request: Request) -> Response:
    query = _query(request)
    return await _call(request, (s.READ_LOGS,), lambda d, _, __: logs.list_logs(d, query))


async def get_log(request: Request) -> Response:
    log_id = _path(request, "log_id")
    return await _call(request, (s.READ_LOGS,), lambda d, _, __: logs.get_log(d, log_id))


async def user_logs(request: Request) -> Response:
    user_id, query = _path(request, "user_id"), _query(request)
    return await _call(
        request,
        (s.READ_LOGS_USERS, s.READ_LOGS),
        lambda d, _, __: logs.list_logs(d, query, user_id=user_id),
    )


_METHODS = "/api/v2/users/{user_id}/authentication-methods"

ROUTES = [
    Route("/api/v2/users", list_users, methods=["GET"]),
    Route("/api/v2/users", create_user, methods=["POST"]),
    Route("/api/v2/users-by-email", users_by_email, methods=["GET"]),
    Route("/api/v2/users/{user_id}", get_user, methods=["GET"]),
    Route("/api/v2/users/{user_id}", update_user, methods=["PATCH"]),
    Route("/api/v2/users/{user_id}", delete_user, methods=["DELETE"]),
    Route(_METHODS, list_methods, methods=["GET"]),
    Route(_METHODS, create_method, methods=["POST"]),
    Route(_METHODS, replace_methods, methods=["PUT"]),
    Route(_METHODS, delete_methods, methods=["DELETE"]),
    Route(_METHODS + "/{method_id}", get_method, methods=["GET"]),
    Route(_METHODS + "/{method_id}", update_method, methods=["PATCH"]),
    Route(_METHODS + "/{method_id}", delete_method, methods=["DELETE"]),
    Route("/api/v2/users/{user_id}/authenticators", delete_authenticators, methods=["DELETE"]),
    Route("/api/v2/users/{user_id}/enrollments", list_enrollments, methods=["GET"]),
    Route(
        "/api/v2/users/{user_id}/recovery-code-regeneration",
        regenerate_recovery_code,
        methods=["POST"],
    ),
    Route("/api/v2/guardian/enrollments/{enrollment_id}", get_enrollment, methods=["GET"]),
    Route("/api/v2/guardian/enrollments/{enrollment_id}", delete_enrollment, methods=["DELETE"]),
    Route("/api/v2/guardian/factors", list_factors, methods=["GET"]),
    Route("/api/v2/logs", list_logs, methods=["GET"]),
    Route("/api/v2/logs/{log_id}", get_log, methods=["GET"]),
    Route("/api/v2/users/{user_id}/logs", user_logs, methods=["GET"]),
    Route("/api/v2/guardian/factors/{name}", set_factor, methods=["PUT"]),
]

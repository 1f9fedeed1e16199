"""Auth0's My Account API under /me/v1/: the caller's token, the operation's scope, the JSON
body, then the use case in twofold.core.my_account. Every error, the shared core's included and
a path or method this API does not have, is answered as RFC 7807 problem details
(application/problem+json), never in the OAuth or Management API shape."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from twofold.core.deps import Deps
from twofold.core.errors import OAuthError
from twofold.core.my_account import caller as callers
from twofold.core.my_account import enrol, factors, methods, verify
from twofold.core.my_account.caller import Caller
from twofold.core.my_account.problems import Problem, from_oauth, invalid
from twofold.web import parsing
from twofold.web.context import runtime
from twofold.web.errors import NO_STORE

PREFIX = "/me/v1"
PROBLEM_JSON = "application/problem+json"
MAX_ID_CHARS = 256

READ_FACTORS = "read:me:factors"
READ_METHODS = "read:me:authentication_methods"
CREATE_METHODS = "create:me:authentication_methods"
UPDATE_METHODS = "update:me:authentication_methods"
DELETE_METHODS = "delete:me:authentication_methods"


@dataclass(frozen=True)
class Call:
    """What a My Account use case is handed: the caller, the method id of the path (capped),
    the `type` query parameter and the parsed body (empty when the operation takes none)."""

    deps: Deps
    caller: Caller
    method_id: str
    type_filter: str | None
    body: dict[str, Any]


Action = Callable[[Call], Awaitable[Any]]


def problem_response(problem: Problem) -> Response:
    return JSONResponse(
        problem.body(),
        status_code=problem.status,
        media_type=PROBLEM_JSON,
        headers={**NO_STORE, **problem.headers},
    )


def is_my_account_path(path: str) -> bool:
    return path == "/me" or path.startswith("/me/")


def routing_problem(request: Request, status: int) -> Response:
    """No such path (404) or method (405) under /me."""
    if status == 405:
        return problem_response(Problem(405, f"{request.method[:16]} is not allowed here"))
    where = f"{request.method[:16]} {request.url.path[:200]}"
    return problem_response(Problem(404, f"The requested resource {where} was not found."))


async def _body(request: Request) -> dict[str, Any]:
    """A JSON object (an empty body is an empty object)."""
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media not in ("", parsing.JSON) and not media.endswith("+json"):
        raise Problem(415, "Content-Type must be application/json")
    return await parsing.parse_body(request, runtime(request).max_body_bytes)


def operation(method: str, path: str, scope: str, action: Action, **options: Any) -> Route:
    """One My Account operation: the caller's token and the scope, then `action` (`status` of
    its answer, whether it reads a `body`)."""
    endpoint = partial(_call, scope=scope, action=action, **options)
    return Route(PREFIX + path, endpoint, methods=[method])


async def _call(
    request: Request, *, scope: str, action: Action, status: int = 200, body: bool = False
) -> Response:
    deps = runtime(request).deps
    try:
        caller = await callers.from_bearer(deps, request.headers.get("authorization"))
        # The scope is checked before the body is read: no scope, no parsing.
        caller.require(scope)
        payload = await _body(request) if body else {}
        method_id = str(request.path_params.get("method_id", ""))[:MAX_ID_CHARS]
        call = Call(deps, caller, method_id, _type_filter(request), payload)
        result = await action(call)
    except Problem as exc:
        return problem_response(exc)
    except OAuthError as exc:
        return problem_response(from_oauth(exc))
    if status == 204:
        return Response(status_code=204, headers=NO_STORE)
    headers = dict(NO_STORE)
    if status == 202:
        method_id = quote(str(result["id"]), safe="")
        headers["Location"] = f"{deps.issuer}me/v1/authentication-methods/{method_id}"
    return JSONResponse(result, status_code=status, headers=headers)


def _type_filter(request: Request) -> str | None:
    values = request.query_params.getlist("type")
    if len(values) > 1:
        raise invalid("type", "type may be given once", source="query")
    return values[0][:64] if values else None


_METHODS = "/authentication-methods"
_METHOD = _METHODS + "/{method_id}"

ROUTES = [
    operation("GET", "/factors", READ_FACTORS, lambda c: factors.list_factors(c.deps)),
    operation(
        "GET",
        _METHODS,
        READ_METHODS,
        lambda c: methods.list_methods(c.deps, c.caller, c.type_filter),
    ),
    operation(
        "POST",
        _METHODS,
        CREATE_METHODS,
        lambda c: enrol.enrol(c.deps, c.caller, c.body),
        status=202,
        body=True,
    ),
    operation(
        "GET", _METHOD, READ_METHODS, lambda c: methods.get_method(c.deps, c.caller, c.method_id)
    ),
    operation(
        "PATCH",
        _METHOD,
        UPDATE_METHODS,
        lambda c: methods.update_method(c.deps, c.caller, c.method_id, c.body),
        body=True,
    ),
    operation(
        "DELETE",
        _METHOD,
        DELETE_METHODS,
        lambda c: methods.delete_method(c.deps, c.caller, c.method_id),
        status=204,
    ),
    operation(
        "POST",
        _METHOD + "/verify",
        CREATE_METHODS,
        lambda c: verify.verify(c.deps, c.caller, c.method_id, c.body),
        status=201,
        body=True,
    ),
]

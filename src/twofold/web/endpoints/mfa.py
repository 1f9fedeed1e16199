"""The MFA API: /mfa/challenge, /mfa/associate, /mfa/authenticators[/{id}]."""

from __future__ import annotations

from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import Response

from twofold.core.mfa import associate as associate_uc
from twofold.core.mfa import bearer, manage
from twofold.core.mfa import challenge as challenge_uc
from twofold.web import parsing
from twofold.web.context import runtime
from twofold.web.errors import NO_STORE, json_response


async def challenge(request: Request) -> Response:
    rt = runtime(request)
    params = parsing.string_params(await parsing.parse_body(request, rt.max_body_bytes))
    creds = parsing.client_credentials(request, params)
    return json_response(await challenge_uc.challenge(rt.deps, params, creds))


async def associate(request: Request) -> Response:
    rt = runtime(request)
    principal = await bearer.from_bearer(rt.deps, request.headers.get("authorization"))
    body = await parsing.parse_body(request, rt.max_body_bytes)
    return json_response(await associate_uc.associate(rt.deps, principal, body))


async def list_authenticators(request: Request) -> Response:
    rt = runtime(request)
    principal = await bearer.from_bearer(rt.deps, request.headers.get("authorization"))
    return json_response(await manage.list_authenticators(rt.deps, principal))


async def delete_authenticator(request: Request) -> Response:
    rt = runtime(request)
    principal = await bearer.from_bearer(rt.deps, request.headers.get("authorization"))
    authenticator_id = unquote(request.path_params["authenticator_id"])[:256]
    await manage.delete_authenticator(rt.deps, principal, authenticator_id)
    return Response(status_code=204, headers=NO_STORE)

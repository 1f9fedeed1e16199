"""GET|POST /userinfo and POST /oauth/revoke."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from twofold.core import revocation
from twofold.core import userinfo as userinfo_uc
from twofold.web import cors, parsing
from twofold.web.context import runtime
from twofold.web.errors import NO_STORE, json_response


async def userinfo(request: Request) -> Response:
    rt = runtime(request)
    info = await userinfo_uc.userinfo(rt.deps, request.headers.get("authorization"))
    await cors.name_client_id(request, info.client_id)
    return json_response(info.claims)


async def revoke(request: Request) -> Response:
    rt = runtime(request)
    params = parsing.string_params(await parsing.parse_body(request, rt.max_body_bytes))
    await cors.name_client(request, params)
    creds = parsing.client_credentials(request, params)
    await revocation.revoke(rt.deps, params, creds)
    return Response(status_code=200, headers=NO_STORE)

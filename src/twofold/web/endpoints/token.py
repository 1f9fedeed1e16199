"""POST /oauth/token: parse, then hand to the core's token exchange."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from twofold.core import audit
from twofold.core.grants import registry
from twofold.web import cors, parsing
from twofold.web.context import runtime
from twofold.web.errors import json_response


async def token(request: Request) -> Response:
    rt = runtime(request)
    params = parsing.token_params(await parsing.parse_body(request, rt.max_body_bytes))
    await cors.name_client(request, params)
    creds = parsing.client_credentials(request, params)
    ip = parsing.end_user_ip(request, params, rt.deps.policy.trusted_forwarding_clients)
    ctx = audit.request_context.get()
    if ip != ctx.ip:
        audit.request_context.set(audit.RequestContext(ip=ip, user_agent=ctx.user_agent))
    tokens = await registry.exchange(rt.deps, params, creds, ip)
    return json_response(tokens.body())

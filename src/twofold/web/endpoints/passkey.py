"""Auth0's native passkey login: POST /passkey/register and POST /passkey/challenge.

Both take a JSON (or form) body and answer `{authn_params_public_key, auth_session}`; the
token exchange is the webauthn grant of POST /oauth/token.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from twofold.core import passkeys
from twofold.web import parsing
from twofold.web.context import runtime
from twofold.web.errors import json_response


async def register(request: Request) -> Response:
    rt = runtime(request)
    body = await parsing.parse_body(request, rt.max_body_bytes)
    return json_response(await passkeys.register(rt.deps, body))


async def challenge(request: Request) -> Response:
    rt = runtime(request)
    body = await parsing.parse_body(request, rt.max_body_bytes)
    return json_response(await passkeys.challenge(rt.deps, body))

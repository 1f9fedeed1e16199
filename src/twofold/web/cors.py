"""CORS for browser apps on /oauth/token, /oauth/revoke and /userinfo, for the web origins
clients registered.

- A preflight (OPTIONS with `Access-Control-Request-Method`) names no client, so it is allowed
  when some client registered the origin. It allows POST (and GET on /userinfo) with the
  `Auth0-Client`, `Content-Type` and `Authorization` headers the Auth0 SDKs send.
- A request that names its client (the `client_id` or Basic user at the token and revocation
  endpoints, the token's `azp` at /userinfo; the endpoint says so with `allow_client`) may be
  read only from that client's own origins: an origin registered by another client gets no
  `Access-Control-Allow-Origin`. A request naming no known client (a malformed one, a bad
  bearer token) falls back to the preflight's rule, so the app can read the error.
- The allowed origin is echoed, never `*`, and credentials (cookies) are never allowed: these
  endpoints are authenticated by what the request carries, not by cookies.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

from twofold.core.deps import Deps
from twofold.core.models import Client
from twofold.web import parsing
from twofold.web.context import runtime

PATHS = {"/oauth/token": "POST", "/oauth/revoke": "POST", "/userinfo": "GET, POST"}
ALLOWED_HEADERS = "Auth0-Client, Content-Type, Authorization"
MAX_AGE = "86400"
_STATE_KEY = "cors"


@dataclass(slots=True)
class Decision:
    """The CORS state of one request to a CORS path that carries an Origin."""

    origin: str
    methods: str
    deps: Deps
    # A preflight is answered here, before the app; it names no client.
    preflight: bool
    # None until the endpoint names the request's client; then whether its origins allow it.
    allowed: bool | None = None

    async def response_headers(self) -> list[tuple[bytes, bytes]]:
        """What the answer to a (non-preflight) request adds, after its own headers."""
        allowed = self.allowed
        if allowed is None:
            allowed = self.origin in await self.deps.web_origins()
        if allowed:
            return [_VARY, (b"access-control-allow-origin", self.origin.encode("latin-1"))]
        return [_VARY]


_VARY = (b"vary", b"Origin")


def begin(scope: Scope) -> Decision | None:
    """The request's CORS state, None when CORS has nothing to say about it; a request that is
    not a preflight gets its state recorded for the endpoint (`allow_client`)."""
    methods = PATHS.get(scope["path"])
    if methods is None:
        return None
    origin = _header(scope, b"origin")
    if origin is None:
        return None
    preflight = scope["method"] == "OPTIONS" and bool(
        _header(scope, b"access-control-request-method")
    )
    decision = Decision(origin, methods, scope["app"].state.runtime.deps, preflight)
    if not preflight:
        scope.setdefault("state", {})[_STATE_KEY] = decision
    return decision


def allow_client(request: Request, client: Client | None) -> None:
    """The request's client is known: only its own web origins may read the answer."""
    decision = request.scope.get("state", {}).get(_STATE_KEY)
    if isinstance(decision, Decision) and client is not None:
        decision.allowed = decision.origin in client.web_origins


async def name_client(request: Request, params: dict[str, str]) -> None:
    """The client a token or revocation request names (`client_id` or the Basic user),
    told to CORS before anything can fail."""
    await name_client_id(request, parsing.claimed_client_id(request, params))


async def name_client_id(request: Request, client_id: str | None) -> None:
    """Tell CORS the request's client by id (unknown ids leave the fallback rule)."""
    if client_id and _STATE_KEY in request.scope.get("state", {}):
        allow_client(request, await runtime(request).deps.client(client_id))


async def preflight(decision: Decision) -> Response:
    """The answer to a preflight: allowed when some client registered the origin."""
    origin, methods = decision.origin, decision.methods
    headers = {"Vary": "Origin"}
    if origin in await decision.deps.web_origins():
        headers.update(
            {
                "Access-Control-Allow-Origin": origin,
                "Access-Control-Allow-Methods": methods,
                "Access-Control-Allow-Headers": ALLOWED_HEADERS,
                "Access-Control-Max-Age": MAX_AGE,
            }
        )
    return Response(status_code=204, headers=headers)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            text: str = value.decode("latin-1")
            return text
    return None

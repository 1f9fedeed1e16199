"""Who may call the Management API, with which scopes, and how often.

Only an access token minted by the client_credentials grant for the Management API audience is
accepted: a user's token, an MFA-API token or an mfa_token is refused (401), whatever its scopes.
A token outlives neither its client (deleted: 401) nor its signing key. Each client has a budget
of calls per minute (`Policy.management_requests_per_minute`), a fixed window shared by every
node through the StateStore; the x-ratelimit-* headers report it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from twofold.core import audit
from twofold.core.claims import TokenInvalid
from twofold.core.deps import Deps
from twofold.core.management.errors import ManagementError, unauthorized

WINDOW_SECONDS = 60
_MAX_TOKEN_CHARS = 8192


@dataclass(frozen=True, slots=True)
class Caller:
    client_id: str
    scopes: frozenset[str]

    def require(self, *any_of: str) -> None:
        """403 insufficient_scope unless the token carries one of these scopes."""
        if not self.scopes.intersection(any_of):
            raise ManagementError(
                403,
                "insufficient_scope",
                f"Insufficient scope, expected any of: {','.join(any_of)}",
            )


@dataclass(frozen=True, slots=True)
class RateLimit:
    limit: int
    remaining: int
    reset: int

    def headers(self) -> dict[str, str]:
        return {
            "x-ratelimit-limit": str(self.limit),
            "x-ratelimit-remaining": str(self.remaining),
            "x-ratelimit-reset": str(self.reset),
        }


async def authenticate(deps: Deps, authorization: str | None) -> Caller:
    if not authorization:
        raise unauthorized("Missing authentication")
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > _MAX_TOKEN_CHARS:
        raise unauthorized("Bad HTTP authentication header format")
    signer = await deps.signer()
    audience = deps.management_audience
    try:
        claims = signer.verify(
            token,
            audience=[audience, audience.rstrip("/")],
            issuer=deps.issuer,
            now=deps.clock.now(),
        )
    except TokenInvalid:
        raise unauthorized() from None
    client_id = claims.get("azp")
    if (
        claims.get("gty") != "client-credentials"
        or not isinstance(client_id, str)
        or claims.get("sub") != f"{client_id}@clients"
    ):
        raise unauthorized()
    client = await deps.client(client_id)
    if client is None:
        raise unauthorized()
    scope = claims.get("scope")
    return Caller(client_id, frozenset(scope.split()) if isinstance(scope, str) else frozenset())


async def record_change(
    deps: Deps, caller: Caller, operation: str, user_id: str | None = None
) -> None:
    """A `sapi` event for a change made through the API: which client did what, to whom."""
    await audit.record(
        deps,
        audit.MANAGEMENT_OPERATION,
        user_id=user_id,
        client_id=caller.client_id,
        operation=operation,
    )


async def take_call(deps: Deps, caller: Caller) -> RateLimit:
    """Count one call against the client's budget; 429 too_many_requests past it."""
    limit = deps.policy.management_requests_per_minute
    now = deps.clock.now()
    window = math.floor(now / WINDOW_SECONDS)
    reset = (window + 1) * WINDOW_SECONDS
    used = await deps.state.incr(f"mgmt-rate:{caller.client_id}:{window}", WINDOW_SECONDS + 1)
    rate = RateLimit(limit, max(0, limit - used), reset)
    if used > limit:
        retry = max(1, math.ceil(reset - now))
        raise ManagementError(
            429,
            "too_many_requests",
            "Global limit has been reached",
            headers={**rate.headers(), "Retry-After": str(retry)},
        )
    return rate

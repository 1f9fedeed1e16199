"""Who is calling /me/v1: a user's access token for the My Account API, and nothing else.

The token must be a JWT this issuer signed for `https://{domain}/me/` (with or without the
trailing slash). An mfa_token, an MFA-API token, a Management API token or a token for any other
API is refused (401), whatever its scopes: each API's tokens name it as their audience. The
user must still exist and not be blocked.

A token minted with the password alone (no `mfa` in its `amr`: the user had no factor then, so it
was how they could enrol one) is worth no more than that password: once the user has a factor
that counts, it is refused, exactly as the MFA API refuses such a token; a new login goes through
the factor. While the user has none, it may still confirm the enrolment it started.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from twofold.core import audit
from twofold.core.claims import TokenInvalid
from twofold.core.deps import Deps
from twofold.core.errors import UserBlocked
from twofold.core.mfa.bearer import looks_like_jwt, passed_mfa, verify_api_token
from twofold.core.mfa.enrolled import is_enrolled
from twofold.core.models import User
from twofold.core.my_account.problems import Problem, insufficient_scope, unauthorized

PASSWORD_ONLY = (
    "The token was issued without a second factor, and the user has one now: log in again"
)


@dataclass(frozen=True, slots=True)
class Caller:
    user: User
    client_id: str
    scopes: frozenset[str]

    @property
    def user_id(self) -> str:
        return self.user.user_id

    @property
    def credential(self) -> str:
        """Whose enrolment allowance a call draws on: My Account tokens of one user and client
        share one (`mfa.enrolment_limits`)."""
        return f"my_account:{self.user_id}:{self.client_id}"

    def require(self, scope: str) -> None:
        """The scope, in Auth0's spelling or with hyphens (`read:me:authentication-methods`)."""
        if scope not in self.scopes and scope.replace("_", "-") not in self.scopes:
            raise insufficient_scope(scope)


def _token(authorization: str | None) -> str:
    if not authorization:
        raise Problem(401, "Missing authorization header")
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Problem(401, "Invalid authorization header")
    return token


async def from_bearer(deps: Deps, authorization: str | None) -> Caller:
    token = _token(authorization)
    if not looks_like_jwt(token):
        raise unauthorized("Invalid token")
    try:
        claims = await verify_api_token(deps, token, deps.my_account_audience)
    except TokenInvalid:
        raise unauthorized("Invalid token") from None
    subject = claims.get("sub")
    user = await deps.storage.users.get(subject) if isinstance(subject, str) else None
    if user is None:
        raise unauthorized("Invalid token")
    if user.blocked:
        raise UserBlocked()
    if not passed_mfa(claims) and await is_enrolled(deps, user.user_id, user=user):
        raise unauthorized(PASSWORD_ONLY)
    scope = claims.get("scope")
    return Caller(
        user=user,
        client_id=str(claims.get("azp", "")),
        scopes=frozenset(scope.split()) if isinstance(scope, str) else frozenset(),
    )


async def record(deps: Deps, event: str, caller: Caller, **details: Any) -> None:
    """An audit event of the caller's own doing."""
    client_id = caller.client_id or None
    await audit.record(deps, event, user_id=caller.user_id, client_id=client_id, **details)

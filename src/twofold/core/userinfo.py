"""GET|POST /userinfo: the signed-in user's claims, for an access token meant for it.

Only a token whose audience includes `https://{domain}/userinfo` (what a login with `openid`
gets) and whose scope has `openid` is answered. An MFA-API token is refused even when it
carries `openid`: it stands for managing factors, not for a login; Management API tokens name
a client, not a user, and never have the userinfo audience. Errors are RFC 6750's, with a
`WWW-Authenticate: Bearer` challenge; a blocked user gets Auth0's 401 "user is blocked".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from twofold.core import profile
from twofold.core.claims import TokenInvalid, audience_ok
from twofold.core.deps import Deps
from twofold.core.errors import InsufficientScope, InvalidToken, UserBlocked

_SCOPE_NEEDED = "openid"


@dataclass(frozen=True, slots=True)
class UserInfo:
    claims: dict[str, Any]
    # The client the token was issued to (its `azp`), whose web origins may read the answer.
    client_id: str


def _challenge(error: str | None = None, description: str | None = None) -> dict[str, str]:
    if error is None:
        return {"WWW-Authenticate": "Bearer"}
    value = f'Bearer error="{error}"'
    if description:
        value += f', error_description="{description}"'
    if error == "insufficient_scope":
        value += f', scope="{_SCOPE_NEEDED}"'
    return {"WWW-Authenticate": value}


def _invalid(description: str) -> InvalidToken:
    return InvalidToken(description, headers=_challenge("invalid_token", description))


async def userinfo(deps: Deps, authorization: str | None) -> UserInfo:
    if not authorization:
        raise InvalidToken("Missing authorization header", headers=_challenge())
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise _invalid("Invalid authorization header")
    signer = await deps.signer()
    try:
        claims = signer.verify(
            token, audience=deps.userinfo_audience, issuer=deps.issuer, now=deps.clock.now()
        )
    except TokenInvalid:
        raise _invalid("Invalid token") from None
    if audience_ok(claims.get("aud"), [deps.mfa_audience, deps.mfa_audience.rstrip("/")]):
        raise _invalid("Invalid token")
    scope = claims.get("scope")
    scopes = scope.split() if isinstance(scope, str) else []
    if _SCOPE_NEEDED not in scopes:
        raise InsufficientScope(
            f"Insufficient scope, expected: {_SCOPE_NEEDED}",
            headers=_challenge("insufficient_scope", "The token lacks the openid scope"),
        )
    sub = claims.get("sub")
    user = await deps.storage.users.get(sub) if isinstance(sub, str) else None
    if user is None:
        raise _invalid("Invalid token")
    if user.blocked:
        raise UserBlocked(headers=_challenge("invalid_token", UserBlocked.default_description))
    return UserInfo(
        claims={"sub": user.user_id, **profile.claims(user, scopes)},
        client_id=str(claims.get("azp", "")),
    )

"""Who is calling /mfa/*: an mfa_token or an MFA-API access token.

Also lets an MFA-API access token stand in for the mfa_token at the token endpoint, to confirm an
enrolment made with that access token (as Auth0 lets it).

An MFA-API access token minted without a second factor (no `mfa` in its `amr`: the password-only
token of a user who had no factor yet) is worth no more than that password: once the user has a
factor that counts, every MFA-API endpoint and MFA grant refuses it with the answer an mfa_token
of an enrolled user gets at /mfa/associate (403 access_denied "User is already enrolled"). While
the user has none, it may still confirm the enrolment it started: that confirmation is what gives
the user their first factor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from twofold.core.claims import TokenInvalid
from twofold.core.deps import Deps
from twofold.core.errors import (
    ALREADY_ENROLLED,
    MALFORMED_MFA_TOKEN,
    AccessDenied,
    ExpiredToken,
    InsufficientScope,
    InvalidGrant,
    InvalidToken,
)
from twofold.core.mfa import mfa_tokens
from twofold.core.mfa.enrolled import is_enrolled
from twofold.core.models import MfaToken


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: str
    client_id: str
    kind: Literal["mfa_token", "access_token"]
    scopes: frozenset[str]
    # The mfa_token's record, when the caller presented one.
    mfa_token: MfaToken | None = None

    def require_scope(self, scope: str) -> None:
        """Access tokens need the scope; an mfa_token's rights are fixed instead."""
        if self.kind == "access_token" and scope not in self.scopes:
            raise InsufficientScope(f"Insufficient scope, expected: {scope}")


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2 and len(token) <= 8192


async def verify_api_token(deps: Deps, token: str, audience: str) -> dict[str, object]:
    """The claims of an access token this issuer signed for `audience` (with or without its
    trailing slash); raises TokenInvalid."""
    signer = await deps.signer()
    return signer.verify(
        token,
        audience=[audience, audience.rstrip("/")],
        issuer=deps.issuer,
        now=deps.clock.now(),
    )


async def _verify_access_token(deps: Deps, token: str) -> dict[str, object]:
    return await verify_api_token(deps, token, deps.mfa_audience)


def passed_mfa(claims: dict[str, object]) -> bool:
    amr = claims.get("amr")
    return isinstance(amr, list) and "mfa" in amr


async def _refuse_password_only(deps: Deps, claims: dict[str, object]) -> None:
    """A password-only MFA-API token is refused once its user has a factor that counts."""
    if not passed_mfa(claims) and await is_enrolled(deps, str(claims.get("sub", ""))):
        raise AccessDenied(ALREADY_ENROLLED)


async def from_bearer(deps: Deps, authorization: str | None) -> Principal:
    if not authorization:
        raise InvalidToken("Missing authorization header")
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise InvalidToken("Invalid authorization header")
    if looks_like_jwt(token):
        try:
            claims = await _verify_access_token(deps, token)
        except TokenInvalid:
            raise InvalidToken("Invalid token") from None
        await _refuse_password_only(deps, claims)
        scope = claims.get("scope")
        return Principal(
            user_id=str(claims.get("sub", "")),
            client_id=str(claims.get("azp", "")),
            kind="access_token",
            scopes=frozenset(scope.split()) if isinstance(scope, str) else frozenset(),
        )
    try:
        record = await mfa_tokens.load(deps, token)
    except ExpiredToken:
        raise
    except InvalidGrant:
        raise InvalidToken("Invalid token") from None
    return Principal(
        user_id=record.user_id,
        client_id=record.client_id,
        kind="mfa_token",
        scopes=frozenset(),
        mfa_token=record,
    )


async def for_grant(deps: Deps, mfa_token: str, client_id: str) -> MfaToken:
    """The transaction an MFA grant works on: a live mfa_token, or an MFA-API access token."""
    if looks_like_jwt(mfa_token):
        try:
            claims = await _verify_access_token(deps, mfa_token)
        except TokenInvalid:
            raise InvalidGrant(MALFORMED_MFA_TOKEN) from None
        scope = claims.get("scope")
        now = deps.clock.now()
        record = MfaToken(
            id="",
            user_id=str(claims.get("sub", "")),
            client_id=str(claims.get("azp", "")),
            audience=deps.mfa_audience,
            scope=scope if isinstance(scope, str) else "",
            issued_at=now,
            expires_at=now + deps.policy.mfa_api_token_lifetime,
            via_access_token=True,
        )
        mfa_tokens.check_client(record, client_id)
        await _refuse_password_only(deps, claims)
        return record
    record = await mfa_tokens.load(deps, mfa_token)
    mfa_tokens.check_client(record, client_id)
    return record

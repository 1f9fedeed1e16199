"""Minting token responses: access and ID tokens signed with the current key (RS256 unless the
tenant chose ES256 or EdDSA), rotating refresh tokens.

The audiences of the MFA API and the My Account API never get a refresh token: `offline_access` is
dropped from their scope. Their tokens manage the user's factors, so they must never outlive the
second factor that guarded them."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from twofold.core import profile
from twofold.core.audience import Target
from twofold.core.deps import Deps
from twofold.core.ids import digest, opaque_token
from twofold.core.models import GRANT_REFRESH_TOKEN, Client, RefreshToken, TokenSet, User
from twofold.core.tokens import TokenSigner


def _sign(deps: Deps, signer: TokenSigner, claims: Mapping[str, Any]) -> str:
    """One signature, counted and timed by algorithm."""
    started = time.perf_counter()
    token = signer.sign(claims)
    deps.metrics.token_signed(signer.alg, time.perf_counter() - started)
    return token


async def user_tokens(
    deps: Deps,
    user: User,
    client: Client,
    target: Target,
    scope: str,
    *,
    mfa: bool,
    grant: str,
    family_id: str | None = None,
    amr: Sequence[str] | None = None,
) -> TokenSet:
    tenant = await deps.tenant()
    signer = await deps.signer()
    now = int(deps.clock.now())
    audience, lifetime = target.audience, target.lifetime
    scopes = scope.split()
    if target.manages_factors and "offline_access" in scopes:
        scopes = [s for s in scopes if s != "offline_access"]
        scope = " ".join(scopes)
    # The grant may name its methods (a passkey login); otherwise the password, then MFA.
    methods = list(amr) if amr is not None else (["mfa"] if mfa else ["pwd"])
    aud: str | list[str] = audience
    if "openid" in scopes and audience != deps.userinfo_audience:
        aud = [audience, deps.userinfo_audience]
    access = _sign(
        deps,
        signer,
        {
            "iss": deps.issuer,
            "sub": user.user_id,
            "aud": aud,
            "iat": now,
            "exp": now + lifetime,
            "scope": scope,
            "azp": client.client_id,
            "gty": grant,
            "jti": uuid.uuid4().hex,
            **({"amr": methods} if mfa else {}),
        },
    )
    id_token = None
    if "openid" in scopes:
        claims: dict[str, object] = {
            "iss": deps.issuer,
            "sub": user.user_id,
            "aud": client.client_id,
            "iat": now,
            "exp": now + tenant.id_token_lifetime,
            "auth_time": now,
            "amr": methods,
        }
        claims.update(profile.claims(user, scopes))
        id_token = _sign(deps, signer, claims)
    refresh = None
    if "offline_access" in scopes and GRANT_REFRESH_TOKEN in client.grant_types:
        refresh = opaque_token(48)
        await deps.storage.refresh_tokens.add(
            RefreshToken(
                token_hash=digest(refresh, "refresh_token"),
                family_id=family_id or uuid.uuid4().hex,
                user_id=user.user_id,
                client_id=client.client_id,
                audience=audience,
                scope=scope,
                created_at=float(now),
                expires_at=float(now + tenant.refresh_token_lifetime),
                mfa_at=float(now) if mfa else None,
            )
        )
    return TokenSet(
        access_token=access,
        expires_in=lifetime,
        scope=scope,
        id_token=id_token,
        refresh_token=refresh,
    )


async def client_token(
    deps: Deps, *, client: Client, audience: str, scope: str, lifetime: int
) -> TokenSet:
    signer = await deps.signer()
    now = int(deps.clock.now())
    access = _sign(
        deps,
        signer,
        {
            "iss": deps.issuer,
            "sub": f"{client.client_id}@clients",
            "aud": audience,
            "iat": now,
            "exp": now + lifetime,
            "scope": scope,
            "azp": client.client_id,
            "gty": "client-credentials",
            "jti": uuid.uuid4().hex,
        },
    )
    return TokenSet(access_token=access, expires_in=lifetime, scope=scope)

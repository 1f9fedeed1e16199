"""Minting token responses: access and ID tokens signed with the current key (RS256 unless the
tenant chose ES256 or EdDSA), rotating refresh tokens, and the bare ID token of
response_type=id_token.

A hosted-login sign-in (`SignIn`) is the source of the ID token's auth_time, amr, acr and sid,
at the code exchange and at every refresh of the family it started.

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
from twofold.core.models import (
    GRANT_REFRESH_TOKEN,
    Client,
    RefreshToken,
    Tenant,
    TokenSet,
    User,
)
from twofold.core.signin import SignIn
from twofold.core.tokens import TokenSigner


def _sign(deps: Deps, signer: TokenSigner, claims: Mapping[str, Any]) -> str:
    """One signature, counted and timed by algorithm."""
    started = time.perf_counter()
    token = signer.sign(claims)
    deps.metrics.token_signed(signer.alg, time.perf_counter() - started)
    return token


def _methods(sign_in: SignIn | None, mfa: bool, amr: Sequence[str] | None) -> list[str]:
    """The `amr` of a login: the sign-in's, else what the grant names (a passkey login), else
    the password, then MFA."""
    if sign_in is not None:
        return list(sign_in.amr)
    if amr is not None:
        return list(amr)
    return ["mfa"] if mfa else ["pwd"]


def _id_token_claims(
    deps: Deps,
    tenant: Tenant,
    user: User,
    client: Client,
    scopes: Sequence[str],
    now: int,
    *,
    methods: Sequence[str],
    sign_in: SignIn | None,
    nonce: str | None,
) -> dict[str, object]:
    claims: dict[str, object] = {
        "iss": deps.issuer,
        "sub": user.user_id,
        "aud": client.client_id,
        "iat": now,
        "exp": now + tenant.id_token_lifetime,
        # A sign-in keeps its own time through every refresh: `max_age` and step-up checks
        # measure from when the user authenticated, not from when a token was minted.
        "auth_time": sign_in.auth_time if sign_in is not None else now,
        "amr": list(methods),
    }
    if sign_in is not None:
        if sign_in.acr is not None:
            claims["acr"] = sign_in.acr
        if sign_in.sid:
            claims["sid"] = sign_in.sid
    if nonce is not None:
        claims["nonce"] = nonce
    claims.update(profile.claims(user, scopes))
    return claims


async def user_tokens(
    deps: Deps,
    user: User,
    client: Client,
    target: Target,
    scope: str,
    *,
    mfa: bool,
    grant: str | None,
    family_id: str | None = None,
    amr: Sequence[str] | None = None,
    sign_in: SignIn | None = None,
    nonce: str | None = None,
) -> TokenSet:
    """`sign_in`: the hosted-login sign-in the tokens come from (an authorization code, or a
    refresh family it started): the ID token's auth_time, amr, acr and sid are its, and a
    refresh token carries it on. `nonce`: echoed in the ID token (the /authorize request's)."""
    tenant = await deps.tenant()
    signer = await deps.signer()
    now = int(deps.clock.now())
    audience, lifetime = target.audience, target.lifetime
    scopes = scope.split()
    if target.manages_factors and "offline_access" in scopes:
        scopes = [s for s in scopes if s != "offline_access"]
        scope = " ".join(scopes)
    methods = _methods(sign_in, mfa, amr)
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
            "jti": uuid.uuid4().hex,
            # Auth0 names the grant of a password, refresh or MFA login; a code's has none.
            **({"gty": grant} if grant else {}),
            **({"amr": methods} if mfa else {}),
        },
    )
    id_token = None
    if "openid" in scopes:
        claims = _id_token_claims(
            deps, tenant, user, client, scopes, now, methods=methods, sign_in=sign_in, nonce=nonce
        )
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
                **_sign_in_columns(sign_in),
            )
        )
    return TokenSet(
        access_token=access,
        expires_in=lifetime,
        scope=scope,
        id_token=id_token,
        refresh_token=refresh,
    )


def _sign_in_columns(sign_in: SignIn | None) -> dict[str, Any]:
    if sign_in is None:
        return {}
    return {
        "auth_time": sign_in.auth_time,
        "amr": sign_in.amr,
        "acr": sign_in.acr,
        "sid": sign_in.sid,
    }


def sign_in_of(token: RefreshToken) -> SignIn | None:
    """The sign-in a refresh family carries; None for a family of another grant (or from
    before the sign-in was kept), which refreshes as it always did."""
    if token.auth_time is None:
        return None
    return SignIn(
        user_id=token.user_id,
        sid=token.sid or "",
        auth_time=token.auth_time,
        amr=token.amr or (),
        acr=token.acr,
    )


async def id_token_only(
    deps: Deps, user: User, client: Client, sign_in: SignIn, *, scope: str, nonce: str
) -> str:
    """The ID token /authorize answers for response_type=id_token: no access token, no code,
    so no at_hash or c_hash; the `nonce` binds it to the app's request. The scope's `profile`
    and `email` release the user's claims, as in the code flow's ID token."""
    tenant = await deps.tenant()
    signer = await deps.signer()
    now = int(deps.clock.now())
    claims = _id_token_claims(
        deps,
        tenant,
        user,
        client,
        scope.split(),
        now,
        methods=sign_in.amr,
        sign_in=sign_in,
        nonce=nonce,
    )
    return _sign(deps, signer, claims)


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

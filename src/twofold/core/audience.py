"""Which audience and scopes a token request may get."""

from __future__ import annotations

from dataclasses import dataclass

from twofold.core.deps import Deps
from twofold.core.errors import AccessDenied
from twofold.core.models import (
    MANAGEMENT_API_NAME,
    MANAGEMENT_SCOPES,
    MANAGEMENT_TOKEN_LIFETIME,
    MFA_SCOPES,
    MY_ACCOUNT_SCOPE_SPELLINGS,
    MY_ACCOUNT_SCOPES,
    OIDC_SCOPES,
    Api,
)


@dataclass(frozen=True, slots=True)
class Target:
    audience: str
    # Scopes the API defines (empty for userinfo-only tokens).
    api_scopes: tuple[str, ...]
    lifetime: int
    # The MFA API or the My Account API: the token manages the user's own factors, so it needs
    # the second factor once the user has one (`mfa.policy`).
    manages_factors: bool = False
    # Other spellings of api_scopes a request may name (granted as asked, never by default).
    also_accepted: tuple[str, ...] = ()


async def find_api(deps: Deps, identifier: str) -> Api | None:
    """A registered API, or the built-in Management API (its scopes are Auth0's)."""
    if deps.is_management_audience(identifier):
        return Api(
            identifier=deps.management_audience,
            name=MANAGEMENT_API_NAME,
            scopes=MANAGEMENT_SCOPES,
            token_lifetime=MANAGEMENT_TOKEN_LIFETIME,
        )
    return await deps.api(identifier)


async def resolve(deps: Deps, requested: str | None) -> Target:
    tenant = await deps.tenant()
    audience = requested or tenant.default_audience
    if not audience or audience == deps.userinfo_audience:
        return Target(deps.userinfo_audience, (), tenant.access_token_lifetime)
    if deps.is_mfa_audience(audience):
        return Target(deps.mfa_audience, MFA_SCOPES, deps.policy.mfa_api_token_lifetime, True)
    if deps.is_my_account_audience(audience):
        return Target(
            deps.my_account_audience,
            MY_ACCOUNT_SCOPES,
            deps.policy.mfa_api_token_lifetime,
            manages_factors=True,
            also_accepted=MY_ACCOUNT_SCOPE_SPELLINGS,
        )
    if deps.is_management_audience(audience):
        # The Management API is for machines (client_credentials); no user token is minted for it.
        raise AccessDenied(f"Service not found: {audience}")
    api = await deps.api(audience)
    if api is None:
        raise AccessDenied(f"Service not found: {audience}")
    return Target(api.identifier, api.scopes, api.token_lifetime)


def grant_scopes(target: Target, requested: str | None) -> str:
    """Requested scopes the target knows of; all of the API's when none are asked for
    (Auth0's implied trust for first-party password grants)."""
    if requested is None or not requested.strip():
        return " ".join(target.api_scopes)
    allowed = OIDC_SCOPES | set(target.api_scopes) | set(target.also_accepted)
    seen: list[str] = []
    for scope in requested.split():
        if scope in allowed and scope not in seen:
            seen.append(scope)
    return " ".join(seen)

"""grant_type=refresh_token with rotation: every use returns a new refresh token, and reuse of a
rotated one revokes the whole family (a stolen token is useless once either party uses it).

The MFA policy is applied again at every exchange, as at password time: a family issued without
a second factor, where one is now needed (the user has since enrolled one, or the tenant now
requires MFA), is revoked and answered 403 mfa_required with a fresh mfa_token. A refresh token
must not carry a password-only session past the user's first enrolment."""

from __future__ import annotations

from twofold.core import audience, issuance
from twofold.core.deps import Deps
from twofold.core.errors import InvalidGrant, InvalidScope, UserBlocked
from twofold.core.grants.base import GrantRequest
from twofold.core.ids import digest
from twofold.core.mfa import policy
from twofold.core.models import GRANT_REFRESH_TOKEN, TokenSet

GRANT_TYPE = GRANT_REFRESH_TOKEN
INVALID_REFRESH = "Unknown or invalid refresh token."


async def handle(deps: Deps, req: GrantRequest) -> TokenSet:
    presented = req.required("refresh_token")
    token_hash = digest(presented, "refresh_token")
    stored = await deps.storage.refresh_tokens.get(token_hash)
    now = deps.clock.now()
    if stored is None or stored.client_id != req.client.client_id or stored.expires_at <= now:
        raise InvalidGrant(INVALID_REFRESH)
    scope = stored.scope
    if requested := req.optional("scope"):
        narrowed = requested.split()
        if not set(narrowed) <= set(stored.scope.split()):
            raise InvalidScope("Requested scope exceeds the original grant")
        scope = " ".join(narrowed)
    outcome = await deps.storage.refresh_tokens.use(token_hash, now)
    if outcome == "reused":
        await deps.storage.refresh_tokens.revoke_family(stored.family_id)
    if outcome != "ok":
        raise InvalidGrant(INVALID_REFRESH)
    user = await deps.storage.users.get(stored.user_id)
    if user is None:
        raise InvalidGrant(INVALID_REFRESH)
    if user.blocked:
        raise UserBlocked()
    target = await audience.resolve(deps, stored.audience)
    scope = _keep_offline_access(stored.scope, scope)
    if stored.mfa_at is None and await policy.mfa_needed(deps, target, user.user_id):
        await deps.storage.refresh_tokens.revoke_family(stored.family_id)
        await policy.require_mfa(deps, user, req.client.client_id, target, scope)
    return await issuance.user_tokens(
        deps,
        user,
        req.client,
        target,
        scope,
        mfa=stored.mfa_at is not None,
        grant="refresh_token",
        family_id=stored.family_id,
        # A family from the hosted login keeps its sign-in: every refreshed ID token has the
        # login's auth_time, amr, acr and sid, and the new refresh token carries them on.
        sign_in=issuance.sign_in_of(stored),
    )


def _keep_offline_access(stored: str, scope: str) -> str:
    # Keep offline_access so the family goes on rotating even when the caller narrows scope.
    if "offline_access" in stored.split() and "offline_access" not in scope.split():
        scope = f"{scope} offline_access".strip()
    return scope

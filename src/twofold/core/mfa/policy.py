"""When a token request needs a second factor, and the mfa_required answer it then gets.

One rule for the password grant and the refresh grant (which applies it again to a family that
was issued without a second factor): the audiences of the MFA API and the My Account API need MFA
once the user has a factor that counts (without one, their token is how the user enrols); any
other audience follows the tenant's `mfa_policy`.
"""

from __future__ import annotations

from typing import NoReturn

from twofold.core import audit
from twofold.core.audience import Target
from twofold.core.deps import Deps
from twofold.core.errors import MfaRequired
from twofold.core.mfa import mfa_tokens
from twofold.core.mfa.enrolled import is_enrolled, requirements
from twofold.core.models import User


async def mfa_needed(deps: Deps, target: Target, user_id: str) -> bool:
    if target.manages_factors:
        return await is_enrolled(deps, user_id)
    tenant = await deps.tenant()
    return tenant.mfa_policy == "always"


async def require_mfa(
    deps: Deps, user: User, client_id: str, target: Target, scope: str
) -> NoReturn:
    """Answer 403 mfa_required with a fresh mfa_token bound to this audience and scope."""
    token = await mfa_tokens.issue(
        deps,
        user_id=user.user_id,
        client_id=client_id,
        audience=target.audience,
        scope=scope,
        realm=user.realm,
    )
    await audit.record(deps, audit.MFA_REQUIRED, user_id=user.user_id, client_id=client_id)
    raise MfaRequired(token, await requirements(deps, user.user_id))

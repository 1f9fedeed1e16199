"""POST /mfa/associate: start an enrolment.

The factor asked for (`factors.registry`) stores the new authenticator inactive until an MFA
grant confirms it; a new associate of the same kind replaces the user's older unconfirmed one.
The recovery code is handed out with the user's first associate only; it stays valid if that
enrolment is abandoned.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from twofold.core import audit
from twofold.core.deps import Deps
from twofold.core.errors import (
    ALREADY_ENROLLED,
    AccessDenied,
    InvalidRequest,
    UserBlocked,
    missing,
)
from twofold.core.factors import recovery
from twofold.core.factors.base import Enrolment, pending
from twofold.core.factors.registry import FACTORS, OOB_KINDS
from twofold.core.ids import authenticator_id
from twofold.core.mfa import enrolment_limits
from twofold.core.mfa.bearer import Principal
from twofold.core.mfa.enrolled import is_enrolled
from twofold.core.models import Authenticator, AuthenticatorKind, User

AUTHENTICATOR_TYPES = ("otp", "oob")


def _strings(body: Mapping[str, Any], name: str) -> list[str]:
    """A parameter that is an array of strings (a lone string is taken as a one-item array)."""
    raw = body.get(name)
    if raw is None or raw == [] or raw == "":
        raise missing(name)
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not all(isinstance(t, str) for t in raw):
        raise InvalidRequest(f"{name} must be an array of strings")
    return list(raw)


def _types(body: Mapping[str, Any]) -> list[str]:
    types = _strings(body, "authenticator_types")
    unknown = [t for t in types if t not in AUTHENTICATOR_TYPES]
    if unknown:
        raise InvalidRequest(f"Unsupported authenticator_types: {unknown[0]}")
    return types


def _oob_channel(body: Mapping[str, Any]) -> str:
    channels = _strings(body, "oob_channels")
    unknown = [c for c in channels if c not in OOB_KINDS]
    if unknown:
        raise InvalidRequest(f"Unsupported oob_channels: {unknown[0][:32]}")
    return channels[0]


async def associate(deps: Deps, principal: Principal, body: Mapping[str, Any]) -> dict[str, Any]:
    principal.require_scope("enroll")
    types = _types(body)
    user = await deps.storage.users.get(principal.user_id)
    if user is None:
        raise AccessDenied("User not found")
    if user.blocked:
        raise UserBlocked()
    authenticators = await deps.storage.authenticators.list_for_user(user.user_id)
    if principal.kind == "mfa_token" and await is_enrolled(
        deps, user.user_id, authenticators, user=user
    ):
        raise AccessDenied(ALREADY_ENROLLED)
    channel = _oob_channel(body) if types[0] == "oob" else None
    kind = OOB_KINDS[channel] if channel is not None else "totp"
    enrolment = await _enrolment(deps, principal, user, body, channel)
    answer = await start(deps, enrolment, kind, authenticators, _credential(principal))
    if codes := await recovery_codes_for_first_enrolment(deps, user, authenticators):
        answer["recovery_codes"] = codes
    return answer


async def start(
    deps: Deps,
    enrolment: Enrolment,
    kind: AuthenticatorKind,
    authenticators: Sequence[Authenticator],
    credential: str,
) -> dict[str, Any]:
    """How every enrolment of a factor starts, asked through the MFA API or the My Account API:
    room for one more of `kind`, one call from the user's and the credential's allowance, then
    the factor stores the inactive authenticator and answers."""
    await enrolment_limits.admit(deps, authenticators, kind, enrolment.user.user_id, credential)
    answer = await FACTORS[kind].enrol(deps, enrolment)
    await audit.record(
        deps,
        audit.START_ENROLL,
        user_id=enrolment.user.user_id,
        client_id=enrolment.client_id or None,
        factor=answer.get("oob_channel") or answer["authenticator_type"],
    )
    return answer


def _credential(principal: Principal) -> str:
    if principal.mfa_token is not None:
        return f"mfa_token:{principal.mfa_token.id}"
    # MFA-API access tokens of one user and client share one allowance.
    return f"access_token:{principal.user_id}:{principal.client_id}"


async def _enrolment(
    deps: Deps, principal: Principal, user: User, body: Mapping[str, Any], channel: str | None
) -> Enrolment:
    tenant = await deps.tenant()
    if principal.kind == "mfa_token" and principal.mfa_token is not None:
        binding, not_after = f"tx:{principal.mfa_token.id}", principal.mfa_token.expires_at
    else:
        binding = f"user:{user.user_id}"
        not_after = deps.clock.now() + deps.policy.mfa_api_token_lifetime
    return Enrolment(user, principal.client_id, tenant, binding, not_after, body, channel)


async def recovery_codes_for_first_enrolment(
    deps: Deps, user: User, authenticators: Sequence[Authenticator]
) -> list[str] | None:
    tenant = await deps.tenant()
    if not tenant.recovery_codes_enabled:
        return None
    if any(a.kind == "recovery-code" for a in authenticators):
        return None
    now = deps.clock.now()
    code = recovery.new_code()
    await deps.storage.recovery_codes.set(user.user_id, recovery.hash_code(code), now)
    row_id = authenticator_id("recovery-code")
    await deps.storage.authenticators.add(pending(row_id, user.user_id, "recovery-code", now))
    return [code]

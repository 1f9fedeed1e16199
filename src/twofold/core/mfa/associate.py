"""POST /mfa/associate (spec §6, decisions 10 and 11): start an enrolment.

The new authenticator is stored inactive until an MFA grant confirms it. A new associate of the
same kind replaces the user's older unconfirmed one. The recovery code is handed out with the
user's first associate only (decision 8); it stays valid if that enrolment is abandoned.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from twofold.core import audit
from twofold.core.deps import Deps
from twofold.core.errors import ALREADY_ENROLLED, AccessDenied, InvalidRequest, missing
from twofold.core.factors import recovery, totp
from twofold.core.grants.mfa_otp import secret_aad
from twofold.core.ids import authenticator_id
from twofold.core.mfa.authenticators import is_enrolled
from twofold.core.mfa.bearer import Principal
from twofold.core.models import Authenticator, User

OobEnroller = Callable[[Deps, Principal, User, Mapping[str, Any]], Awaitable[dict[str, Any]]]
_oob_enroller: OobEnroller | None = None


def register_oob(enroller: OobEnroller) -> None:
    global _oob_enroller
    _oob_enroller = enroller


def _types(body: Mapping[str, Any]) -> list[str]:
    raw = body.get("authenticator_types")
    if raw is None or raw == [] or raw == "":
        raise missing("authenticator_types")
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not all(isinstance(t, str) for t in raw):
        raise InvalidRequest("authenticator_types must be an array of strings")
    unknown = [t for t in raw if t not in ("otp", "oob")]
    if unknown:
        raise InvalidRequest(f"Unsupported authenticator_types: {unknown[0]}")
    return list(raw)


async def associate(deps: Deps, principal: Principal, body: Mapping[str, Any]) -> dict[str, Any]:
    principal.require_scope("enroll")
    types = _types(body)
    user = await deps.storage.users.get(principal.user_id)
    if user is None:
        raise AccessDenied("User not found")
    authenticators = await deps.storage.authenticators.list_for_user(user.user_id)
    if principal.kind == "mfa_token" and await is_enrolled(deps, user.user_id, authenticators):
        raise AccessDenied(ALREADY_ENROLLED)
    tenant = await deps.tenant()
    if types[0] == "oob":
        if _oob_enroller is None:
            raise InvalidRequest("Unsupported authenticator_types: oob")
        answer = await _oob_enroller(deps, principal, user, body)
    else:
        if "otp" not in tenant.enabled_factors:
            raise InvalidRequest("The otp factor is not enabled")
        answer = await _enroll_totp(deps, user, tenant.friendly_name)
    if codes := await recovery_codes_for_first_enrolment(deps, user, authenticators):
        answer["recovery_codes"] = codes
    await audit.record(
        deps,
        audit.START_ENROLL,
        user_id=user.user_id,
        client_id=principal.client_id or None,
        factor=answer.get("oob_channel") or answer["authenticator_type"],
    )
    return answer


async def _enroll_totp(deps: Deps, user: User, issuer: str) -> dict[str, Any]:
    now = deps.clock.now()
    # Replace the user's pending OTP enrolment, but never a pending push enrolment's companion
    # TOTP (it has a link_id): that one belongs to the push enrolment and goes with it.
    stale = [
        a.id
        for a in await deps.storage.authenticators.list_for_user(user.user_id)
        if a.kind == "totp" and not a.active and a.link_id is None
    ]
    if stale:
        await deps.storage.authenticators.delete(stale)
    secret = totp.new_secret()
    new_id = authenticator_id("totp")
    await deps.storage.authenticators.add(
        Authenticator(
            id=new_id,
            user_id=user.user_id,
            kind="totp",
            active=False,
            created_at=now,
            secret_enc=deps.keyring.encrypt(secret.encode(), secret_aad(new_id)),
        )
    )
    return {
        "authenticator_type": "otp",
        "secret": secret,
        "barcode_uri": totp.barcode_uri(secret, issuer, user.email),
    }


async def recovery_codes_for_first_enrolment(
    deps: Deps, user: User, authenticators: Any
) -> list[str] | None:
    tenant = await deps.tenant()
    if not tenant.recovery_codes_enabled:
        return None
    if any(a.kind == "recovery-code" for a in authenticators):
        return None
    now = deps.clock.now()
    code = recovery.new_code()
    await deps.storage.recovery_codes.set(user.user_id, recovery.hash_code(code), now)
    await deps.storage.authenticators.add(
        Authenticator(
            id=authenticator_id("recovery-code"),
            user_id=user.user_id,
            kind="recovery-code",
            active=False,
            created_at=now,
        )
    )
    return [code]

"""A user's authentication methods as the My Account API shows them.

The same authenticators the MFA API and the Management API see, grouped the Management API's
way (a linked sms+voice pair is one `phone` method led by its first row; a push enrolment and its
companion TOTP are one `push-notification` method; either row's id finds the method), plus the
user's passkeys, which the MFA API does not show. Each method says how it is used: a passkey
signs the user in (`primary`), every other method is a second factor (`secondary`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from twofold.core.deps import Deps
from twofold.core.factors import prompt
from twofold.core.factors.base import iso
from twofold.core.management.methods import METHOD_TYPE, Method, group
from twofold.core.mfa import enrolled
from twofold.core.models import User, WebAuthnCredential
from twofold.core.my_account.problems import not_found

# The My Account API's method type of each authenticator kind: the Management API's, and passkeys.
TYPES = {**METHOD_TYPE, "passkey": "passkey"}


async def methods(deps: Deps, user: User) -> list[Method]:
    """The user's methods, oldest first."""
    return group(await enrolled.for_user(deps, user.user_id, first_factors=True))


async def find(deps: Deps, user: User, method_id: str) -> Method:
    found = next((m for m in await methods(deps, user) if m.holds(method_id)), None)
    if found is None:
        raise not_found()
    return found


async def credentials(deps: Deps, user: User) -> dict[str, WebAuthnCredential]:
    """The user's passkeys' WebAuthn credentials, by authenticator id."""
    held = await deps.storage.passkeys.list_for_user(user.user_id)
    return {c.authenticator_id: c for c in held}


def _passkey(deps: Deps, user: User, credential: WebAuthnCredential) -> dict[str, Any]:
    return {
        "key_id": credential.credential_id,
        "public_key": credential.public_key,
        "credential_device_type": credential.device_type,
        "credential_backed_up": credential.backed_up,
        "user_handle": credential.user_handle,
        "transports": list(credential.transports),
        "aaguid": credential.aaguid,
        "relying_party_id": deps.policy.webauthn_rp_id,
        # The identity the passkey signs in: the user id without its connection prefix.
        "identity_user_id": user.user_id.split("|", 1)[-1],
    }


def view(
    deps: Deps,
    method: Method,
    user: User,
    passkeys: Mapping[str, WebAuthnCredential] | None = None,
) -> dict[str, Any]:
    lead = method.lead
    out: dict[str, Any] = {
        "id": lead.id,
        "type": TYPES[lead.kind],
        "created_at": iso(lead.created_at),
        "usage": ["primary"] if lead.kind == "passkey" else ["secondary"],
        "confirmed": lead.active,
    }
    if lead.name is not None:
        out["name"] = lead.name
    used = [a.last_used_at for a in method.rows if a.last_used_at is not None]
    if used:
        out["last_auth_at"] = iso(max(used))
    if lead.kind in ("sms", "voice"):
        out["phone_number"] = prompt.address(deps, lead)
        out["preferred_authentication_method"] = lead.kind
    if lead.kind == "email":
        out["email"] = prompt.address(deps, lead) or user.email
    credential = (passkeys or {}).get(lead.id)
    if credential is not None:
        out.update(_passkey(deps, user, credential))
    return out


async def list_view(deps: Deps, user: User, kind: str | None = None) -> list[dict[str, Any]]:
    """Every method of the user, or those of one type."""
    held = [m for m in await methods(deps, user) if kind is None or TYPES[m.lead.kind] == kind]
    passkeys = await credentials(deps, user) if any(m.lead.kind == "passkey" for m in held) else {}
    return [view(deps, m, user, passkeys) for m in held]


async def one_view(deps: Deps, user: User, method_id: str) -> dict[str, Any]:
    method = await find(deps, user, method_id)
    passkeys = await credentials(deps, user) if method.lead.kind == "passkey" else {}
    return view(deps, method, user, passkeys)

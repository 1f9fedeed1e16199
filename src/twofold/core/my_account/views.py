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
from twofold.core.management.methods import METHOD_TYPE, Method, group
from twofold.core.management.methods import view as management_view
from twofold.core.mfa import enrolled
from twofold.core.models import User, WebAuthnCredential
from twofold.core.my_account.problems import not_found

# The My Account API's method type of each authenticator kind (the Management API's).
TYPES = METHOD_TYPE


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
        **({"user_agent": credential.user_agent} if credential.user_agent else {}),
    }


# What the Management API's view of a method says that the My Account API does not.
_MANAGEMENT_ONLY = ("authentication_methods", "link_id")


def view(
    deps: Deps,
    method: Method,
    user: User,
    passkeys: Mapping[str, WebAuthnCredential] | None = None,
) -> dict[str, Any]:
    """The Management API's view of the method (one rendering of a method's fields), with how
    it is used and, for a passkey, its credential."""
    out = management_view(deps, method, user.email)
    for name in _MANAGEMENT_ONLY:
        out.pop(name, None)
    out["usage"] = ["primary"] if method.lead.kind == "passkey" else ["secondary"]
    credential = (passkeys or {}).get(method.lead.id)
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

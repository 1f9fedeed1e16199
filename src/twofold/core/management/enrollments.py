"""A user's Guardian enrollments, recovery code and remembered browsers through the Management
API: /users/{id}/enrollments, /guardian/enrollments/{id}, /users/{id}/recovery-code-regeneration
and /users/{id}/multifactor/actions/invalidate-remember-browser. Enrollments are the
authenticators the MFA API enrols and lists, with the same ids and deletion rule.
"""

from __future__ import annotations

from typing import Any

from twofold.core import ids
from twofold.core.deps import Deps
from twofold.core.factors import recovery
from twofold.core.management.errors import ManagementError, no_user
from twofold.core.management.users import iso, load
from twofold.core.mfa import enrolled, manage
from twofold.core.models import Authenticator

# Guardian's names for how an enrolment authenticates.
AUTH_METHOD = {
    "totp": "authenticator",
    "sms": "sms",
    "voice": "voice",
    "email": "email",
    "push": "guardian",
}


def enrollment_view(a: Authenticator) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": a.id,
        "status": "confirmed" if a.active else "pending",
        "type": "pn" if a.kind == "push" else AUTH_METHOD[a.kind],
        "auth_method": AUTH_METHOD[a.kind],
        "enrolled_at": iso(a.confirmed_at or a.created_at),
    }
    if a.name is not None:
        out["name"] = a.name
        if a.kind in ("sms", "voice"):
            out["phone_number"] = a.name
        else:
            out["identifier"] = a.name
    if a.last_used_at is not None:
        out["last_auth"] = iso(a.last_used_at)
    return out


def _is_enrollment(a: Authenticator) -> bool:
    # Recovery codes and a push enrolment's companion TOTP are no enrollment of their own.
    return a.kind in AUTH_METHOD and not (a.kind == "totp" and a.link_id is not None)


async def list_enrollments(deps: Deps, user_id: str) -> list[dict[str, Any]]:
    await load(deps, user_id)
    stored = await deps.storage.authenticators.list_for_user(user_id)
    return [enrollment_view(a) for a in stored if _is_enrollment(a)]


async def _enrollment(deps: Deps, enrollment_id: str) -> Authenticator:
    found = await deps.storage.authenticators.get(enrollment_id)
    if found is None or not _is_enrollment(found):
        raise ManagementError(404, "inexistent_enrollment", "Enrollment not found")
    return found


async def get_enrollment(deps: Deps, enrollment_id: str) -> dict[str, Any]:
    return enrollment_view(await _enrollment(deps, enrollment_id))


async def delete_enrollment(deps: Deps, enrollment_id: str, client_id: str) -> None:
    found = await _enrollment(deps, enrollment_id)
    await manage.remove(deps, found.user_id, found.id, client_id)


# ----- recovery code


async def regenerate_recovery_code(deps: Deps, user_id: str) -> dict[str, str]:
    """A new recovery code; the old one stops working at once. Only for a user with a factor:
    without one, a recovery code has nothing to recover."""
    await load(deps, user_id)
    stored = await deps.storage.authenticators.list_for_user(user_id)
    if not enrolled.usable(stored):
        raise ManagementError(
            400, "no_enrollment", "The user has no confirmed MFA enrollment to recover"
        )
    now = deps.clock.now()
    code = recovery.new_code()
    async with deps.storage.unit_of_work():
        await deps.storage.recovery_codes.set(user_id, recovery.hash_code(code), now)
        rows = [a for a in stored if a.kind == "recovery-code"]
        if rows:
            await deps.storage.authenticators.activate([a.id for a in rows], now)
        else:
            await deps.storage.authenticators.add(
                Authenticator(
                    id=ids.authenticator_id("recovery-code"),
                    user_id=user_id,
                    kind="recovery-code",
                    active=True,
                    created_at=now,
                    confirmed_at=now,
                )
            )
    return {"recovery_code": code}


# ----- remembered browsers


async def forget_remembered_browsers(deps: Deps, user_id: str) -> None:
    """Every browser on which the user chose to skip MFA must pass it again at its next login:
    the user's `remember_browser_invalidated_at` becomes now, and a browser remembered before
    that time is remembered no more."""
    if not await deps.storage.users.forget_remembered_browsers(user_id, deps.clock.now()):
        raise no_user()

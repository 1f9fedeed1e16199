"""The email factor: codes sent to an address the user enrols, or to their verified email.

With the factor enabled, a user's verified email is an active authenticator of its own without
being enrolled (`implicit`); it is never stored, and its id is derived from the user id.
"""

from __future__ import annotations

from typing import Any

from twofold.core import contact
from twofold.core.deps import Deps
from twofold.core.factors import base, prompt
from twofold.core.factors.base import Enrolment
from twofold.core.ids import BASE62, digest
from twofold.core.models import Authenticator, User

GUESSABLE = prompt.GUESSABLE
challenge = prompt.challenge
verify = prompt.verify
describe = base.describe


async def enrol(deps: Deps, enrolment: Enrolment) -> dict[str, Any]:
    base.require_enabled(enrolment.tenant, "email")
    raw = enrolment.body.get("email")
    address = contact.normalize_email(raw if raw not in (None, "") else enrolment.user.email)
    return await prompt.enrol(
        deps,
        enrolment,
        kinds=["email"],
        replaces=["email"],
        address=address,
        name=contact.mask_email(address),
    )


def implicit_id(user_id: str) -> str:
    """A stable id for the implicit authenticator of a user's verified email."""
    n = int(digest(user_id, "implicit-email"), 16)
    suffix = ""
    for _ in range(16):
        n, r = divmod(n, 62)
        suffix += BASE62[r]
    return f"email|dev_{suffix}"


def implicit(user: User, enabled_factors: frozenset[str]) -> Authenticator | None:
    """With the email factor on, a verified email is an active authenticator."""
    if "email" not in enabled_factors or not user.email_verified or not user.email:
        return None
    return Authenticator(
        id=implicit_id(user.user_id),
        user_id=user.user_id,
        kind="email",
        active=True,
        created_at=user.created_at,
        name=contact.mask_email(user.email),
    )

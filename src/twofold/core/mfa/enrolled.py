"""A user's enrolled authenticators: which are usable, what they require, and the list view."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from twofold.core.deps import Deps
from twofold.core.factors import email
from twofold.core.factors.base import describe
from twofold.core.factors.registry import FACTORS
from twofold.core.models import FIRST_FACTOR_KINDS, Authenticator, Tenant, User


def mfa_only(authenticators: Sequence[Authenticator]) -> list[Authenticator]:
    """The MFA API's authenticators: passkeys are a first factor, which Auth0's MFA API neither
    lists nor challenges, deletes or counts."""
    return [a for a in authenticators if a.kind not in FIRST_FACTOR_KINDS]


def usable(authenticators: Sequence[Authenticator]) -> list[Authenticator]:
    """Active authenticators that can answer a challenge (recovery codes are not challenged)."""
    return [a for a in mfa_only(authenticators) if a.active and a.kind != "recovery-code"]


def has_active_factor(
    authenticators: Sequence[Authenticator], *, email_counts: bool = True
) -> bool:
    """Whether any of these authenticators is an active factor. Email counts unless the tenant
    chose Auth0's lenient behaviour (`email_counts=False`), where an email-only user may still
    enrol with an mfa_token and gets an MFA-API token with the password alone."""
    return any(email_counts or a.kind != "email" for a in usable(authenticators))


async def is_enrolled(
    deps: Deps,
    user_id: str,
    stored: Sequence[Authenticator] | None = None,
    *,
    user: User | None = None,
) -> bool:
    """Whether the user has an active factor that counts, by the tenant's rules: with
    `email_counts_as_factor` (the default) an explicitly enrolled email and the implicit
    authenticator of a verified email (email factor on) count like any other factor.

    `stored` is the user's stored authenticators when the caller has them (or a subset of them,
    to ask about the others than the one being confirmed); the implicit email is added here,
    from `user` when the caller has it already."""
    tenant = await deps.tenant()
    if stored is None:
        # Passkeys included: one read answers the passkey question below too.
        authenticators = await for_user(deps, user_id, first_factors=True)
    else:
        authenticators = list(stored)
        if tenant.email_counts_as_factor and "email" in tenant.enabled_factors:
            if user is None:
                user = await deps.storage.users.get(user_id)
            if user is not None and (implicit := email.implicit(user, tenant.enabled_factors)):
                authenticators.append(implicit)
    if has_active_factor(authenticators, email_counts=tenant.email_counts_as_factor):
        return True
    # A passkey is a first factor that the MFA API neither lists nor challenges, but it is a
    # credential the user holds: a password alone must not add a factor beside it (nor reach
    # the MFA API) any more than beside an OTP app. The passkey signs in by itself instead.
    if stored is not None:
        # The caller's list is the MFA API's (no first factors): read the passkeys.
        authenticators = list(await deps.storage.authenticators.list_for_user(user_id))
    return any(a.kind == "passkey" and a.active for a in authenticators)


async def for_user(deps: Deps, user_id: str, *, first_factors: bool = False) -> list[Authenticator]:
    """The user's stored authenticators plus the implicit one for a verified email; passkeys too
    when `first_factors` (the My Account API shows them, the MFA API does not)."""
    stored = list(await deps.storage.authenticators.list_for_user(user_id))
    tenant = await deps.tenant()
    user = await deps.storage.users.get(user_id) if "email" in tenant.enabled_factors else None
    return with_implicit(tenant, user, stored, first_factors=first_factors)


def with_implicit(
    tenant: Tenant, user: User | None, stored: Sequence[Authenticator], *, first_factors: bool
) -> list[Authenticator]:
    """`for_user` from what the caller read already: the user (None if it is gone) and their
    stored authenticators."""
    authenticators = list(stored) if first_factors else mfa_only(stored)
    if user is not None and (implicit := email.implicit(user, tenant.enabled_factors)):
        authenticators.insert(0, implicit)
    return authenticators


async def list_view(deps: Deps, user_id: str) -> list[dict[str, Any]]:
    """GET /mfa/authenticators: each authenticator as its factor describes it."""
    # Recovery codes are no factor of their own; their entry is the common one.
    return [
        FACTORS[a.kind].describe(a) if a.kind in FACTORS else describe(a)
        for a in await for_user(deps, user_id)
    ]


def _enrollable(enabled: frozenset[str]) -> list[str]:
    out = [f for f in ("otp",) if f in enabled]
    if "sms" in enabled or "voice" in enabled:
        out.append("phone")
    if "push-notification" in enabled:
        out.append("push-notification")
    return out


async def requirements(deps: Deps, user_id: str) -> dict[str, list[dict[str, str]]]:
    """mfa_requirements for an mfa_required answer."""
    authenticators = await for_user(deps, user_id)
    active = [a for a in authenticators if a.active]
    types: list[str] = []
    for a in sorted(active, key=lambda a: a.kind == "recovery-code"):
        if a.factor_type not in types:
            types.append(a.factor_type)
    tenant = await deps.tenant()
    if has_active_factor(active, email_counts=tenant.email_counts_as_factor):
        return {"challenge": [{"type": t} for t in types]}
    enroll = {"enroll": [{"type": t} for t in _enrollable(tenant.enabled_factors)]}
    if usable(active):
        # Email alone, on a tenant where email does not count: it can be challenged, and the
        # user may still enrol another factor.
        return {"challenge": [{"type": t} for t in types if t != "recovery-code"], **enroll}
    return enroll

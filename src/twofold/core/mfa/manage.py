"""GET /mfa/authenticators and DELETE /mfa/authenticators/{id}; and the rules every API that
changes a user's authenticators shares: how one is removed, how a recovery code is replaced."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from twofold.core import audit, ids
from twofold.core.deps import Deps
from twofold.core.errors import AccessDenied, InsufficientScope, NotFound
from twofold.core.factors import email
from twofold.core.mfa.bearer import Principal
from twofold.core.mfa.enrolled import list_view, mfa_only
from twofold.core.models import Authenticator


async def list_authenticators(deps: Deps, principal: Principal) -> list[dict[str, Any]]:
    principal.require_scope("read:authenticators")
    return await list_view(deps, principal.user_id)


async def delete_authenticator(deps: Deps, principal: Principal, authenticator_id: str) -> None:
    if principal.kind != "access_token":
        raise InsufficientScope("Insufficient scope, expected: remove:authenticators")
    principal.require_scope("remove:authenticators")
    client_id = principal.client_id or None
    await remove(deps, principal.user_id, authenticator_id, client_id, mfa_api=True)


async def remove(
    deps: Deps, user_id: str, authenticator_id: str, client_id: str | None, *, mfa_api: bool = False
) -> list[str]:
    """Delete one of the user's authenticators (with its linked rows); the ids removed. Also
    what the Management API's deletes do, so both APIs keep one set of rules. The MFA API sees
    no first factor (a passkey), as on Auth0."""
    authenticators = await deps.storage.authenticators.list_for_user(user_id)
    if mfa_api:
        authenticators = mfa_only(authenticators)
    target = next((a for a in authenticators if a.id == authenticator_id), None)
    if target is None:
        if authenticator_id == email.implicit_id(user_id):
            # The authenticator of a verified email exists as long as the email does.
            raise AccessDenied("The authenticator of a verified email cannot be deleted")
        raise NotFound("Authenticator not found")
    # Linked pairs (sms+voice, push+its totp) go together.
    ids = [target.id]
    if target.link_id:
        ids += [a.id for a in authenticators if a.link_id == target.link_id and a.id != target.id]
    await deps.storage.authenticators.delete(ids)
    await audit.record(
        deps, audit.UNENROLL, user_id=user_id, client_id=client_id, authenticator_ids=ids
    )
    remaining = [a for a in authenticators if a.id not in ids]
    if not any(a.kind != "recovery-code" for a in remaining):
        # With no factor left the recovery code has nothing to recover; a new enrolment
        # issues a fresh one.
        await deps.storage.authenticators.delete([a.id for a in remaining])
        await deps.storage.recovery_codes.delete(user_id)
    return ids


async def replace_recovery_code(
    deps: Deps,
    user_id: str,
    stored: Sequence[Authenticator],
    code_hash: str,
    now: float,
    *,
    row_id: str | None = None,
) -> None:
    """Make `code_hash` the user's recovery code at once (the old code stops working) and its
    authenticator row active: the one the user holds, or a new one (`row_id`, when the caller
    named it already). Run it in a unit of work: the code and its row change together."""
    await deps.storage.recovery_codes.set(user_id, code_hash, now)
    rows = [a.id for a in stored if a.kind == "recovery-code"]
    if rows:
        await deps.storage.authenticators.activate(rows, now)
        return
    new_id = row_id or ids.authenticator_id("recovery-code")
    await deps.storage.authenticators.add(
        Authenticator(new_id, user_id, "recovery-code", True, now, confirmed_at=now)
    )

"""GET, PATCH and DELETE /me/v1/authentication-methods[/{id}]: the caller's own methods.

Deletes go through `mfa.manage.remove`, the MFA API's and the Management API's one deletion
rule (linked rows go together; the recovery code goes with the last factor). Two methods stay:
the authenticator of a verified email (it exists while the email does), and the last passkey of a
user who has no password (nothing else would sign them in).

A phone's `preferred_authentication_method` is the channel it was enrolled with: Twofold lets
the user choose sms or voice at each challenge and stores no other preference, so a PATCH may
repeat it but not change it (the Management API's rule too).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from twofold.core.deps import Deps
from twofold.core.factors import email
from twofold.core.mfa import manage
from twofold.core.my_account import views
from twofold.core.my_account.caller import Caller
from twofold.core.my_account.fields import choice, only, text
from twofold.core.my_account.problems import Problem, invalid, not_found

UPDATE_FIELDS = frozenset({"name", "preferred_authentication_method"})
PHONE_CHANNELS = ("sms", "voice")


async def list_methods(deps: Deps, caller: Caller, kind: str | None) -> dict[str, Any]:
    if kind is not None and kind not in set(views.TYPES.values()):
        raise invalid(
            "type",
            f"type must be one of: {', '.join(sorted(set(views.TYPES.values())))}",
            source="query",
        )
    return {"authentication_methods": await views.list_view(deps, caller.user, kind)}


async def get_method(deps: Deps, caller: Caller, method_id: str) -> dict[str, Any]:
    return await views.one_view(deps, caller.user, method_id)


async def update_method(
    deps: Deps, caller: Caller, method_id: str, body: Mapping[str, Any]
) -> dict[str, Any]:
    only(body, UPDATE_FIELDS)
    name = text(body, "name")
    preferred = choice(body, "preferred_authentication_method", PHONE_CHANNELS)
    method = await views.find(deps, caller.user, method_id)
    lead = method.lead
    if preferred is not None:
        if lead.kind not in PHONE_CHANNELS:
            raise invalid(
                "preferred_authentication_method", "Only a phone method has a preferred channel"
            )
        if preferred != lead.kind:
            raise invalid(
                "preferred_authentication_method",
                "The preferred channel is the one the phone was enrolled with; either channel "
                "can be chosen at each challenge",
            )
    if name is not None:
        stored = [a.id for a in method.rows if a.id != email.implicit_id(caller.user_id)]
        if not stored:
            raise invalid("name", "The authenticator of a verified email has no name to change")
        await deps.storage.authenticators.rename(stored, name)
    return await views.one_view(deps, caller.user, method_id)


async def delete_method(deps: Deps, caller: Caller, method_id: str) -> None:
    held = await views.methods(deps, caller.user)
    method = next((m for m in held if m.holds(method_id)), None)
    if method is None:
        raise not_found()
    lead = method.lead
    if lead.id == email.implicit_id(caller.user_id):
        raise Problem(409, "The authenticator of a verified email exists as long as the email does")
    if lead.kind == "passkey" and not caller.user.password_hash:
        others = [m for m in held if m.lead.kind == "passkey" and m.lead.active and m is not method]
        if not others:
            raise Problem(409, "The last passkey of a user without a password cannot be deleted")
    await manage.remove(deps, caller.user_id, lead.id, caller.client_id or None)

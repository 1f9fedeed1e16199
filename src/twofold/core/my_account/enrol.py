"""POST /me/v1/authentication-methods: start an enrolment; its verify call confirms it.

A factor's enrolment starts the way /mfa/associate starts one (`mfa.associate.start`): the
user's room for one more of the kind and their enrolment allowance (shared with the MFA API's
calls), then the factor module stores the inactive authenticator, encrypted like every other,
and answers. The answer names the new method (`id`, also in the Location header) and the
`auth_session` that confirms it:

- totp: `barcode_uri` and `manual_input_code` (the secret); auth_session from `sessions`;
- push-notification: `barcode_uri` for the device app; auth_session is the enrolment's oob_code;
- phone (sms, or voice as `preferred_authentication_method`) and email: a code is sent;
  auth_session is the oob_code, bound to the My Account API (`me:<user>`), so it confirms
  nothing at the token endpoint;
- recovery-code: a new `recovery_code`, shown once; it replaces the old one when verified;
- passkey: `authn_params_public_key` (`passkeys.py`).

The first factor's recovery code, which /mfa/associate hands out, is not made here: a user asks
for one as its own method.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from twofold.core import audit, ids
from twofold.core.deps import Deps
from twofold.core.errors import InvalidRequest
from twofold.core.factors import recovery
from twofold.core.factors.base import Enrolment
from twofold.core.mfa import associate, enrolled, enrolment_limits
from twofold.core.models import Authenticator, AuthenticatorKind
from twofold.core.my_account import passkeys, sessions
from twofold.core.my_account.caller import Caller, record
from twofold.core.my_account.factors import offered
from twofold.core.my_account.fields import choice, only, required, text
from twofold.core.my_account.problems import invalid

TYPES = ("passkey", "totp", "phone", "email", "push-notification", "recovery-code")
FIELDS = frozenset(
    {
        "type",
        "email",
        "phone_number",
        "preferred_authentication_method",
        "identity_user_id",
        "connection",
    }
)
NO_RECOVERY = "A recovery code needs a confirmed factor to recover"


def binding(user_id: str) -> str:
    """What an out-of-band code of a My Account enrolment is bound to."""
    return f"me:{user_id}"


def deadline(deps: Deps) -> float:
    """An enrolment must be verified while a My Account token could still be valid."""
    return deps.clock.now() + deps.policy.mfa_api_token_lifetime


async def enrol(deps: Deps, caller: Caller, body: Mapping[str, Any]) -> dict[str, Any]:
    only(body, FIELDS)
    kind = choice(body, "type", TYPES)
    if kind is None:
        raise invalid("type", "Missing required field: type")
    _same_identity(caller, body)
    tenant = await deps.tenant()
    if kind not in offered(tenant):
        raise invalid("type", f"The {kind} factor is not enabled")
    stored = await deps.storage.authenticators.list_for_user(caller.user_id)
    if kind == "passkey":
        return await passkeys.start(deps, caller, stored)
    if kind == "recovery-code":
        return await _recovery_code(deps, caller, stored)
    return await _factor(deps, caller, kind, body, stored)


def _same_identity(caller: Caller, body: Mapping[str, Any]) -> None:
    """An SDK may name the identity and connection to enrol for: they can only be the caller's."""
    identity = text(body, "identity_user_id")
    if identity is not None and identity not in (caller.user_id, caller.user_id.split("|")[-1]):
        raise invalid("identity_user_id", "identity_user_id is not the caller's identity")
    connection = text(body, "connection")
    if connection is not None and connection != caller.user.realm:
        raise invalid("connection", "connection is not the caller's connection")


def _kind_and_channel(
    kind: str, body: Mapping[str, Any], enabled: frozenset[str]
) -> tuple[AuthenticatorKind, str | None, dict[str, Any]]:
    """The authenticator kind, out-of-band channel and associate body a method type stands for."""
    if kind == "totp":
        return "totp", None, {}
    if kind == "push-notification":
        return "push", "auth0", {}
    if kind == "email":
        return "email", "email", {"email": text(body, "email", max_chars=320)}
    number = required(body, "phone_number", max_chars=64)
    preferred = choice(body, "preferred_authentication_method", ("sms", "voice"))
    channel = preferred or ("sms" if "sms" in enabled else "voice")
    return ("voice" if channel == "voice" else "sms"), channel, {"phone_number": number}


async def _factor(
    deps: Deps,
    caller: Caller,
    kind: str,
    body: Mapping[str, Any],
    stored: Sequence[Authenticator],
) -> dict[str, Any]:
    tenant = await deps.tenant()
    row_kind, channel, factor_body = _kind_and_channel(kind, body, tenant.enabled_factors)
    not_after = deadline(deps)
    enrolment = Enrolment(
        caller.user,
        caller.client_id,
        tenant,
        binding(caller.user_id),
        not_after,
        factor_body,
        channel,
    )
    try:
        answer = await associate.start(deps, enrolment, row_kind, stored, caller.credential)
    except enrolment_limits.NoRoom:
        raise
    except InvalidRequest as exc:
        # The factor's own refusal of what was sent (a phone number it cannot use).
        field = {"phone": "phone_number", "email": "email"}.get(kind, "type")
        raise invalid(field, exc.description) from None
    method_id = enrolment.row_id(row_kind)
    if kind == "totp":
        pending = sessions.Pending(caller.user_id, method_id, not_after)
        out = {
            "auth_session": await sessions.open_session(deps, pending),
            "barcode_uri": answer["barcode_uri"],
            "manual_input_code": answer["secret"],
        }
    else:
        out = {"auth_session": answer["oob_code"]}
        if "barcode_uri" in answer:
            out["barcode_uri"] = answer["barcode_uri"]
    return {"id": method_id, **out}


async def _recovery_code(
    deps: Deps, caller: Caller, stored: Sequence[Authenticator]
) -> dict[str, Any]:
    if not enrolled.usable(stored):
        raise invalid("type", NO_RECOVERY)
    await enrolment_limits.take_associate(deps, caller.user_id, caller.credential)
    held = next((a.id for a in stored if a.kind == "recovery-code"), None)
    method_id = held or ids.authenticator_id("recovery-code")
    code = recovery.new_code()
    pending = sessions.Pending(
        caller.user_id, method_id, deadline(deps), code_hash=recovery.hash_code(code)
    )
    auth_session = await sessions.open_session(deps, pending)
    await record(deps, audit.START_ENROLL, caller, factor="recovery-code")
    return {"id": method_id, "auth_session": auth_session, "recovery_code": code}

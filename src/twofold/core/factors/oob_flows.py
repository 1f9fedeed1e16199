"""Out-of-band enrolment and challenges (spec §5, §6.3, §7, §9), plugged into /mfa/associate and
/mfa/challenge through their `register_oob` hooks by `install()`.

sms and voice are one phone factor: enrolling either creates `sms|dev_X` and, when the other
channel is enabled too, `voice|dev_X` with the same suffix and a shared link id (listed and deleted
together). The phone number or email address is stored encrypted, bound to its row; the list shows
a masked form. Each challenge sends a fresh 6-digit code (`binding_method: "prompt"`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from twofold.core import ids
from twofold.core.deps import Deps
from twofold.core.errors import InvalidRequest, OAuthError, missing
from twofold.core.factors import contact, dispatch, oob, push
from twofold.core.grants import mfa_oob, registry
from twofold.core.mfa import associate as associate_uc
from twofold.core.mfa import challenge as challenge_uc
from twofold.core.mfa.bearer import Principal
from twofold.core.models import (
    Authenticator,
    AuthenticatorKind,
    MfaTransaction,
    OutboundMessage,
    User,
)

CHANNELS = ("sms", "voice", "email", "auth0")
FACTOR = {"sms": "sms", "voice": "voice", "email": "email", "auth0": "push-notification"}
PROMPT = "prompt"


def target_aad(authenticator_id: str) -> str:
    return f"authenticator:{authenticator_id}:target"


def install() -> None:
    """Switch the out-of-band factors on: associate, challenge and the mfa-oob grant."""
    associate_uc.register_oob(enroll)
    challenge_uc.register_oob(challenge)
    registry.register(registry.Grant(mfa_oob.GRANT_TYPE, mfa_oob.PARAMETERS, mfa_oob.handle))


def _channel(body: Mapping[str, Any]) -> str:
    raw = body.get("oob_channels")
    if raw is None or raw == [] or raw == "":
        raise missing("oob_channels")
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not all(isinstance(c, str) for c in raw):
        raise InvalidRequest("oob_channels must be an array of strings")
    unknown = [c for c in raw if c not in CHANNELS]
    if unknown:
        raise InvalidRequest(f"Unsupported oob_channels: {unknown[0][:32]}")
    return str(raw[0])


async def enroll(
    deps: Deps, principal: Principal, user: User, body: Mapping[str, Any]
) -> dict[str, Any]:
    channel = _channel(body)
    tenant = await deps.tenant()
    if FACTOR[channel] not in tenant.enabled_factors:
        raise InvalidRequest(f"The {FACTOR[channel]} factor is not enabled")
    now = deps.clock.now()
    if principal.kind == "mfa_token" and principal.tx is not None:
        binding, not_after = f"tx:{principal.tx.id}", principal.tx.expires_at
    else:
        binding, not_after = f"user:{user.user_id}", now + deps.policy.mfa_api_token_lifetime
    client_id = principal.client_id
    if channel == "auth0":
        return await push.enroll(
            deps,
            user,
            binding=binding,
            client_id=client_id,
            not_after=not_after,
            issuer=tenant.friendly_name,
        )

    kinds: list[AuthenticatorKind]
    if channel == "email":
        raw = body.get("email")
        target = contact.normalize_email(raw if raw not in (None, "") else user.email)
        kinds, name, replaced = ["email"], contact.mask_email(target), ["email"]
    else:
        if body.get("phone_number") in (None, ""):
            raise missing("phone_number")
        target = contact.normalize_phone(body.get("phone_number"), deps.policy.phone_countries)
        sibling = "voice" if channel == "sms" else "sms"
        kinds = ["sms", "voice"] if channel == "sms" else ["voice", "sms"]
        if sibling not in tenant.enabled_factors:
            kinds = kinds[:1]
        name, replaced = contact.mask_phone(target), ["sms", "voice"]

    await deps.storage.authenticators.delete_inactive(user.user_id, replaced)
    suffix = ids.authenticator_id(kinds[0]).split("|", 1)[1]
    link = f"phone|{suffix}" if len(kinds) > 1 else None
    rows = [f"{kind}|{suffix}" for kind in kinds]
    for kind, row_id in zip(kinds, rows, strict=True):
        await deps.storage.authenticators.add(
            Authenticator(
                id=row_id,
                user_id=user.user_id,
                kind=kind,
                active=False,
                created_at=now,
                name=name,
                target_enc=deps.keyring.encrypt(target.encode(), target_aad(row_id)),
                link_id=link,
            )
        )
    try:
        oob_code = await _send_code(
            deps,
            user_id=user.user_id,
            client_id=client_id,
            binding=binding,
            authenticator_id=rows[0],
            channel=channel,
            to=target,
            enrolment=True,
            not_after=not_after,
        )
    except OAuthError:
        # Nothing reached the user: leave no half-made enrolment behind.
        await deps.storage.authenticators.delete(rows)
        raise
    return {
        "authenticator_type": "oob",
        "binding_method": PROMPT,
        "oob_channel": channel,
        "oob_code": oob_code,
    }


async def _send_code(
    deps: Deps,
    *,
    user_id: str,
    client_id: str,
    binding: str,
    authenticator_id: str,
    channel: str,
    to: str,
    enrolment: bool,
    not_after: float,
) -> str:
    code = oob.new_binding_code()
    oob_code, _ = await oob.issue(
        deps,
        user_id=user_id,
        client_id=client_id,
        binding=binding,
        authenticator_id=authenticator_id,
        channel=channel,
        enrolment=enrolment,
        not_after=not_after,
        binding_code=code,
    )
    message = OutboundMessage(
        channel="email" if channel == "email" else ("voice" if channel == "voice" else "sms"),
        to=to,
        purpose="enrollment" if enrolment else "challenge",
        code=code,
        issuer=(await deps.tenant()).friendly_name,
        locale=deps.policy.delivery_locale,
        expires_in=deps.policy.oob_code_lifetime,
    )
    try:
        await dispatch.send(
            deps, message, user_id=user_id, client_id=client_id, authenticator_id=authenticator_id
        )
    except OAuthError:
        await oob.spend(deps, oob_code)
        raise
    return oob_code


async def challenge(
    deps: Deps, tx: MfaTransaction, mfa_token: str, chosen: Authenticator
) -> dict[str, Any]:
    if chosen.kind == "push":
        return await push.challenge(deps, tx, chosen)
    if chosen.target_enc is not None:
        to = deps.keyring.decrypt(chosen.target_enc, target_aad(chosen.id)).decode()
    else:
        # The implicit authenticator of the user's verified email.
        user = await deps.storage.users.get(tx.user_id)
        if user is None or chosen.kind != "email":
            raise InvalidRequest("The authenticator has no address to send to")
        to = user.email
    oob_code = await _send_code(
        deps,
        user_id=tx.user_id,
        client_id=tx.client_id,
        binding=oob.binding_for(tx),
        authenticator_id=chosen.id,
        channel=chosen.kind,
        to=to,
        enrolment=False,
        not_after=tx.expires_at,
    )
    return {"challenge_type": "oob", "oob_code": oob_code, "binding_method": PROMPT}

"""What the prompt channels (sms, voice, email) share: a 6-digit code sent to an address.

An enrolment stores the address encrypted, bound to its row (the list shows a masked form), and
sends a first code; each challenge sends a fresh one (`binding_method: "prompt"`). The user types
the code back as the mfa-oob grant's `binding_code`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from twofold.core import associated_data
from twofold.core.deps import Deps
from twofold.core.errors import InvalidRequest, OAuthError
from twofold.core.factors import dispatch, oob_codes
from twofold.core.factors.base import Enrolment, pending
from twofold.core.models import (
    Authenticator,
    AuthenticatorKind,
    DeliveryChannel,
    MfaToken,
    OutboundMessage,
)

BINDING_METHOD = "prompt"
# Prompt codes are guesses: each one draws on the user's failure bucket.
GUESSABLE = True
_DELIVERY: dict[str, DeliveryChannel] = {"sms": "sms", "voice": "voice", "email": "email"}


async def enrol(
    deps: Deps,
    enrolment: Enrolment,
    *,
    kinds: Sequence[AuthenticatorKind],
    replaces: Sequence[AuthenticatorKind],
    address: str,
    name: str,
) -> dict[str, Any]:
    """Store `kinds` (one row, or linked sms+voice rows sharing an id suffix) for `address`,
    replacing the user's pending enrolments of `replaces`, and send the first code."""
    user = enrolment.user
    now = deps.clock.now()
    await deps.storage.authenticators.delete_inactive(user.user_id, list(replaces))
    link = f"phone|{enrolment.suffix}" if len(kinds) > 1 else None
    rows = [enrolment.row_id(kind) for kind in kinds]
    for kind, row_id in zip(kinds, rows, strict=True):
        sealed = deps.keyring.encrypt(address.encode(), associated_data.contact_target(row_id))
        row = pending(row_id, user.user_id, kind, now, name=name, target_enc=sealed, link_id=link)
        await deps.storage.authenticators.add(row)
    try:
        oob_code = await send_code(deps, enrolment.owner, rows[0], kinds[0], address, True)
    except OAuthError:
        # Nothing reached the user: leave no half-made enrolment behind.
        await deps.storage.authenticators.delete(rows)
        raise
    return {
        "authenticator_type": "oob",
        "binding_method": BINDING_METHOD,
        "oob_channel": kinds[0],
        "oob_code": oob_code,
    }


async def challenge(deps: Deps, mfa_token: MfaToken, chosen: Authenticator) -> dict[str, Any]:
    if chosen.target_enc is not None:
        to = deps.keyring.decrypt(
            chosen.target_enc, associated_data.contact_target(chosen.id)
        ).decode()
    else:
        # The implicit authenticator of the user's verified email.
        user = await deps.storage.users.get(mfa_token.user_id)
        if user is None or chosen.kind != "email":
            raise InvalidRequest("The authenticator has no address to send to")
        to = user.email
    owner = oob_codes.owner_of(mfa_token)
    oob_code = await send_code(deps, owner, chosen.id, chosen.kind, to, False)
    return {"challenge_type": "oob", "oob_code": oob_code, "binding_method": BINDING_METHOD}


def verify(record: oob_codes.OobRecord, oob_code: str, binding_code: str | None) -> bool | None:
    """Whether the typed binding code is the one sent; None while none was typed yet."""
    if binding_code is None:
        return None
    return oob_codes.code_matches(record, oob_code, binding_code)


async def send_code(
    deps: Deps,
    owner: oob_codes.Owner,
    authenticator_id: str,
    kind: AuthenticatorKind,
    to: str,
    enrolment: bool,
) -> str:
    """Issue an `oob_code` with a fresh binding code and send the code; the `oob_code`."""
    channel = _DELIVERY.get(kind)
    if channel is None:
        raise InvalidRequest("The authenticator cannot receive a code")
    code = oob_codes.new_binding_code()
    oob_code, _ = await oob_codes.issue(
        deps, owner, authenticator_id, kind, enrolment=enrolment, binding_code=code
    )
    message = OutboundMessage(
        channel=channel,
        to=to,
        purpose="enrollment" if enrolment else "challenge",
        code=code,
        issuer=(await deps.tenant()).friendly_name,
        locale=deps.policy.delivery_locale,
        expires_in=deps.policy.oob_code_lifetime,
    )
    try:
        await dispatch.send(
            deps,
            message,
            user_id=owner.user_id,
            client_id=owner.client_id,
            authenticator_id=authenticator_id,
        )
    except OAuthError:
        await oob_codes.spend(deps, oob_code)
        raise
    return oob_code

"""The otp factor: an authenticator app's TOTP codes (the code math is in `totp_codes`).

Enrolment hands out a fresh secret and its otpauth URI; the authenticator stays inactive until
the mfa-otp grant confirms a code from it. A challenge sends nothing: the app shows the code.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from twofold.core import associated_data
from twofold.core.deps import Deps
from twofold.core.factors import base, totp_codes
from twofold.core.factors.base import Enrolment
from twofold.core.models import Authenticator, MfaToken

describe = base.describe


async def enrol(deps: Deps, enrolment: Enrolment) -> dict[str, Any]:
    base.require_enabled(enrolment.tenant, "otp")
    user = enrolment.user
    now = deps.clock.now()
    # Replace the user's pending OTP enrolment, but never a pending push enrolment's companion
    # TOTP (it has a link_id): that one belongs to the push enrolment and goes with it.
    stale = [
        a.id
        for a in await deps.storage.authenticators.list_for_user(user.user_id)
        if a.kind == "totp" and not a.active and a.link_id is None
    ]
    if stale:
        await deps.storage.authenticators.delete(stale)
    secret = totp_codes.new_secret()
    new_id = enrolment.row_id("totp")
    sealed = deps.keyring.encrypt(secret.encode(), associated_data.otp_secret(new_id))
    await deps.storage.authenticators.add(
        base.pending(new_id, user.user_id, "totp", now, secret_enc=sealed)
    )
    return {
        "authenticator_type": "otp",
        "secret": secret,
        "barcode_uri": totp_codes.barcode_uri(secret, enrolment.tenant.friendly_name, user.email),
    }


async def challenge(deps: Deps, mfa_token: MfaToken, chosen: Authenticator) -> dict[str, Any]:
    return {"challenge_type": "otp"}


def verify(
    deps: Deps, candidates: Sequence[Authenticator], code: str, now: float
) -> list[tuple[Authenticator, int]]:
    """The candidates `code` matches, each with the time step it matched (no writes: claiming
    the step is the grant's single conditional write)."""
    matches: list[tuple[Authenticator, int]] = []
    for candidate in candidates:
        if candidate.secret_enc is None:
            continue
        secret = deps.keyring.decrypt(
            candidate.secret_enc, associated_data.otp_secret(candidate.id)
        ).decode()
        step = totp_codes.matching_step(secret, code, now)
        if step is not None:
            matches.append((candidate, step))
    return matches

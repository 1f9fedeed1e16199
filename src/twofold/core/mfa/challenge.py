"""POST /mfa/challenge (spec §5, decisions 3 and 4).

Picks the authenticator to challenge from (types the client accepts) ∩ (the user's active
authenticators): the one named by authenticator_id, or else the most recently used (ties: most
recently enrolled). OTP challenges send nothing; out-of-band channels plug in through
`register_oob` when they are enabled.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from twofold.core import client_auth
from twofold.core.deps import Deps
from twofold.core.errors import (
    AssociationRequired,
    InvalidAuthenticator,
    InvalidRequest,
    UnsupportedChallengeType,
    missing,
)
from twofold.core.grants.registry import token_endpoint_audiences
from twofold.core.mfa import transaction
from twofold.core.mfa.authenticators import for_user, usable
from twofold.core.models import Authenticator, MfaTransaction

CHALLENGE_TYPES = ("otp", "oob")
OOB_CHANNELS = ("sms", "voice", "email", "auth0")

OobChallenger = Callable[[Deps, MfaTransaction, str, Authenticator], Awaitable[dict[str, Any]]]
_oob_challenger: OobChallenger | None = None


def register_oob(challenger: OobChallenger) -> None:
    global _oob_challenger
    _oob_challenger = challenger


def _accepted_types(raw: str | None) -> tuple[str, ...]:
    if raw is None or not raw.strip():
        return CHALLENGE_TYPES
    types = raw.split()
    unknown = [t for t in types if t not in CHALLENGE_TYPES]
    if unknown:
        raise InvalidRequest(f"Invalid challenge_type: {unknown[0]}")
    return tuple(types)


def _challenge_type(a: Authenticator) -> str:
    return "otp" if a.kind == "totp" else "oob"


def _recency(a: Authenticator) -> tuple[float, float]:
    return (a.last_used_at or 0.0, a.created_at)


async def challenge(
    deps: Deps, params: Mapping[str, str], creds: client_auth.ClientCredentials
) -> dict[str, Any]:
    client = await client_auth.authenticate(deps, creds, audiences=token_endpoint_audiences(deps))
    mfa_token = params.get("mfa_token")
    if not mfa_token:
        raise missing("mfa_token")
    tx = await transaction.load(deps, mfa_token)
    transaction.check_client(tx, client.client_id)
    accepted = _accepted_types(params.get("challenge_type"))
    channel = params.get("oob_channel") or None
    if channel is not None and channel not in OOB_CHANNELS:
        raise InvalidRequest(f"Invalid oob_channel: {channel}")

    active = usable(await for_user(deps, tx.user_id))
    authenticator_id = params.get("authenticator_id") or None
    if authenticator_id is not None:
        chosen = next((a for a in active if a.id == authenticator_id), None)
        if chosen is None:
            raise InvalidAuthenticator()
        if _challenge_type(chosen) not in accepted:
            raise UnsupportedChallengeType()
    else:
        if not active:
            raise AssociationRequired()
        fitting = [
            a
            for a in active
            if _challenge_type(a) in accepted and (channel is None or a.oob_channel == channel)
        ]
        if not fitting:
            raise UnsupportedChallengeType()
        chosen = max(fitting, key=_recency)

    if chosen.kind == "totp":
        return {"challenge_type": "otp"}
    if _oob_challenger is None:
        raise UnsupportedChallengeType()
    return await _oob_challenger(deps, tx, mfa_token, chosen)

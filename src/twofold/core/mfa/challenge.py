"""POST /mfa/challenge: ask the user's chosen authenticator for a proof.

Picks the authenticator to challenge from (types the client accepts) ∩ (the user's active
authenticators): the one named by authenticator_id, or else the most recently used (ties: most
recently enrolled). Its factor (`factors.registry.FACTORS`) answers: an OTP challenge sends
nothing, an out-of-band one sends a code or a push and hands out an `oob_code`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from twofold.core import client_auth
from twofold.core.deps import Deps
from twofold.core.errors import (
    AssociationRequired,
    InvalidAuthenticator,
    InvalidRequest,
    UnsupportedChallengeType,
    UserBlocked,
    missing,
)
from twofold.core.factors.registry import FACTORS, OOB_KINDS
from twofold.core.mfa import mfa_tokens
from twofold.core.mfa.enrolled import usable, with_implicit
from twofold.core.models import Authenticator, Client, MfaToken

CHALLENGE_TYPES = ("otp", "oob")


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
    client = await client_auth.authenticate(
        deps, creds, audiences=client_auth.token_endpoint_audiences(deps)
    )
    return await challenge_as(deps, client, params)


async def challenge_as(deps: Deps, client: Client, params: Mapping[str, str]) -> dict[str, Any]:
    """The challenge for an authenticated client, or for one Twofold itself is (the account
    page's built-in client, which has no credentials to present)."""
    mfa_token = params.get("mfa_token")
    if not mfa_token:
        raise missing("mfa_token")
    # The reads share a connection; sending the challenge (a network call) comes after them.
    async with deps.storage.shared_connection():
        record, chosen = await _choose(deps, client, params, mfa_token)
    return await FACTORS[chosen.kind].challenge(deps, record, chosen)


async def _choose(
    deps: Deps, client: Client, params: Mapping[str, str], mfa_token: str
) -> tuple[MfaToken, Authenticator]:
    """The mfa_token's record and the authenticator to challenge, or the refusal."""
    record = await mfa_tokens.load(deps, mfa_token)
    mfa_tokens.check_client(record, client.client_id)
    user, stored = await deps.storage.user_and_authenticators(record.user_id)
    if user is not None and user.blocked:
        # Nothing is sent to a blocked user, whatever mfa_token was issued before the block.
        raise UserBlocked()
    accepted = _accepted_types(params.get("challenge_type"))
    channel = params.get("oob_channel") or None
    if channel is not None and channel not in OOB_KINDS:
        raise InvalidRequest(f"Invalid oob_channel: {channel}")

    listed = with_implicit(await deps.tenant(), user, stored, first_factors=False)
    active = [a for a in usable(listed) if a.kind in FACTORS]
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
    return record, chosen

"""The mfa_token: an opaque handle on the password-time request that waits for a second factor.

It lives `mfa_token_lifetime` (600 s), is bound to its client, may be used for challenge,
associate and list any number of times, and is consumed by the first successful MFA grant. The
token itself is random; the state store keeps its record (`MfaToken`) under a hash of it, a
little longer than its lifetime so that an expired token is told apart from a garbage one.
"""

from __future__ import annotations

import re
from dataclasses import asdict

from twofold.core import json_codec
from twofold.core.attempts import Hold
from twofold.core.deps import Deps
from twofold.core.errors import (
    MALFORMED_MFA_TOKEN,
    MFA_TOKEN_OTHER_CLIENT,
    ExpiredToken,
    InvalidGrant,
    InvalidRequest,
)
from twofold.core.ids import digest, opaque_token
from twofold.core.models import MfaToken

# How long an expired mfa_token is remembered, to answer expired_token rather than malformed.
_EXPIRED_MEMORY = 3600.0
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_\-]{20,128}")


def _key(token: str) -> str:
    return f"mfa:{digest(token, 'mfa_token')}"


async def issue(
    deps: Deps, *, user_id: str, client_id: str, audience: str, scope: str, realm: str
) -> str:
    token = opaque_token(32)
    now = deps.clock.now()
    lifetime = deps.policy.mfa_token_lifetime
    record = MfaToken(
        id=digest(token, "mfa_token")[:32],
        user_id=user_id,
        client_id=client_id,
        audience=audience,
        scope=scope,
        issued_at=now,
        expires_at=now + lifetime,
        realm=realm,
    )
    await deps.state.put(
        _key(token), json_codec.dumps(asdict(record)).decode(), ttl=lifetime + _EXPIRED_MEMORY
    )
    return token


def looks_like_mfa_token(token: str) -> bool:
    return _TOKEN_SHAPE.fullmatch(token) is not None


async def load(deps: Deps, token: str) -> MfaToken:
    """The live record behind `token`; Malformed for unknown/consumed, Expired when expired."""
    if not looks_like_mfa_token(token):
        raise InvalidGrant(MALFORMED_MFA_TOKEN)
    raw = await deps.state.get(_key(token))
    if raw is None:
        raise InvalidGrant(MALFORMED_MFA_TOKEN)
    record = MfaToken(**json_codec.loads(raw))
    if deps.clock.now() >= record.expires_at:
        raise ExpiredToken()
    return record


def check_client(record: MfaToken, client_id: str) -> None:
    if record.client_id != client_id:
        raise InvalidRequest(MFA_TOKEN_OTHER_CLIENT)


async def consume(deps: Deps, token: str, hold: Hold | None = None) -> None:
    """Spend the token; of many concurrent successful grants exactly one gets past this. With
    a grant's `hold`, its attempt is given back in the same step."""
    key = _key(token)
    spent = await (deps.state.consume(key) if hold is None else hold.give_back_consuming(key))
    if spent is None:
        raise InvalidGrant(MALFORMED_MFA_TOKEN)

"""The state behind an `oob_code`: one record per out-of-band challenge or enrolment.

An `oob_code` is a random opaque string handed to the client by /mfa/associate or
/mfa/challenge. The StateStore keeps one record per code under a hash of it, so it works alike
on SQL and Redis. The record says whose it is (user, the mfa_token it is bound to), which
authenticator it challenges, and for prompt channels (sms, voice, email) a MAC of the 6-digit
binding code keyed with the oob_code itself: the code is never stored in clear, and a copy of the
state alone (which holds only a hash of the oob_code) cannot be used to recover it by trying all
million codes. For push the record carries the device's answer instead.

A record lives until `expires_at` (5 minutes, or the mfa_token's end if sooner), then is kept a
while longer only to answer `expired_token` rather than an unknown code. It is spent by one
atomic `consume`, so a code is used once, also under concurrency.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import asdict, dataclass, replace
from typing import Literal

from twofold.core.deps import Deps
from twofold.core.errors import (
    MALFORMED_OOB,
    OOB_EXPIRED,
    OOB_MISMATCH,
    AuthorizationPending,
    ExpiredToken,
    InvalidGrant,
    InvalidRequest,
    OAuthError,
    SlowDown,
)
from twofold.core.ids import digest, opaque_token
from twofold.core.models import MfaToken

POLL_INTERVAL = 5.0
CODE_DIGITS = 6
# After expiry a record is remembered this long, to say "expired" rather than "unknown".
_EXPIRED_MEMORY = 3600.0
_MAX_OOB_CODE = 256

Status = Literal["pending", "approved", "rejected"]


@dataclass(frozen=True, slots=True)
class OobRecord:
    user_id: str
    client_id: str
    # "tx:<id>" for the mfa_token it belongs to, "user:<id>" for an MFA-API token, "me:<id>"
    # for an enrolment started through the My Account API.
    binding: str
    authenticator_id: str
    # sms, voice, email or auth0 (push).
    channel: str
    enrolment: bool
    expires_at: float
    code_mac: str | None = None
    status: Status = "pending"


@dataclass(frozen=True, slots=True)
class Owner:
    """Whose an `oob_code` is, what must present it, and how long it may live at most."""

    user_id: str
    client_id: str
    # "tx:<id>" for an mfa_token, "user:<id>" for an MFA-API token, "me:<id>" for the My
    # Account API.
    binding: str
    not_after: float


def binding_for(mfa_token: MfaToken) -> str:
    if mfa_token.via_access_token:
        return f"user:{mfa_token.user_id}"
    return f"tx:{mfa_token.id}"


def owner_of(mfa_token: MfaToken) -> Owner:
    """The owner of a challenge's code: the mfa_token's user and client, until it expires."""
    return Owner(
        mfa_token.user_id, mfa_token.client_id, binding_for(mfa_token), mfa_token.expires_at
    )


def key_for(oob_code: str) -> str:
    return f"oob:{digest(oob_code, 'oob_code')}"


def new_binding_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def _mac(oob_code: str, binding_code: str) -> str:
    key = oob_code.encode("utf-8", "surrogatepass")
    return hmac.new(key, binding_code.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


def _encode(record: OobRecord) -> str:
    return json.dumps(asdict(record), separators=(",", ":"))


def _decode(raw: str) -> OobRecord:
    return OobRecord(**json.loads(raw))


def _ttl(deps: Deps, record: OobRecord) -> float:
    return max(1.0, record.expires_at - deps.clock.now()) + _EXPIRED_MEMORY


async def issue(
    deps: Deps,
    owner: Owner,
    authenticator_id: str,
    channel: str,
    *,
    enrolment: bool,
    binding_code: str | None,
) -> tuple[str, str]:
    """Store a new challenge; (oob_code, state key)."""
    oob_code = opaque_token(32)
    expires_at = min(deps.clock.now() + deps.policy.oob_code_lifetime, owner.not_after)
    code_mac = _mac(oob_code, binding_code) if binding_code is not None else None
    who = (owner.user_id, owner.client_id, owner.binding)
    record = OobRecord(*who, authenticator_id, channel, enrolment, expires_at, code_mac)
    key = key_for(oob_code)
    await deps.state.put(key, _encode(record), ttl=_ttl(deps, record))
    return oob_code, key


async def load(deps: Deps, oob_code: str, mfa_token: MfaToken) -> OobRecord:
    """The live record for `oob_code` under this mfa_token, or the error Auth0 answers for it."""
    return await load_bound(deps, oob_code, mfa_token.user_id, binding_for(mfa_token))


async def load_bound(deps: Deps, oob_code: str, user_id: str, binding: str) -> OobRecord:
    """The live record for `oob_code` if it is this user's under this binding."""
    if not oob_code or len(oob_code) > _MAX_OOB_CODE:
        raise InvalidGrant(MALFORMED_OOB)
    raw = await deps.state.get(key_for(oob_code))
    if raw is None:
        raise InvalidGrant(MALFORMED_OOB)
    record = _decode(raw)
    if record.user_id != user_id or record.binding != binding:
        raise InvalidRequest(OOB_MISMATCH)
    if deps.clock.now() >= record.expires_at:
        raise ExpiredToken(OOB_EXPIRED)
    return record


def code_matches(record: OobRecord, oob_code: str, binding_code: str) -> bool:
    if record.code_mac is None:
        return False
    candidate = binding_code.strip()
    # Always compute the MAC, so a malformed code takes as long as a wrong one.
    expected = _mac(oob_code, candidate)
    well_formed = len(candidate) == CODE_DIGITS and candidate.isascii() and candidate.isdigit()
    return hmac.compare_digest(expected, record.code_mac) and well_formed


async def poll(deps: Deps, oob_code: str) -> OAuthError:
    """The answer to a poll of a challenge still waiting: pending, or slow_down when the
    previous poll was less than POLL_INTERVAL seconds ago."""
    first = await deps.state.add(f"oobpoll:{digest(oob_code, 'oob_code')}", "1", POLL_INTERVAL)
    return AuthorizationPending() if first else SlowDown()


async def spend(deps: Deps, oob_code: str) -> bool:
    """Consume the record; True for exactly one caller."""
    return await deps.state.consume(key_for(oob_code)) is not None


async def decide(deps: Deps, key: str, status: Status) -> bool:
    """Move a pending push (or push enrolment) to approved/rejected; False if it was not
    pending any more (already decided, spent or expired)."""
    for _ in range(8):
        raw = await deps.state.get(key)
        if raw is None:
            return False
        record = _decode(raw)
        if record.status != "pending" or deps.clock.now() >= record.expires_at:
            return False
        updated = replace(record, status=status)
        if await deps.state.cas(key, raw, _encode(updated), ttl=_ttl(deps, updated)):
            return True
    return False

"""How much enrolling one user may do: authenticators held, and /mfa/associate calls made.

Every authenticator makes each later grant of its user do more (a TOTP grant decrypts and checks
every active secret), and every associate leaves state behind (an `oob_code` record, a push
enrolment ticket) for up to an hour. So a user holds at most `max_authenticators_per_kind` active
authenticators of each kind, and associates are rate-limited per user (a burst, then one per
`associate_refill_seconds`) and per credential (an mfa_token or MFA-API token starts at most
`associate_per_token`). Together the two bounds cap the enrolment state one user can hold.
The buckets are generic-cell-rate cells on the StateStore, like the attempt buckets, so they
hold across requests and nodes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from twofold.core.deps import Deps
from twofold.core.errors import InvalidRequest, TooManyRequests
from twofold.core.ids import digest
from twofold.core.models import Authenticator, AuthenticatorKind

TOO_MANY_AUTHENTICATORS = "The user already has the most authenticators of this kind allowed"
TOO_MANY_ASSOCIATES = "Too many enrollment requests. Try again later."

# sms and voice rows of one phone are linked and count once.
_COUNTED_AS: dict[str, str] = {"voice": "sms"}


def _family(kind: str) -> str:
    return _COUNTED_AS.get(kind, kind)


class NoRoom(InvalidRequest):
    """The user holds the most active authenticators of a kind: 400 invalid_request on the MFA
    API (Auth0's answer), 409 on the My Account API."""


def check_room(
    deps: Deps, authenticators: Sequence[Authenticator], kind: AuthenticatorKind
) -> None:
    """Refuse a new enrolment of `kind` when the user holds the most active ones allowed."""
    family = _family(kind)
    held = {
        a.link_id or a.id
        for a in authenticators
        if a.active and _family(a.kind) == family and not (a.kind == "totp" and a.link_id)
    }
    if len(held) >= deps.policy.max_authenticators_per_kind:
        raise NoRoom(TOO_MANY_AUTHENTICATORS)


async def admit(
    deps: Deps,
    authenticators: Sequence[Authenticator],
    kind: AuthenticatorKind,
    user_id: str,
    credential: str,
) -> None:
    """Both bounds for one new enrolment of `kind`: room for it, then a call from the
    allowances (so a refused enrolment for lack of room costs no call)."""
    check_room(deps, authenticators, kind)
    await take_associate(deps, user_id, credential)


async def take_associate(deps: Deps, user_id: str, credential: str) -> None:
    """One /mfa/associate call for `user_id` made with `credential` (the mfa_token's id, or the
    access token's identity), or 429 too_many_requests."""
    policy = deps.policy
    interval = policy.associate_refill_seconds
    per_user = f"associate:user:{user_id}"
    refused = await deps.state.gcra_take(
        per_user, interval, (policy.associate_capacity - 1) * interval
    )
    if refused is not None:
        raise _exhausted(deps, refused, policy.associate_capacity)
    # A credential lives minutes: its cell never refills within its life.
    token_interval = 3600.0
    per_token = f"associate:cred:{digest(credential, 'associate')}"
    tolerance = (policy.associate_per_token - 1) * token_interval
    refused = await deps.state.gcra_take(per_token, token_interval, tolerance)
    if refused is not None:
        await deps.state.gcra_refund(per_user, interval)
        raise _exhausted(deps, None, policy.associate_per_token)


def _exhausted(deps: Deps, tat: float | None, limit: int) -> TooManyRequests:
    now = deps.clock.now()
    interval = deps.policy.associate_refill_seconds
    retry = max(1, math.ceil(interval if tat is None else tat - now - (limit - 1) * interval))
    return TooManyRequests(
        TOO_MANY_ASSOCIATES,
        headers={
            "Retry-After": str(retry),
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(math.ceil(now + retry)),
        },
    )

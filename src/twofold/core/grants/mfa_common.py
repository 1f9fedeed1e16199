"""The skeleton every MFA grant runs on.

    begin → verify the proof (no writes) → grant_unit: reserve an attempt, act on the outcome
    (claim the code, confirm an enrolment, spend the mfa_token, give the attempt back or count
    it, audit rows) → mint

The unit is one database transaction, so a crash or a lost race between two of its steps
leaves none of them done. Tokens are signed after it, never inside it.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from twofold.core import audience, audit, issuance
from twofold.core.attempts import Attempts, Hold, mfa_attempts, nothing_held
from twofold.core.deps import Deps
from twofold.core.errors import (
    MALFORMED_MFA_TOKEN,
    BackendUnavailable,
    InvalidGrant,
    TooManyAttempts,
    UserBlocked,
)
from twofold.core.grants.base import GrantRequest
from twofold.core.mfa import bearer, mfa_tokens
from twofold.core.models import Authenticator, MfaToken, TokenSet, User


def attempts(deps: Deps) -> Attempts:
    return mfa_attempts(
        deps.state,
        deps.clock,
        deps.policy.failed_attempts_capacity,
        deps.policy.failed_attempts_refill_seconds,
    )


async def _record(deps: Deps, req: GrantRequest) -> tuple[str, MfaToken]:
    mfa_token = req.required("mfa_token")
    return mfa_token, await bearer.for_grant(deps, mfa_token, req.client.client_id)


async def begin(deps: Deps, req: GrantRequest) -> tuple[str, MfaToken, User]:
    mfa_token, record = await _record(deps, req)
    return mfa_token, record, _usable(await deps.storage.users.get(record.user_id))


async def begin_with_authenticators(
    deps: Deps, req: GrantRequest
) -> tuple[str, MfaToken, User, list[Authenticator]]:
    """`begin`, and the user's stored authenticators, read with the user in one round trip."""
    mfa_token, record = await _record(deps, req)
    user, authenticators = await deps.storage.user_and_authenticators(record.user_id)
    return mfa_token, record, _usable(user), list(authenticators)


async def begin_with_recovery_hash(
    deps: Deps, req: GrantRequest
) -> tuple[str, MfaToken, User, list[Authenticator], str | None]:
    """`begin_with_authenticators`, and the user's recovery code hash, read in the same round
    trip."""
    mfa_token, record = await _record(deps, req)
    user, authenticators, code_hash = await deps.storage.user_authenticators_and_recovery_hash(
        record.user_id
    )
    return mfa_token, record, _usable(user), list(authenticators), code_hash


def _usable(user: User | None) -> User:
    if user is None:
        raise InvalidGrant(MALFORMED_MFA_TOKEN)
    if user.blocked:
        raise UserBlocked()
    return user


@asynccontextmanager
async def grant_unit(
    deps: Deps, client_id: str, user: User, bucket: Attempts | None, *, factor: str
) -> AsyncIterator[Hold]:
    """A unit of work that first reserves an attempt from the user's bucket (429 when it is
    empty, with nothing written): a grant's whole outcome then commits in one transaction. The
    block gets the attempt's hold: it counts as a failed attempt unless the block gives it back.
    A grant whose proof is no guess (a push approval) passes no bucket.

    If the block raises InvalidGrant (it lost a race for the mfa_token or the code to a
    concurrent grant: not a guess), the unit rolls back, and the attempt costs nothing.
    """
    try:
        if bucket is None:
            async with deps.storage.unit_of_work():
                yield nothing_held(deps.state)
        elif deps.state.transactional:
            async with deps.storage.unit_of_work():
                hold = await bucket.hold(user.user_id)
                yield hold
                await hold.settle()
        else:
            # Taken before the unit opens: on SQLite the unit holds the write lock, which must
            # not wait on a network round trip (nor be taken at all for a refusal).
            try:
                hold = await bucket.hold(user.user_id)
            except BackendUnavailable:
                # Whether the take happened is unknown: it goes back if Redis answers now.
                with contextlib.suppress(BackendUnavailable):
                    await bucket.refund(user.user_id)
                raise
            try:
                async with deps.storage.unit_of_work():
                    yield hold
                    await hold.settle()
            except InvalidGrant:
                await hold.abandon()
                raise
            except BackendUnavailable:
                # The unit rolled back; the attempt taken outside it (Redis) goes back too, if
                # Redis answers: an outage is not a guess.
                with contextlib.suppress(BackendUnavailable):
                    await hold.abandon()
                raise
    except TooManyAttempts:
        deps.metrics.mfa_rate_limited(factor, "attempts")
        await audit.record(deps, audit.OTP_RATE_LIMIT, user_id=user.user_id, client_id=client_id)
        raise


async def failed(deps: Deps, client_id: str, user: User, event: str, factor: str) -> None:
    # The attempt reserved up front is not given back: that is the failure being counted.
    deps.metrics.mfa_failure(factor)
    await audit.record(deps, event, user_id=user.user_id, client_id=client_id, factor=factor)


async def record_success(deps: Deps, req: GrantRequest, user: User, authenticator_id: str) -> None:
    await audit.record(
        deps,
        audit.AUTH_SUCCEED,
        user_id=user.user_id,
        client_id=req.client.client_id,
        authenticator_id=authenticator_id,
    )


async def spend(deps: Deps, mfa_token: str, record: MfaToken, hold: Hold) -> None:
    """The proof was good: spend the mfa_token and give the attempt back, together (one round
    trip on Redis). A race lost for the mfa_token raises InvalidGrant, the attempt given back
    all the same: that is no guess either."""
    if record.via_access_token:
        await hold.give_back()
    else:
        await mfa_tokens.consume(deps, mfa_token, hold)


async def mint(deps: Deps, req: GrantRequest, record: MfaToken, user: User, grant: str) -> TokenSet:
    target = await audience.resolve(deps, record.audience)
    return await issuance.user_tokens(
        deps, user, req.client, target, record.scope, mfa=True, grant=grant
    )


async def confirm_enrolment(
    deps: Deps,
    client_id: str,
    user: User,
    authenticators: list[Authenticator],
    confirmed: Authenticator,
    now: float,
) -> list[str]:
    """Confirm an enrolment: the authenticator, its linked sibling (sms+voice, push+totp) and
    the user's pending recovery code become active together, and the event is recorded.
    Returns the activated ids."""
    ids = [confirmed.id]
    ids += [
        a.id
        for a in authenticators
        if not a.active
        and a.id != confirmed.id
        and (a.kind == "recovery-code" or (a.link_id and a.link_id == confirmed.link_id))
    ]
    await deps.storage.authenticators.activate(ids, now)
    await audit.record(
        deps,
        audit.ENROLLMENT_COMPLETE,
        user_id=user.user_id,
        client_id=client_id,
        authenticator_id=confirmed.id,
    )
    return ids

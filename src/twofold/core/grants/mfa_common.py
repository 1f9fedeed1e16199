"""The shared tail of every MFA grant: load the transaction, gate on the failure bucket, and
after a verified factor spend the mfa_token and mint the tokens bound at password time."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from twofold.core import audience, audit, issuance
from twofold.core.attempts import Attempts, mfa_attempts
from twofold.core.deps import Deps
from twofold.core.errors import (
    MALFORMED_MFA_TOKEN,
    BackendUnavailable,
    InvalidGrant,
    TooManyAttempts,
)
from twofold.core.grants.base import GrantRequest
from twofold.core.mfa import bearer, transaction
from twofold.core.models import Authenticator, MfaTransaction, TokenSet, User


def attempts(deps: Deps) -> Attempts:
    return mfa_attempts(
        deps.state,
        deps.clock,
        deps.policy.failed_attempts_capacity,
        deps.policy.failed_attempts_refill_seconds,
    )


async def take_attempt(deps: Deps, req: GrantRequest, user: User) -> Attempts:
    """Every MFA grant takes an attempt from the user's bucket before its code is looked at;
    the grant refunds it when the code is good."""
    bucket = attempts(deps)
    try:
        await bucket.take(user.user_id)
    except TooManyAttempts:
        await audit.record(
            deps, audit.OTP_RATE_LIMIT, user_id=user.user_id, client_id=req.client.client_id
        )
        raise
    return bucket


@asynccontextmanager
async def attempt_unit(
    deps: Deps, req: GrantRequest, user: User, bucket: Attempts
) -> AsyncIterator[None]:
    """A unit of work that first takes an attempt from the user's bucket (429 when it is empty,
    with nothing written): a grant's whole outcome then commits in one transaction.

    If the block raises InvalidGrant (it lost a race for the mfa_token or the code to a
    concurrent grant: not a guess), the unit rolls back, and with it the attempt, unless the
    bucket lives outside the unit (Redis): then it is refunded here.
    """
    try:
        if deps.state.transactional:
            async with deps.storage.unit_of_work():
                await bucket.take(user.user_id)
                yield
        else:
            # Taken before the unit opens: on SQLite the unit holds the write lock, which must
            # not wait on a network round trip (nor be taken at all for a refusal).
            await bucket.take(user.user_id)
            async with deps.storage.unit_of_work():
                yield
    except TooManyAttempts:
        await audit.record(
            deps, audit.OTP_RATE_LIMIT, user_id=user.user_id, client_id=req.client.client_id
        )
        raise
    except InvalidGrant:
        if not deps.state.transactional:
            await bucket.refund(user.user_id)
        raise
    except BackendUnavailable:
        # The unit rolled back; an attempt taken outside it (Redis) goes back too, if Redis
        # answers: an outage is not a guess.
        if not deps.state.transactional:
            with contextlib.suppress(BackendUnavailable):
                await bucket.refund(user.user_id)
        raise


async def failed(deps: Deps, req: GrantRequest, user: User, event: str, factor: str) -> None:
    # The attempt taken up front stays spent: that is the failure being counted.
    await audit.record(
        deps, event, user_id=user.user_id, client_id=req.client.client_id, factor=factor
    )


async def begin(deps: Deps, req: GrantRequest) -> tuple[str, MfaTransaction, User]:
    mfa_token = req.required("mfa_token")
    tx = await bearer.for_grant(deps, mfa_token, req.client.client_id)
    user = await deps.storage.users.get(tx.user_id)
    if user is None:
        raise InvalidGrant(MALFORMED_MFA_TOKEN)
    return mfa_token, tx, user


async def record_success(deps: Deps, req: GrantRequest, user: User, authenticator_id: str) -> None:
    await audit.record(
        deps,
        audit.AUTH_SUCCEED,
        user_id=user.user_id,
        client_id=req.client.client_id,
        authenticator_id=authenticator_id,
    )


async def spend(deps: Deps, mfa_token: str, tx: MfaTransaction) -> None:
    if not tx.via_access_token:
        await transaction.consume(deps, mfa_token)


async def mint(
    deps: Deps, req: GrantRequest, tx: MfaTransaction, user: User, grant: str
) -> TokenSet:
    target = await audience.resolve(deps, tx.audience)
    return await issuance.user_tokens(
        deps,
        user=user,
        client=req.client,
        audience=tx.audience,
        scope=tx.scope,
        lifetime=target.lifetime,
        mfa=True,
        grant=grant,
    )


async def activate_enrolment(
    deps: Deps,
    req: GrantRequest,
    user: User,
    authenticators: list[Authenticator],
    confirmed: Authenticator,
    now: float,
) -> list[str]:
    """Confirm an enrolment: the authenticator, its linked sibling (sms+voice, push+totp) and
    the user's pending recovery code become active together, and the event is recorded.
    Returns the activated ids."""
    ids = await activate_only(authenticators, confirmed, now, deps)
    await record_enrolment(deps, req, user, confirmed)
    return ids


async def activate_only(
    authenticators: list[Authenticator], confirmed: Authenticator, now: float, deps: Deps
) -> list[str]:
    """The activation of `activate_enrolment` without its audit event, for a grant that records
    the event itself (with `record_enrolment`)."""
    ids = [confirmed.id]
    ids += [
        a.id
        for a in authenticators
        if not a.active
        and a.id != confirmed.id
        and (a.kind == "recovery-code" or (a.link_id and a.link_id == confirmed.link_id))
    ]
    await deps.storage.authenticators.activate(ids, now)
    return ids


async def record_enrolment(
    deps: Deps, req: GrantRequest, user: User, confirmed: Authenticator
) -> None:
    await audit.record(
        deps,
        audit.ENROLLMENT_COMPLETE,
        user_id=user.user_id,
        client_id=req.client.client_id,
        authenticator_id=confirmed.id,
    )


async def succeed(
    deps: Deps,
    req: GrantRequest,
    mfa_token: str,
    tx: MfaTransaction,
    user: User,
    grant: str,
    authenticator_id: str,
) -> TokenSet:
    """A verified second factor: spend the mfa_token, mint the tokens, record the success."""
    await spend(deps, mfa_token, tx)
    return await issue(deps, req, tx, user, grant, authenticator_id)


async def issue(
    deps: Deps,
    req: GrantRequest,
    tx: MfaTransaction,
    user: User,
    grant: str,
    authenticator_id: str,
) -> TokenSet:
    """After the mfa_token is spent: mint the tokens and record the success."""
    tokens = await mint(deps, req, tx, user, grant)
    await record_success(deps, req, user, authenticator_id)
    return tokens

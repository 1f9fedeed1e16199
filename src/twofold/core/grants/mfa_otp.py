"""http://auth0.com/oauth/grant-type/mfa-otp (spec §4.1, decisions 6 and 7).

Verifies a TOTP code against the user's active OTP authenticators, or confirms a pending
enrolment. The replay guard is a single conditional write of the accepted time step, so one code
wins once across concurrent requests and nodes.
"""

from __future__ import annotations

from twofold.core import audit
from twofold.core.deps import Deps
from twofold.core.errors import INVALID_OTP, MALFORMED_MFA_TOKEN, InvalidGrant
from twofold.core.factors import totp
from twofold.core.grants import mfa_common
from twofold.core.grants.base import GrantRequest
from twofold.core.mfa.authenticators import has_active_factor
from twofold.core.models import GRANT_MFA_OTP, Authenticator, TokenSet

GRANT_TYPE = GRANT_MFA_OTP
PARAMETERS = frozenset({"mfa_token", "otp"})


def _candidates(
    authenticators: list[Authenticator], confirming: bool, pending_only: bool
) -> list[Authenticator]:
    active = [a for a in authenticators if a.kind == "totp" and a.active]
    pending = [a for a in authenticators if a.kind == "totp" and not a.active]
    if pending_only:
        return pending
    return active + pending if confirming else active


def secret_aad(authenticator_id: str) -> str:
    return f"authenticator:{authenticator_id}:secret"


async def handle(deps: Deps, req: GrantRequest) -> TokenSet:
    mfa_token, tx, user = await mfa_common.begin(deps, req)
    code = req.required("otp")
    attempts = await mfa_common.take_attempt(deps, req, user)

    authenticators = list(await deps.storage.authenticators.list_for_user(user.user_id))
    # A pending enrolment may be confirmed while the user has no active factor, or by the holder
    # of an MFA-API access token (which itself required MFA once a factor existed). That token
    # confirms enrolments only: it must not mint itself a successor with an existing factor.
    confirming = tx.via_access_token or not has_active_factor(authenticators)
    candidates = _candidates(authenticators, confirming, pending_only=tx.via_access_token)
    if tx.via_access_token and not candidates:
        raise InvalidGrant(MALFORMED_MFA_TOKEN)
    now = deps.clock.now()
    replayed = False
    for candidate in candidates:
        if candidate.secret_enc is None:
            continue
        secret = deps.keyring.decrypt(candidate.secret_enc, secret_aad(candidate.id)).decode()
        step = totp.matching_step(secret, code, now)
        if step is None:
            continue
        # Claiming the step, a confirmation, spending the mfa_token and the refund commit together
        # (one transaction instead of four); signing and audit events come after, outside it.
        # The refund is last, so rows are locked in the order authenticator, mfa_token, bucket
        # (as the recovery-code grant does: mfa_token, code, bucket), and a refund to a store
        # outside the unit (Redis) never happens for a grant that then loses its mfa_token.
        try:
            async with deps.storage.unit_of_work():
                if not await deps.storage.authenticators.claim_totp_step(candidate.id, step, now):
                    replayed = True
                    continue
                if not candidate.active:
                    await _confirm_enrolment(deps, authenticators, candidate, now)
                await mfa_common.spend(deps, mfa_token, tx)
                await attempts.refund(user.user_id)
        except InvalidGrant:
            # The mfa_token was spent a moment ago by a concurrent grant: nothing here was
            # committed, and losing that race is not a guess.
            await attempts.refund(user.user_id)
            raise
        if not candidate.active:
            await mfa_common.record_enrolment(deps, req, user, candidate)
        return await mfa_common.issue(deps, req, tx, user, "mfa-otp", candidate.id)
    # A replayed valid code is not a guess: it reveals nothing and costs the bucket nothing.
    if replayed:
        await attempts.refund(user.user_id)
    else:
        await mfa_common.failed(deps, req, user, audit.AUTH_FAILED, "otp")
    raise InvalidGrant(INVALID_OTP)


async def _confirm_enrolment(
    deps: Deps,
    authenticators: list[Authenticator],
    confirmed: Authenticator,
    now: float,
) -> None:
    ids = await mfa_common.activate_only(authenticators, confirmed, now, deps)
    # Only one OTP enrolment stays pending at a time; drop any other unconfirmed one (but never a
    # push enrolment's companion TOTP, which goes with its push).
    others = [
        a.id
        for a in authenticators
        if a.kind == "totp" and not a.active and a.id not in ids and a.link_id is None
    ]
    if others:
        await deps.storage.authenticators.delete(others)

"""http://auth0.com/oauth/grant-type/mfa-otp: a TOTP code as the second factor.

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
from twofold.core.mfa.enrolled import is_enrolled
from twofold.core.models import GRANT_MFA_OTP, Authenticator, TokenSet, User

GRANT_TYPE = GRANT_MFA_OTP


def _candidates(
    authenticators: list[Authenticator], confirming: bool, pending_only: bool
) -> list[Authenticator]:
    active = [a for a in authenticators if a.kind == "totp" and a.active]
    pending = [a for a in authenticators if a.kind == "totp" and not a.active]
    if pending_only:
        return pending
    return active + pending if confirming else active


async def handle(deps: Deps, req: GrantRequest) -> TokenSet:
    # The reads and the unit of work share one connection; signing comes after, outside it.
    async with deps.storage.shared_connection():
        mfa_token, record, user, authenticators = await mfa_common.begin_with_authenticators(
            deps, req
        )
        code = req.required("otp")
        # A pending enrolment may be confirmed while the user has no active factor, or by the
        # holder of an MFA-API access token (which itself required MFA once a factor existed).
        # That token confirms enrolments only: it must not mint itself a successor with an
        # existing factor.
        confirming = record.via_access_token or not await is_enrolled(
            deps, user.user_id, authenticators, user=user
        )
        candidates = _candidates(authenticators, confirming, pending_only=record.via_access_token)
        # Nothing such a token may confirm: the attempt is still taken, then the token refused.
        nothing_to_confirm = record.via_access_token and not candidates
        now = deps.clock.now()
        attempts = mfa_common.attempts(deps)
        # One transaction for the whole outcome: the attempt, claiming the step, a confirmation,
        # spending the mfa_token, the attempt given back (or counted) and the audit rows. Rows are
        # locked in the order bucket, authenticator, mfa_token (the recovery-code grant: bucket,
        # mfa_token, code). Signing comes after, outside it.
        async with mfa_common.grant_unit(
            deps, req.client.client_id, user, attempts, factor="otp"
        ) as hold:
            winner, replayed = await claim_code(
                deps, req.client.client_id, user, authenticators, candidates, code, now
            )
            if winner is not None:
                await mfa_common.spend(deps, mfa_token, record, hold)
            elif replayed:
                # A replayed valid code is not a guess: it reveals nothing and costs nothing.
                await hold.give_back()
            if winner is not None:
                # The factor is verified and the mfa_token spent: that is what this row says, even
                # if minting then fails (an API deleted since the password step).
                await mfa_common.record_success(deps, req, user, winner.id)
            elif not replayed and not nothing_to_confirm:
                await mfa_common.failed(deps, req.client.client_id, user, audit.AUTH_FAILED, "otp")
    if winner is not None:
        return await mfa_common.mint(deps, req, record, user, "mfa-otp")
    if nothing_to_confirm:
        raise InvalidGrant(MALFORMED_MFA_TOKEN)
    raise InvalidGrant(INVALID_OTP)


async def claim_code(
    deps: Deps,
    client_id: str,
    user: User,
    authenticators: list[Authenticator],
    candidates: list[Authenticator],
    code: str,
    now: float,
) -> tuple[Authenticator | None, bool]:
    """Inside a grant unit whose attempt is taken: the candidate whose time step `code` claims
    (confirming it when it is a pending enrolment), and whether a match lost its step to an
    earlier use of the same code (a replay)."""
    # Secrets are opened only once the attempt is taken, so a refused (429) request costs the
    # same however many authenticators the user holds.
    replayed = False
    for candidate, step in totp.verify(deps, candidates, code, now):
        if not await deps.storage.authenticators.claim_totp_step(candidate.id, step, now):
            replayed = True
            continue
        if not candidate.active:
            ids = await mfa_common.confirm_enrolment(
                deps, client_id, user, authenticators, candidate, now
            )
            await _drop_other_pending(deps, authenticators, ids)
        return candidate, replayed
    return None, replayed


async def _drop_other_pending(
    deps: Deps, authenticators: list[Authenticator], confirmed: list[str]
) -> None:
    # Only one OTP enrolment stays pending at a time; drop any other unconfirmed one (but never a
    # push enrolment's companion TOTP, which goes with its push).
    others = [
        a.id
        for a in authenticators
        if a.kind == "totp" and not a.active and a.id not in confirmed and a.link_id is None
    ]
    if others:
        await deps.storage.authenticators.delete(others)

"""http://auth0.com/oauth/grant-type/mfa-oob: an out-of-band challenge as the second factor.

The outcome per `oob_code`, decided by the factor that issued it (`factors.registry.OOB_FACTORS`):

- prompt channels (sms, voice, email): the right `binding_code` → tokens; a wrong one → 403
  invalid_grant `Invalid binding_code.`, drawn from the failure bucket (taken before the
  outcome counts, given back on success, like mfa-otp); no `binding_code` → 400
  authorization_pending, or slow_down when polled faster than every 5 s;
- push: approved → tokens; rejected → 400 access_denied `MFA Authorization rejected.`; still
  waiting → authorization_pending / slow_down;
- expired → 403 expired_token `oob_code is expired`; another mfa_token's code → 400
  invalid_request `The oob_code doesn't match the mfa_token`.

A code that confirms an enrolment activates the authenticator with its linked sibling (sms+voice,
push+totp) and the pending recovery code. Spending the code, the confirmation, spending the
mfa_token, the attempt given back (or counted) and the audit rows commit in one unit of work
(`mfa_common.grant_unit`).
"""

from __future__ import annotations

from twofold.core import audit
from twofold.core.deps import Deps
from twofold.core.errors import (
    ALREADY_ENROLLED,
    INVALID_BINDING_CODE,
    MALFORMED_MFA_TOKEN,
    MALFORMED_OOB,
    AccessDenied,
    InvalidGrant,
)
from twofold.core.factors import email, oob_codes
from twofold.core.factors.registry import OOB_FACTORS
from twofold.core.grants import mfa_common
from twofold.core.grants.base import GrantRequest
from twofold.core.mfa.enrolled import is_enrolled
from twofold.core.models import GRANT_MFA_OOB, Authenticator, TokenSet

GRANT_TYPE = GRANT_MFA_OOB


async def handle(deps: Deps, req: GrantRequest) -> TokenSet:
    mfa_token, record, user = await mfa_common.begin(deps, req)
    oob_code = req.required("oob_code")
    challenge = await oob_codes.load(deps, oob_code, record)
    if record.via_access_token and not challenge.enrolment:
        # An MFA-API access token may confirm an enrolment, nothing else.
        raise InvalidGrant(MALFORMED_MFA_TOKEN)
    factor = OOB_FACTORS[challenge.channel]
    # Compared before the unit opens (no writes); acted on only once an attempt is taken in it.
    proof = factor.verify(challenge, oob_code, req.optional("binding_code"))
    if proof is None:
        raise await oob_codes.poll(deps, oob_code)

    now = deps.clock.now()
    target: Authenticator | None = None
    confirming = False
    authenticators: list[Authenticator] = []
    if proof:
        authenticators = list(await deps.storage.authenticators.list_for_user(user.user_id))
        target = next((a for a in authenticators if a.id == challenge.authenticator_id), None)
        if target is None and challenge.authenticator_id != email.implicit_id(user.user_id):
            # Deleted (or replaced by a newer enrolment) while the code was out.
            raise InvalidGrant(MALFORMED_OOB)
        confirming = target is not None and challenge.enrolment and not target.active
        if confirming and target is not None and not record.via_access_token:
            linked = {target.id} | {
                a.id for a in authenticators if target.link_id and a.link_id == target.link_id
            }
            others = [a for a in authenticators if a.id not in linked]
            if await is_enrolled(deps, user.user_id, others, user=user):
                raise AccessDenied(ALREADY_ENROLLED)

    bucket = mfa_common.attempts(deps) if factor.GUESSABLE else None
    async with mfa_common.grant_unit(
        deps, req.client.client_id, user, bucket, factor=challenge.channel
    ) as hold:
        if not proof:
            await mfa_common.failed(
                deps, req.client.client_id, user, audit.AUTH_FAILED, challenge.channel
            )
        else:
            if not await oob_codes.spend(deps, oob_code):
                # A concurrent request used this code a moment ago: not a guess, costs nothing.
                raise InvalidGrant(INVALID_BINDING_CODE if factor.GUESSABLE else MALFORMED_OOB)
            if confirming and target is not None:
                await mfa_common.confirm_enrolment(
                    deps, req.client.client_id, user, authenticators, target, now
                )
            if target is not None:
                await deps.storage.authenticators.touch(target.id, now)
            await mfa_common.spend(deps, mfa_token, record, hold)
            await mfa_common.record_success(deps, req, user, challenge.authenticator_id)
    if not proof:
        raise InvalidGrant(INVALID_BINDING_CODE)
    return await mfa_common.mint(deps, req, record, user, "mfa-oob")

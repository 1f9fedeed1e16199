"""http://auth0.com/oauth/grant-type/mfa-oob (spec §4.2, decisions 2, 9 and 16).

The outcome per `oob_code`:

- prompt channels (sms, voice, email): the right `binding_code` → tokens; a wrong one → 403
  invalid_grant `Invalid binding_code.`, drawn from the failure bucket (taken before the check,
  given back on success, like mfa-otp); no `binding_code` → 400 authorization_pending, or
  slow_down when polled faster than every 5 s;
- push: approved → tokens; rejected → 400 access_denied `MFA Authorization rejected.`; still
  waiting → authorization_pending / slow_down;
- expired → 403 expired_token `oob_code is expired`; another mfa_token's code → 400
  invalid_request `The oob_code doesn't match the mfa_token`.

A code that confirms an enrolment activates the authenticator with its linked sibling (sms+voice,
push+totp) and the pending recovery code. Success spends the code (one atomic consume).
"""

from __future__ import annotations

from twofold.core import audit
from twofold.core.deps import Deps
from twofold.core.errors import (
    ALREADY_ENROLLED,
    INVALID_BINDING_CODE,
    MALFORMED_MFA_TOKEN,
    AccessDenied,
    InvalidGrant,
)
from twofold.core.factors import oob
from twofold.core.grants import mfa_common
from twofold.core.grants.base import GrantRequest
from twofold.core.mfa.authenticators import implicit_email_id, is_enrolled
from twofold.core.models import GRANT_MFA_OOB, TokenSet

GRANT_TYPE = GRANT_MFA_OOB
PARAMETERS = frozenset({"mfa_token", "oob_code", "binding_code"})


async def handle(deps: Deps, req: GrantRequest) -> TokenSet:
    mfa_token, tx, user = await mfa_common.begin(deps, req)
    oob_code = req.required("oob_code")
    record = await oob.load(deps, oob_code, tx)
    if tx.via_access_token and not record.enrolment:
        # An MFA-API access token may confirm an enrolment, nothing else.
        raise InvalidGrant(MALFORMED_MFA_TOKEN)

    if record.channel == "auth0":
        if record.status == "rejected":
            raise oob.PushRejected()
        if record.status != "approved":
            raise await oob.poll(deps, oob_code)
        if not await oob.spend(deps, oob_code):
            raise InvalidGrant(oob.MALFORMED_OOB)
    else:
        binding_code = req.optional("binding_code")
        if binding_code is None:
            raise await oob.poll(deps, oob_code)
        attempts = await mfa_common.take_attempt(deps, req, user)
        if not oob.code_matches(record, oob_code, binding_code):
            await mfa_common.failed(deps, req, user, audit.AUTH_FAILED, record.channel)
            raise InvalidGrant(INVALID_BINDING_CODE)
        if not await oob.spend(deps, oob_code):
            # A concurrent request used this code a moment ago: not a guess, costs nothing.
            await attempts.refund(user.user_id)
            raise InvalidGrant(INVALID_BINDING_CODE)
        await attempts.refund(user.user_id)

    authenticators = list(await deps.storage.authenticators.list_for_user(user.user_id))
    now = deps.clock.now()
    target = next((a for a in authenticators if a.id == record.authenticator_id), None)
    if target is None and record.authenticator_id != implicit_email_id(user.user_id):
        # Deleted (or replaced by a newer enrolment) while the code was out.
        raise InvalidGrant(oob.MALFORMED_OOB)
    if target is not None and record.enrolment and not target.active:
        linked = {target.id} | {
            a.id for a in authenticators if target.link_id and a.link_id == target.link_id
        }
        others = [a for a in authenticators if a.id not in linked]
        if not tx.via_access_token and await is_enrolled(deps, user.user_id, others):
            raise AccessDenied(ALREADY_ENROLLED)
        await mfa_common.activate_enrolment(deps, req, user, authenticators, target, now)
    if target is not None:
        await deps.storage.authenticators.touch(target.id, now)
    return await mfa_common.succeed(
        deps, req, mfa_token, tx, user, "mfa-oob", record.authenticator_id
    )

"""http://auth0.com/oauth/grant-type/mfa-recovery-code: the recovery code as the second factor.

The code is rotated by one conditional write (old hash → new hash), so a code works once even
under concurrency; the new code is returned as `recovery_code`.
"""

from __future__ import annotations

from dataclasses import replace

from twofold.core import audit
from twofold.core.deps import Deps
from twofold.core.errors import INVALID_RECOVERY_CODE, MALFORMED_MFA_TOKEN, InvalidGrant
from twofold.core.factors import recovery
from twofold.core.grants import mfa_common
from twofold.core.grants.base import GrantRequest
from twofold.core.ids import constant_time_equal
from twofold.core.models import GRANT_MFA_RECOVERY_CODE, TokenSet

GRANT_TYPE = GRANT_MFA_RECOVERY_CODE


async def handle(deps: Deps, req: GrantRequest) -> TokenSet:
    # The reads and the unit of work share one connection; signing comes after, outside it.
    async with deps.storage.shared_connection():
        mfa_token, record, user, authenticators, stored = await mfa_common.begin_with_recovery_hash(
            deps, req
        )
        if record.via_access_token:
            # An MFA-API access token may confirm an enrolment, nothing else.
            raise InvalidGrant(MALFORMED_MFA_TOKEN)
        code = req.required("recovery_code")

        tenant = await deps.tenant()
        has_recovery = any(a.kind == "recovery-code" and a.active for a in authenticators)
        now = deps.clock.now()
        # Compared before the unit opens; acted on only once an attempt has been taken inside it.
        good = (
            tenant.recovery_codes_enabled
            and has_recovery
            and stored is not None
            and recovery.is_well_formed(code)
            and constant_time_equal(recovery.hash_code(code), stored)
        )
        fresh = ""
        attempts = mfa_common.attempts(deps)
        # The attempt (given back or counted), spending the mfa_token, rotating the code and the
        # audit row commit together or not at all, so neither the mfa_token nor the code can be
        # spent without the other.
        async with mfa_common.grant_unit(
            deps, req.client.client_id, user, attempts, factor="recovery-code"
        ) as hold:
            if good and stored is not None:
                # Made only now, after the attempt is taken: made before, its cost would make a
                # refused (429) right code answer more slowly than a refused wrong one.
                fresh = recovery.new_code()
                # The attempt goes back with the mfa_token: a code another request spent a
                # moment ago (below) is no guess either.
                await mfa_common.spend(deps, mfa_token, record, hold)
                if not await deps.storage.recovery_codes.rotate(
                    user.user_id, stored, recovery.hash_code(fresh), now
                ):
                    # Another request spent this code a moment ago: same answer as a wrong code.
                    raise InvalidGrant(INVALID_RECOVERY_CODE)
                await audit.record(
                    deps,
                    audit.RECOVERY_SUCCEED,
                    user_id=user.user_id,
                    client_id=req.client.client_id,
                )
            else:
                await mfa_common.failed(
                    deps, req.client.client_id, user, audit.RECOVERY_FAILED, "recovery-code"
                )
    if not good:
        raise InvalidGrant(INVALID_RECOVERY_CODE)
    tokens = await mfa_common.mint(deps, req, record, user, "mfa-recovery-code")
    return replace(tokens, recovery_code=fresh)

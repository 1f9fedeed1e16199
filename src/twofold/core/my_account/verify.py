"""POST /me/v1/authentication-methods/{id}/verify: confirm an enrolment with its auth_session.

The confirmation follows the MFA grants' rules and runs on their skeleton
(`grants.mfa_common.grant_unit`): an attempt is taken from the user's failure bucket first (the
same bucket the MFA grants draw on; 429 when it is empty), then one unit of work claims the code,
spends the auth_session, activates the authenticator with its linked rows and the user's pending
recovery code, gives the attempt back and writes the audit rows, or none of it. A wrong code keeps
the auth_session (the bucket bounds the guesses); a replayed TOTP code, or a session another
request spent a moment ago, confirms nothing and costs no attempt.

- totp: `otp_code`, checked against the pending authenticator only (`grants.mfa_otp.claim_code`);
- phone and email: `otp_code`, the code that was sent (the auth_session is its oob_code);
- push-notification: nothing more; the device must have bound itself first;
- recovery-code: nothing more (`recovery_code`, when sent, must be the code shown); the new code
  replaces the old one;
- passkey: `authn_response`, the attestation (`passkeys.py`).

An auth_session confirms only the method it was issued for, for the user it was issued to.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from twofold.core import audit
from twofold.core.deps import Deps
from twofold.core.errors import ExpiredToken, InvalidGrant, InvalidRequest
from twofold.core.factors import oob_codes, recovery
from twofold.core.factors.registry import OOB_FACTORS
from twofold.core.grants import mfa_common, mfa_otp
from twofold.core.ids import constant_time_equal
from twofold.core.mfa import enrolled, manage
from twofold.core.models import Authenticator
from twofold.core.my_account import passkeys, sessions, views
from twofold.core.my_account.caller import Caller, record
from twofold.core.my_account.enrol import NO_RECOVERY, binding
from twofold.core.my_account.fields import only, required, text
from twofold.core.my_account.problems import Problem, invalid, not_found
from twofold.core.my_account.sessions import INVALID_SESSION

FIELDS = frozenset({"auth_session", "otp_code", "authn_response", "recovery_code"})
INVALID_CODE = "Invalid otp_code."
OOB_KINDS = ("sms", "voice", "email", "push")


async def verify(
    deps: Deps, caller: Caller, method_id: str, body: Mapping[str, Any]
) -> dict[str, Any]:
    only(body, FIELDS)
    auth_session = required(body, "auth_session", max_chars=sessions.MAX_SESSION_CHARS)
    kind = method_id.split("|", 1)[0]
    if kind == "passkey":
        await passkeys.verify(deps, caller, method_id, auth_session, body.get("authn_response"))
    elif kind == "totp":
        await _totp(deps, caller, method_id, auth_session, body)
    elif kind in OOB_KINDS:
        await _oob(deps, caller, method_id, auth_session, body)
    elif kind == "recovery-code":
        method_id = await _recovery_code(deps, caller, method_id, auth_session, body)
    else:
        raise not_found()
    return await views.one_view(deps, caller.user, method_id)


async def _pending_row(
    deps: Deps, caller: Caller, method_id: str
) -> tuple[list[Authenticator], Authenticator]:
    """The user's authenticators and the pending one being confirmed (gone or confirmed
    already: the auth_session has nothing left to confirm)."""
    stored = list(await deps.storage.authenticators.list_for_user(caller.user_id))
    target = next((a for a in stored if a.id == method_id and not a.active), None)
    if target is None:
        raise invalid("auth_session", INVALID_SESSION)
    return stored, target


async def _session(
    deps: Deps, caller: Caller, method_id: str, auth_session: str
) -> sessions.Pending:
    pending = await sessions.read(deps, auth_session)
    if pending is None or pending.user_id != caller.user_id or pending.method_id != method_id:
        raise invalid("auth_session", INVALID_SESSION)
    return pending


async def _totp(
    deps: Deps, caller: Caller, method_id: str, auth_session: str, body: Mapping[str, Any]
) -> None:
    await _session(deps, caller, method_id, auth_session)
    code = required(body, "otp_code", max_chars=16)
    stored, target = await _pending_row(deps, caller, method_id)
    client_id, user = caller.client_id, caller.user
    bucket = mfa_common.attempts(deps)
    now = deps.clock.now()
    try:
        async with mfa_common.grant_unit(deps, client_id, user, bucket, factor="otp") as hold:
            winner, replayed = await mfa_otp.claim_code(
                deps, client_id, user, stored, [target], code, now
            )
            if winner is not None and not await sessions.spend(deps, auth_session):
                raise InvalidGrant(INVALID_SESSION)
            if winner is not None or replayed:
                await hold.give_back()
            else:
                await mfa_common.failed(deps, client_id, user, audit.AUTH_FAILED, "otp")
    except InvalidGrant:
        raise invalid("auth_session", INVALID_SESSION) from None
    if winner is None:
        raise invalid("otp_code", INVALID_CODE)


async def _oob_record(
    deps: Deps, caller: Caller, method_id: str, auth_session: str
) -> oob_codes.OobRecord:
    try:
        record = await oob_codes.load_bound(
            deps, auth_session, caller.user_id, binding(caller.user_id)
        )
    except (InvalidGrant, InvalidRequest, ExpiredToken):
        raise invalid("auth_session", INVALID_SESSION) from None
    if not record.enrolment or record.authenticator_id != method_id:
        raise invalid("auth_session", INVALID_SESSION)
    return record


async def _oob(
    deps: Deps, caller: Caller, method_id: str, auth_session: str, body: Mapping[str, Any]
) -> None:
    record = await _oob_record(deps, caller, method_id, auth_session)
    factor = OOB_FACTORS[record.channel]
    proof = factor.verify(record, auth_session, text(body, "otp_code", max_chars=16))
    if proof is None:
        if factor.GUESSABLE:
            raise invalid("otp_code", "Missing required field: otp_code")
        raise Problem(400, "The device has not completed the enrolment yet: try again shortly")
    stored, target = await _pending_row(deps, caller, method_id)
    client_id, user = caller.client_id, caller.user
    bucket = mfa_common.attempts(deps) if factor.GUESSABLE else None
    now = deps.clock.now()
    try:
        async with mfa_common.grant_unit(
            deps, client_id, user, bucket, factor=record.channel
        ) as hold:
            if not proof:
                await mfa_common.failed(deps, client_id, user, audit.AUTH_FAILED, record.channel)
            else:
                # Spent in the unit: of concurrent confirmations, one wins, the others change
                # nothing.
                if not await oob_codes.spend(deps, auth_session):
                    raise InvalidGrant(INVALID_SESSION)
                await mfa_common.confirm_enrolment(deps, client_id, user, stored, target, now)
                await deps.storage.authenticators.touch(target.id, now)
                await hold.give_back()
    except InvalidGrant:
        raise invalid("auth_session", INVALID_SESSION) from None
    if not proof:
        raise invalid("otp_code", INVALID_CODE)


async def _recovery_code(
    deps: Deps, caller: Caller, method_id: str, auth_session: str, body: Mapping[str, Any]
) -> str:
    """Put the new code in force; the id of the user's recovery-code method."""
    pending = await _session(deps, caller, method_id, auth_session)
    if pending.code_hash is None:
        raise invalid("auth_session", INVALID_SESSION)
    shown = text(body, "recovery_code", max_chars=64)
    if shown is not None and not constant_time_equal(recovery.hash_code(shown), pending.code_hash):
        raise invalid("recovery_code", "recovery_code is not the code this enrolment showed")
    stored = await deps.storage.authenticators.list_for_user(caller.user_id)
    if not enrolled.usable(stored):
        # The last factor went while the code was shown: it has nothing to recover.
        raise invalid("auth_session", NO_RECOVERY)
    now = deps.clock.now()
    async with deps.storage.unit_of_work():
        if not await sessions.spend(deps, auth_session):
            raise invalid("auth_session", INVALID_SESSION)
        await manage.replace_recovery_code(
            deps, caller.user_id, stored, pending.code_hash, now, row_id=method_id
        )
    await record(deps, audit.ENROLLMENT_COMPLETE, caller, factor="recovery-code")
    held = next((a.id for a in stored if a.kind == "recovery-code"), None)
    return held or method_id

"""A passkey added through the My Account API: creation options, then the attestation.

`start` draws on the same enrolment room and allowance as every enrolment and opens a WebAuthn
session of kind "add", bound to the caller and to the id the new method will take; the token
endpoint refuses such a session. `verify` checks the attestation with py_webauthn (origin, RP ID,
challenge, user verification, the accepted attestation formats) and stores the active passkey and
its credential in one unit of work that spends the session, so a response counts once. One try
per session: a response that does not verify spends it too. A credential already registered (by
anyone) is refused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from twofold.core import audit
from twofold.core.deps import Deps
from twofold.core.factors import passkey, passkey_sessions
from twofold.core.ids import authenticator_id
from twofold.core.mfa import enrolment_limits
from twofold.core.models import Authenticator
from twofold.core.my_account.caller import Caller, record
from twofold.core.my_account.problems import Problem, invalid
from twofold.core.my_account.sessions import INVALID_SESSION
from twofold.core.ports import Conflict

NOT_VERIFIED = "The passkey could not be verified"


async def start(deps: Deps, caller: Caller, stored: Sequence[Authenticator]) -> dict[str, Any]:
    await enrolment_limits.admit(deps, stored, "passkey", caller.user_id, caller.credential)
    method_id = authenticator_id("passkey")
    held = await deps.storage.passkeys.list_for_user(caller.user_id)
    started = await passkey_sessions.add(
        deps, user=caller.user, client_id=caller.client_id, authenticator_id=method_id, held=held
    )
    await record(deps, audit.START_ENROLL, caller, factor="passkey")
    return {"id": method_id, **started}


async def verify(
    deps: Deps, caller: Caller, method_id: str, auth_session: str, response: Any
) -> None:
    session = await passkey_sessions.session(deps, auth_session)
    if (
        session is None
        or session.kind != "add"
        or session.user_id != caller.user_id
        or session.authenticator_id != method_id
        or session.user_handle is None
    ):
        raise invalid("auth_session", INVALID_SESSION)
    if not isinstance(response, Mapping):
        raise invalid("authn_response", "authn_response must be the PublicKeyCredential object")
    try:
        new = passkey.verify_registration(deps, session, response)
    except passkey.Refused as exc:
        await passkey_sessions.consume(deps, auth_session)
        await record(deps, audit.AUTH_FAILED, caller, factor="passkey", reason=exc.reason)
        raise invalid("authn_response", NOT_VERIFIED) from None
    stored = await deps.storage.authenticators.list_for_user(caller.user_id)
    # Checked again: several sessions may have been started while there was room for one.
    enrolment_limits.check_room(deps, stored, "passkey")
    now = deps.clock.now()
    row = new.authenticator(authenticator_id=method_id, user_id=caller.user_id, now=now)
    credential = new.stored(
        authenticator_id=method_id,
        user_id=caller.user_id,
        user_handle=session.user_handle,
        now=now,
        user_agent=audit.request_context.get().user_agent,
    )
    try:
        async with deps.storage.unit_of_work():
            if not await passkey_sessions.consume(deps, auth_session):
                raise invalid("auth_session", INVALID_SESSION)
            await deps.storage.authenticators.add(row)
            await deps.storage.passkeys.add(credential)
    except Conflict:
        # Rolled back, session included: spend it now (one try per session).
        await passkey_sessions.consume(deps, auth_session)
        raise Problem(409, "This passkey is already registered") from None
    await record(
        deps, audit.ENROLLMENT_COMPLETE, caller, factor="passkey", authenticator_id=method_id
    )

"""urn:okta:params:oauth:grant-type:webauthn: Auth0's native passkey login and signup.

    auth_session (from /passkey/challenge or /passkey/register) + authn_response (the
    PublicKeyCredential JSON) → tokens

It runs the MFA grants' skeleton: verify the response (py_webauthn, no writes) → one unit of
work that takes an attempt from the user's failure bucket, spends the auth_session (one atomic
consume: of concurrent requests with one response exactly one wins), moves the sign counter
(compare-and-set) or creates the user and the passkey, gives the attempt back and audits →
mint.

Decisions:
- Confidential clients only (the client authenticates at the token endpoint); a public client
  gets 401 invalid_client.
- One try per auth_session: a response that does not verify spends the session too.
- A login needs user verification (flag UV), so it satisfies the MFA policy on its own: tokens
  carry `amr` ["hwk" or "swk", "user", "mfa"] (RFC 8176: a key in hardware, or a synced passkey
  whose key is software-held; the user was verified; more than one factor), and a refresh
  token keeps the MFA status.
- A counter that does not move forward on a credential that counts is a cloned authenticator:
  refused, audited (`passkey_clone_detected`), the attempt stays spent.
- Signup: the session from /passkey/register creates the user (no password, the profile and
  user_metadata given there) with the passkey as its first authenticator; an email already
  taken in the realm is refused then.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, NamedTuple

from twofold.core import audience, audit, issuance
from twofold.core.deps import Deps
from twofold.core.errors import InvalidClient, InvalidGrant, InvalidRequest, UserBlocked
from twofold.core.factors import passkey, passkey_sessions
from twofold.core.grants import mfa_common
from twofold.core.grants.base import GrantRequest
from twofold.core.ids import authenticator_id, new_user_id
from twofold.core.models import (
    GRANT_WEBAUTHN,
    TokenSet,
    User,
)
from twofold.core.ports import Conflict

GRANT_TYPE = GRANT_WEBAUTHN
INVALID_SESSION = "Invalid or expired auth_session"
INVALID_RESPONSE = "The passkey could not be verified"
INVALID_SIGNUP = "Invalid sign up"
CONFIDENTIAL_ONLY = "Client authentication is required for the passkey grant"


def _response(req: GrantRequest) -> Mapping[str, Any]:
    raw = req.required("authn_response")
    try:
        value = json.loads(raw)
    except ValueError:
        raise InvalidRequest("authn_response must be a JSON object") from None
    if not isinstance(value, dict):
        raise InvalidRequest("authn_response must be a JSON object")
    return value


async def _record(
    deps: Deps,
    event: str,
    client_id: str,
    user: User | None = None,
    authenticator_id: str | None = None,
    **details: Any,
) -> None:
    """An audit event of a passkey grant (the user and passkey, once known)."""
    if authenticator_id is not None:
        details["authenticator_id"] = authenticator_id
    user_id = user.user_id if user is not None else None
    await audit.record(
        deps, event, user_id=user_id, client_id=client_id, factor="passkey", **details
    )


class Ceremony(NamedTuple):
    """One webauthn grant: the request, the auth_session it names and the browser's answer."""

    req: GrantRequest
    auth_session: str
    record: passkey.Session
    response: Mapping[str, Any]


def amr(backup_eligible: bool) -> list[str]:
    return ["swk" if backup_eligible else "hwk", "user", "mfa"]


async def handle(deps: Deps, req: GrantRequest) -> TokenSet:
    if req.client.auth_method == "none":
        raise InvalidClient(CONFIDENTIAL_ONLY)
    auth_session = req.required("auth_session")
    response = _response(req)
    record = await passkey_sessions.session(deps, auth_session)
    # A session adding a passkey to an account (the My Account API) is finished there, never
    # here: it must not sign anyone in.
    if record is None or record.client_id != req.client.client_id or record.kind == "add":
        raise InvalidGrant(INVALID_SESSION)
    target = await audience.resolve(deps, req.optional("audience"))
    scope = audience.grant_scopes(target, req.optional("scope"))
    ceremony = Ceremony(req, auth_session, record, response)
    if record.kind == "register":
        user, backup_eligible = await _signup(deps, ceremony)
        grant = "passkey-signup"
    else:
        user, backup_eligible = await _login(deps, ceremony)
        grant = "passkey"
    return await issuance.user_tokens(
        deps, user, req.client, target, scope, mfa=True, grant=grant, amr=amr(backup_eligible)
    )


async def _login(deps: Deps, ceremony: Ceremony) -> tuple[User, bool]:
    req, auth_session, record, response = ceremony
    client_id = req.client.client_id
    cred_id = passkey.credential_id_of(response)
    credential = None if cred_id is None else await deps.storage.passkeys.get(cred_id)
    user = None if credential is None else await deps.storage.users.get(credential.user_id)
    if credential is None or user is None or user.realm != record.realm:
        # No user to charge: the session is spent, and the answer is the same as a bad response.
        await passkey_sessions.consume(deps, auth_session)
        await _record(deps, audit.FAILED_LOGIN, client_id)
        raise InvalidGrant(INVALID_RESPONSE)
    refused: passkey.Refused | None = None
    use: passkey.Use | None = None
    try:
        use = passkey.verify_login(deps, record, response, credential)
    except passkey.Refused as exc:
        refused = exc
    now = deps.clock.now()
    attempts = mfa_common.attempts(deps)
    won = False
    async with mfa_common.grant_unit(
        deps, req.client.client_id, user, attempts, factor="passkey"
    ) as hold:
        spent = await passkey_sessions.consume(deps, auth_session)
        if use is not None and spent:
            won = await deps.storage.passkeys.record_use(
                credential.credential_id, credential.sign_count, use.new_count, use.backed_up, now
            )
        if won:
            await deps.storage.authenticators.touch(credential.authenticator_id, now)
            await hold.give_back()
            await _record(deps, audit.SUCCESS_LOGIN, client_id, user, credential.authenticator_id)
        elif use is not None:
            # A good response that lost its session or counter to a concurrent request: no
            # guess, so the attempt goes back.
            await hold.give_back()
        elif refused is not None:
            event = audit.PASSKEY_CLONE if refused.cloned else audit.FAILED_LOGIN
            await _record(
                deps, event, client_id, user, credential.authenticator_id, reason=refused.reason
            )
    if not won:
        raise InvalidGrant(INVALID_RESPONSE if use is None else INVALID_SESSION)
    if user.blocked:
        # Told only to whoever holds the passkey, as the password grant tells it only to whoever
        # knows the password.
        raise UserBlocked()
    return user, credential.backup_eligible


async def _signup(deps: Deps, ceremony: Ceremony) -> tuple[User, bool]:
    req, auth_session, record, response = ceremony
    client_id = req.client.client_id
    try:
        new = passkey.verify_registration(deps, record, response)
    except passkey.Refused as exc:
        await passkey_sessions.consume(deps, auth_session)
        await _record(deps, audit.FAILED_SIGNUP, client_id, reason=exc.reason)
        raise InvalidGrant(INVALID_RESPONSE) from None
    if record.email is None or record.user_handle is None:
        raise InvalidGrant(INVALID_SESSION)
    now = deps.clock.now()
    user = User(
        user_id=new_user_id(),
        email=record.email,
        # No password: only the passkey signs this user in (an empty hash never verifies).
        password_hash="",
        realm=record.realm,
        name=record.name,
        user_metadata=dict(record.user_metadata),
        created_at=now,
    )
    row = new.authenticator(
        authenticator_id=authenticator_id("passkey"), user_id=user.user_id, now=now
    )
    credential = new.stored(
        authenticator_id=row.id,
        user_id=user.user_id,
        user_handle=record.user_handle,
        now=now,
        user_agent=audit.request_context.get().user_agent,
    )
    outcome = "ok"
    try:
        async with mfa_common.grant_unit(deps, req.client.client_id, user, None, factor="passkey"):
            if not await passkey_sessions.consume(deps, auth_session):
                raise InvalidGrant(INVALID_SESSION)
            await deps.storage.users.create(user)
            await deps.storage.authenticators.add(row)
            await deps.storage.passkeys.add(credential)
    except Conflict:
        outcome = "conflict"
    if outcome == "conflict":
        # The unit rolled back, session included; spend it now (one try per session).
        await passkey_sessions.consume(deps, auth_session)
        await _record(deps, audit.FAILED_SIGNUP, client_id, reason="exists")
        raise InvalidGrant(INVALID_SIGNUP)
    await _record(deps, audit.SUCCESS_SIGNUP, client_id, user, row.id)
    return user, new.backup_eligible

"""The ceremonies' first half for passkeys: options and the `auth_session` behind them.

`enrol` (POST /passkey/register), `add` (the My Account API) and `challenge` (POST
/passkey/challenge) answer the PublicKeyCredentialCreationOptions or
PublicKeyCredentialRequestOptions of a new `auth_session`: a short-lived record in the StateStore
that carries the challenge and what the session may do (sign up one new user, add a passkey to
one existing user, or log in). The auth_session is a bearer secret; the state is keyed by its
hash. `consume` spends it in one atomic StateStore operation: of concurrent requests presenting
one response, exactly one gets the session. Deciding the response is `passkey.py`'s job.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

from webauthn import (
    base64url_to_bytes,
    generate_authentication_options,
    generate_registration_options,
)
from webauthn.helpers import bytes_to_base64url, options_to_json_dict
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from twofold.core.deps import Deps
from twofold.core.factors.passkey import ALGORITHMS, Session
from twofold.core.models import User, WebAuthnCredential
from twofold.core.secret_records import Family, open_record, read_record, spend

SESSIONS = Family("passkey:session:", "passkey-session")


async def _open_session(deps: Deps, session: Session) -> str:
    return await open_record(deps, SESSIONS, asdict(session), deps.policy.passkey_session_lifetime)


def _timeout_ms(deps: Deps) -> int:
    return deps.policy.passkey_session_lifetime * 1000


def _creation_options(
    deps: Deps,
    challenge: bytes,
    *,
    user_name: str,
    display_name: str,
    user_handle: bytes,
    exclude: Sequence[str] = (),
) -> Any:
    return generate_registration_options(
        rp_id=deps.policy.webauthn_rp_id,
        rp_name=deps.policy.webauthn_rp_name,
        user_name=user_name,
        user_id=user_handle,
        user_display_name=display_name,
        challenge=challenge,
        timeout=_timeout_ms(deps),
        attestation=AttestationConveyancePreference.NONE,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            require_resident_key=True,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        supported_pub_key_algs=ALGORITHMS,
        exclude_credentials=[
            PublicKeyCredentialDescriptor(id=base64url_to_bytes(c)) for c in exclude
        ],
    )


async def enrol(
    deps: Deps,
    *,
    client_id: str,
    realm: str,
    email: str,
    name: str | None,
    user_metadata: Mapping[str, str],
) -> dict[str, Any]:
    """POST /passkey/register: creation options for a new user's first passkey."""
    challenge = secrets.token_bytes(32)
    user_handle = secrets.token_bytes(32)
    options = _creation_options(
        deps, challenge, user_name=email, display_name=name or email, user_handle=user_handle
    )
    return await _begin(
        deps,
        options,
        Session(
            kind="register",
            client_id=client_id,
            realm=realm,
            challenge=bytes_to_base64url(challenge),
            expires_at=_expiry(deps),
            email=email,
            name=name,
            user_handle=bytes_to_base64url(user_handle),
            user_metadata=dict(user_metadata),
        ),
    )


async def add(
    deps: Deps,
    *,
    user: User,
    client_id: str,
    authenticator_id: str,
    held: Sequence[WebAuthnCredential],
) -> dict[str, Any]:
    """Creation options for one more passkey of an existing user. Their passkeys share one
    WebAuthn user.id (so an authenticator keeps one passkey per account), and the ones they hold
    are excluded (so an authenticator does not register twice)."""
    challenge = secrets.token_bytes(32)
    handle = base64url_to_bytes(held[0].user_handle) if held else secrets.token_bytes(32)
    options = _creation_options(
        deps,
        challenge,
        user_name=user.email,
        display_name=user.name or user.email,
        user_handle=handle,
        exclude=[c.credential_id for c in held],
    )
    session = Session(
        "add",
        client_id,
        user.realm,
        bytes_to_base64url(challenge),
        _expiry(deps),
        user_handle=bytes_to_base64url(handle),
        user_id=user.user_id,
        authenticator_id=authenticator_id,
    )
    return await _begin(deps, options, session)


async def challenge(deps: Deps, *, client_id: str, realm: str) -> dict[str, Any]:
    """POST /passkey/challenge: request options for a discoverable credential (no
    allowCredentials: the authenticator offers the passkeys it holds for this RP)."""
    raw = secrets.token_bytes(32)
    options = generate_authentication_options(
        rp_id=deps.policy.webauthn_rp_id,
        challenge=raw,
        timeout=_timeout_ms(deps),
        allow_credentials=[],
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    session = Session("login", client_id, realm, bytes_to_base64url(raw), _expiry(deps))
    return await _begin(deps, options, session)


def _expiry(deps: Deps) -> float:
    return deps.clock.now() + deps.policy.passkey_session_lifetime


async def _begin(deps: Deps, options: Any, session: Session) -> dict[str, Any]:
    """Open the auth_session and answer the options the browser passes to WebAuthn."""
    auth_session = await _open_session(deps, session)
    return {"authn_params_public_key": options_to_json_dict(options), "auth_session": auth_session}


async def session(deps: Deps, auth_session: str) -> Session | None:
    """The live session behind an auth_session (read only), or None."""
    return await read_record(deps, SESSIONS, auth_session, Session)


async def consume(deps: Deps, auth_session: str) -> bool:
    """Spend the auth_session (and its challenge) in one atomic operation: True for exactly one
    of any number of concurrent callers."""
    return await spend(deps, SESSIONS, auth_session)

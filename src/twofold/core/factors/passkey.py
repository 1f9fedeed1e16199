"""The passkey factor: WebAuthn ceremonies for Auth0's native passkey login and the My Account
API. Their first half (options and the `auth_session`) is `passkey_sessions.py`.

- `verify_registration` and `verify_login` decide a response without writing anything. The
  verification itself is py_webauthn's (origin, RP ID hash, challenge, flags UP and UV, the
  attestation statement, the signature, the sign counter); nothing here parses or checks
  WebAuthn data by hand.
- `NewCredential.stored` and `.authenticator`: a verified registration as the rows it is stored as.
- `describe`: a passkey as the authenticator lists describe it. Auth0's MFA API does not list
  passkeys, so GET /mfa/authenticators never shows this entry (`mfa/enrolled.mfa_only`).

Imports neither grants nor MFA use cases, like every factor.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from webauthn import (
    base64url_to_bytes,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import bytes_to_base64url
from webauthn.helpers.cose import COSEAlgorithmIdentifier
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import AttestationFormat

from twofold.core.deps import Deps
from twofold.core.factors.base import describe as common_describe
from twofold.core.models import Authenticator, WebAuthnCredential

SessionKind = Literal["register", "add", "login"]
# ES256 first (every platform authenticator), then EdDSA and RS256 (Windows Hello).
ALGORITHMS = [
    COSEAlgorithmIdentifier.ECDSA_SHA_256,
    COSEAlgorithmIdentifier.EDDSA,
    COSEAlgorithmIdentifier.RSASSA_PKCS1_v1_5_SHA_256,
]
# Attestation formats a registration may carry: `none` (what platform passkeys send) and
# `packed` (self attestation, or a certificate chain). Others are refused: we trust no
# attestation root, so they would prove nothing more and widen what must be parsed.
ACCEPTED_FORMATS = frozenset({AttestationFormat.NONE, AttestationFormat.PACKED})
TRANSPORTS = frozenset({"usb", "nfc", "ble", "smart-card", "hybrid", "internal", "cable"})


class Refused(Exception):
    """A response that does not verify. `reason` is for logs and the audit trail only (no
    secret, no response data); `cloned` marks a valid signature whose counter went back."""

    def __init__(self, reason: str, *, cloned: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.cloned = cloned


@dataclass(frozen=True, slots=True)
class Session:
    """What an auth_session stands for."""

    kind: SessionKind
    client_id: str
    realm: str
    # The challenge as sent (base64url); single use: the session is consumed with it.
    challenge: str
    expires_at: float
    # Signup only: the profile of the user to create, and the WebAuthn user.id given to the
    # authenticator (base64url).
    email: str | None = None
    name: str | None = None
    user_handle: str | None = None
    # Adding a passkey: the user it is for, and the id its authenticator will take.
    user_id: str | None = None
    authenticator_id: str | None = None
    # Signup only: stored on the user it creates (up to ten string fields, as Auth0 takes them).
    user_metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class NewCredential:
    """A verified registration, not yet stored."""

    credential_id: str
    public_key: str
    sign_count: int
    aaguid: str
    transports: tuple[str, ...]
    backup_eligible: bool
    backed_up: bool

    def stored(
        self,
        *,
        authenticator_id: str,
        user_id: str,
        user_handle: str,
        now: float,
        user_agent: str | None = None,
    ) -> WebAuthnCredential:
        """The credential to store for this registration, first used now."""
        return WebAuthnCredential(
            **asdict(self),
            authenticator_id=authenticator_id,
            user_id=user_id,
            user_handle=user_handle,
            created_at=now,
            last_used_at=now,
            user_agent=user_agent,
        )

    @staticmethod
    def authenticator(*, authenticator_id: str, user_id: str, now: float) -> Authenticator:
        """The passkey's authenticator row: active (the registration verified), first used now."""
        return Authenticator(
            authenticator_id, user_id, "passkey", True, now, confirmed_at=now, last_used_at=now
        )


@dataclass(frozen=True, slots=True)
class Use:
    """A verified login: what to record on the credential."""

    new_count: int
    backed_up: bool


def credential_id_of(response: Mapping[str, Any]) -> str | None:
    """The credential id a response names (`id`), to find the stored credential by. Only a
    lookup key: the verifier checks that `rawId` matches it."""
    value = response.get("id")
    if isinstance(value, str) and 0 < len(value) <= 1400:
        return value
    return None


def _ceremony(deps: Deps, record: Session, response: Mapping[str, Any]) -> dict[str, Any]:
    """What both verifications check alike: this session's challenge, our relying party and
    origins, and user verification (always required)."""
    return {
        "credential": dict(response),
        "expected_challenge": base64url_to_bytes(record.challenge),
        "expected_rp_id": deps.policy.webauthn_rp_id,
        "expected_origin": list(deps.policy.webauthn_origins),
        "require_user_verification": True,
    }


def verify_registration(deps: Deps, record: Session, response: Mapping[str, Any]) -> NewCredential:
    """A registration response for this session, verified by py_webauthn with user
    verification required and the accepted attestation formats; raises Refused."""
    try:
        verified = verify_registration_response(
            **_ceremony(deps, record, response),
            require_user_presence=True,
            supported_pub_key_algs=ALGORITHMS,
        )
    except WebAuthnException as exc:
        raise Refused(f"registration: {str(exc)[:120]}") from None
    except (ValueError, TypeError, KeyError, AttributeError, IndexError, OverflowError):
        # Hostile structures can trip the parser below its own exceptions: still a refusal.
        raise Refused("registration: malformed response") from None
    if verified.fmt not in ACCEPTED_FORMATS:
        raise Refused(f"registration: attestation format {verified.fmt.value} not accepted")
    backup_eligible = verified.credential_device_type.value == "multi_device"
    return NewCredential(
        credential_id=bytes_to_base64url(verified.credential_id),
        public_key=bytes_to_base64url(verified.credential_public_key),
        sign_count=verified.sign_count,
        aaguid=verified.aaguid,
        transports=_transports(response),
        backup_eligible=backup_eligible,
        backed_up=verified.credential_backed_up,
    )


def _transports(response: Mapping[str, Any]) -> tuple[str, ...]:
    inner = response.get("response")
    listed = inner.get("transports") if isinstance(inner, Mapping) else None
    if not isinstance(listed, list):
        return ()
    return tuple(sorted({t for t in listed if isinstance(t, str) and t in TRANSPORTS}))


def _verify_assertion(
    deps: Deps, record: Session, response: Mapping[str, Any], public_key: bytes, count: int
) -> tuple[int, bool]:
    verified = verify_authentication_response(
        **_ceremony(deps, record, response),
        credential_public_key=public_key,
        credential_current_sign_count=count,
    )
    return verified.new_sign_count, verified.credential_backed_up


def verify_login(
    deps: Deps, record: Session, response: Mapping[str, Any], credential: WebAuthnCredential
) -> Use:
    """An assertion by this credential for this session, verified by py_webauthn (user
    verification required, the sign counter must move forward); raises Refused.

    A response refused only because its counter did not move forward (it verifies when the
    counter is left out) is a cloned authenticator's: Refused(cloned=True)."""
    if record.kind != "login":
        raise Refused("login: the auth_session is not a login session")
    handle = response.get("response")
    user_handle = handle.get("userHandle") if isinstance(handle, Mapping) else None
    if user_handle not in (None, "") and user_handle != credential.user_handle:
        raise Refused("login: the userHandle is not the credential's")
    try:
        public_key = base64url_to_bytes(credential.public_key)
        new_count, backed_up = _verify_assertion(
            deps, record, response, public_key, credential.sign_count
        )
    except WebAuthnException as exc:
        reason = f"login: {str(exc)[:120]}"
        if credential.sign_count > 0 and _verifies_without_counter(
            deps, record, response, credential
        ):
            raise Refused("login: sign counter went back", cloned=True) from None
        raise Refused(reason) from None
    except (ValueError, TypeError, KeyError, AttributeError, IndexError, OverflowError):
        raise Refused("login: malformed response") from None
    return Use(new_count=new_count, backed_up=backed_up)


def _verifies_without_counter(
    deps: Deps, record: Session, response: Mapping[str, Any], credential: WebAuthnCredential
) -> bool:
    try:
        _verify_assertion(deps, record, response, base64url_to_bytes(credential.public_key), 0)
    except Exception:  # any failure: no clone signal
        return False
    return True


def describe(authenticator: Authenticator) -> dict[str, Any]:
    return common_describe(authenticator)

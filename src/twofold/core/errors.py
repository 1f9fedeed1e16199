"""The OAuth error tree.

Every error a client can see is an ``OAuthError``: it fixes the HTTP status, the wire ``error``
code and a stable ``error_description`` (Auth0's wording). Descriptions that SDKs match exactly
are constants here so that no call site can misspell them. ``debug`` is for server-side logs
only and is never rendered; it must not contain secrets either.

    OAuthError
    ├── InvalidRequest            400 invalid_request
    ├── InvalidClient             401 invalid_client
    ├── UnauthorizedClient        403 unauthorized_client
    ├── UnsupportedGrantType      400 unsupported_grant_type
    ├── InvalidGrant              403 invalid_grant (wrong codes, bad mfa_token, bad credentials)
    ├── InvalidScope              400 invalid_scope
    ├── AccessDenied              403 access_denied
    ├── MfaRequired               403 mfa_required (+ mfa_token, mfa_requirements)
    ├── ExpiredToken              403 expired_token
    ├── TooManyAttempts           429 too_many_attempts
    │   └── AddressThrottled      (one address failed too often across users)
    ├── TooManyRequests           429 too_many_requests (send limits)
    ├── AssociationRequired       400 association_required
    ├── UnsupportedChallengeType  400 unsupported_challenge_type
    ├── InvalidAuthenticator      400 invalid_authenticator
    ├── AuthorizationPending      400 authorization_pending (mfa-oob poll)
    ├── SlowDown                  400 slow_down (mfa-oob poll too fast)
    ├── PushRejected              400 access_denied (the device said no)
    ├── EnrolmentConflict         409 invalid_request (push enrolment used twice)
    ├── InvalidToken              401 invalid_token (bearer on /mfa/*)
    ├── UserBlocked               401 unauthorized (an operator blocked the user)
    ├── InsufficientScope         403 insufficient_scope
    ├── NotFound                  404 not_found
    ├── UnsupportedMediaType      415 invalid_request
    ├── PayloadTooLarge           413 invalid_request
    ├── MethodNotAllowed          405 invalid_request
    ├── ServerError               500 server_error
    ├── BadGateway                502 bad_gateway (a message could not be delivered)
    └── BackendUnavailable        503 temporarily_unavailable (+ Retry-After)
"""

from __future__ import annotations

from typing import Any, ClassVar

MFA_REQUIRED = "Multifactor authentication required"
MALFORMED_MFA_TOKEN = "Malformed mfa_token"
MFA_TOKEN_EXPIRED = "mfa_token is expired"
MFA_TOKEN_OTHER_CLIENT = "mfa_token not issued to this client"
INVALID_OTP = "Invalid otp_code."
INVALID_BINDING_CODE = "Invalid binding_code."
INVALID_RECOVERY_CODE = "Invalid recovery_code."
ALREADY_ENROLLED = "User is already enrolled"
WRONG_CREDENTIALS = "Wrong email or password."
TOO_MANY_ATTEMPTS = "Too many failed attempts. Try again later."
CLIENT_AUTH_FAILED = "Client authentication failed"
OOB_EXPIRED = "oob_code is expired"
OOB_MISMATCH = "The oob_code doesn't match the mfa_token"
MALFORMED_OOB = "Malformed oob_code"
PUSH_REJECTED = "MFA Authorization rejected."
PENDING = "Authorization pending: please repeat the request in a few seconds."
SLOW_DOWN = "You are polling faster than allowed. Try again in a few seconds."


class OAuthError(Exception):
    status: ClassVar[int] = 400
    error: ClassVar[str] = "invalid_request"
    default_description: ClassVar[str] = "Invalid request"

    def __init__(
        self,
        description: str | None = None,
        *,
        debug: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.description = description or self.default_description
        self.debug = debug
        self.headers: dict[str, str] = dict(headers or {})
        super().__init__(self.description)

    def body(self) -> dict[str, Any]:
        return {"error": self.error, "error_description": self.description}


class InvalidRequest(OAuthError):
    status = 400
    error = "invalid_request"


class InvalidClient(OAuthError):
    status = 401
    error = "invalid_client"
    default_description = CLIENT_AUTH_FAILED


class UnauthorizedClient(OAuthError):
    status = 403
    error = "unauthorized_client"
    default_description = "The client is not authorized to use this grant type"


class UnsupportedGrantType(OAuthError):
    status = 400
    error = "unsupported_grant_type"
    default_description = "Unsupported grant type"


class InvalidGrant(OAuthError):
    status = 403
    error = "invalid_grant"
    default_description = "Invalid grant"


class InvalidScope(OAuthError):
    status = 400
    error = "invalid_scope"
    default_description = "Invalid scope"


class AccessDenied(OAuthError):
    status = 403
    error = "access_denied"
    default_description = "Access denied"


class MfaRequired(OAuthError):
    status = 403
    error = "mfa_required"
    default_description = MFA_REQUIRED

    def __init__(self, mfa_token: str, mfa_requirements: dict[str, Any]) -> None:
        super().__init__(MFA_REQUIRED)
        self.mfa_token = mfa_token
        self.mfa_requirements = mfa_requirements

    def body(self) -> dict[str, Any]:
        return {
            **super().body(),
            "mfa_token": self.mfa_token,
            "mfa_requirements": self.mfa_requirements,
        }


class ExpiredToken(OAuthError):
    status = 403
    error = "expired_token"
    default_description = MFA_TOKEN_EXPIRED


class TooManyAttempts(OAuthError):
    status = 429
    error = "too_many_attempts"
    default_description = TOO_MANY_ATTEMPTS


class AddressThrottled(TooManyAttempts):
    """The source address failed too often across users (the same 429 on the wire)."""


class AssociationRequired(OAuthError):
    status = 400
    error = "association_required"
    default_description = "User must enroll an authenticator before a challenge can be requested"


class UnsupportedChallengeType(OAuthError):
    status = 400
    error = "unsupported_challenge_type"
    default_description = "The user does not support the requested challenge type"


class InvalidAuthenticator(OAuthError):
    status = 400
    error = "invalid_authenticator"
    default_description = "The authenticator_id is not valid for this user"


class AuthorizationPending(OAuthError):
    status = 400
    error = "authorization_pending"
    default_description = PENDING


class SlowDown(OAuthError):
    status = 400
    error = "slow_down"
    default_description = SLOW_DOWN


class PushRejected(OAuthError):
    """The observed real answer, 400 access_denied (Auth0's documentation says 403)."""

    status = 400
    error = "access_denied"
    default_description = PUSH_REJECTED


class EnrolmentConflict(OAuthError):
    status = 409
    error = "invalid_request"
    default_description = "The enrollment transaction was already used"


class TooManyRequests(OAuthError):
    status = 429
    error = "too_many_requests"
    default_description = "Too many messages sent. Try again later."


class InvalidToken(OAuthError):
    status = 401
    error = "invalid_token"
    default_description = "Invalid or missing bearer token"


class UserBlocked(OAuthError):
    """Auth0's answer to any login of a blocked user, whatever the grant."""

    status = 401
    error = "unauthorized"
    default_description = "user is blocked"


class InsufficientScope(OAuthError):
    status = 403
    error = "insufficient_scope"
    default_description = "Insufficient scope"


class NotFound(OAuthError):
    status = 404
    error = "not_found"
    default_description = "Not found"


class UnsupportedMediaType(OAuthError):
    status = 415
    error = "invalid_request"
    default_description = "Unsupported content type"


class PayloadTooLarge(OAuthError):
    status = 413
    error = "invalid_request"
    default_description = "Request body too large"


class MethodNotAllowed(OAuthError):
    status = 405
    error = "invalid_request"
    default_description = "Method not allowed"


class ServerError(OAuthError):
    status = 500
    error = "server_error"
    default_description = "Internal server error"


class BadGateway(OAuthError):
    status = 502
    error = "bad_gateway"
    default_description = "The message could not be delivered. Try again later."


# Seconds a client is told to wait after a backend failure: enough for a pool to reconnect or a
# failover to finish, short enough that a user retrying by hand is not kept waiting.
RETRY_AFTER_UNAVAILABLE = 5


class BackendUnavailable(OAuthError):
    """A backend (the database, Redis) could not be reached or timed out. The adapters raise
    it in place of their drivers' connection errors, whose messages never reach the client;
    whatever the request was writing rolled back, so retrying it is safe."""

    status = 503
    error = "temporarily_unavailable"
    default_description = "The service is temporarily unavailable. Try again later."

    def __init__(self, backend: str, *, debug: str | None = None) -> None:
        super().__init__(
            debug=f"{backend} unavailable" + (f": {debug}" if debug else ""),
            headers={"Retry-After": str(RETRY_AFTER_UNAVAILABLE)},
        )
        self.backend = backend


def missing(name: str) -> InvalidRequest:
    return InvalidRequest(f"Missing required parameter: {name}")

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
    ├── PushRejected              400 access_denied (the device said no; the observed answer,
    │                             where Auth0's documentation says 403)
    ├── EnrolmentConflict         409 invalid_request (push enrolment used twice)
    ├── InvalidToken              401 invalid_token (bearer on /mfa/*)
    ├── UserBlocked               401 unauthorized (an operator blocked the user; Auth0's
    │                             answer to any login of theirs, whatever the grant)
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
INVALID_REQUEST = "Invalid request"
UNAUTHORIZED_CLIENT = "The client is not authorized to use this grant type"
UNSUPPORTED_GRANT_TYPE = "Unsupported grant type"
INVALID_GRANT = "Invalid grant"
INVALID_SCOPE = "Invalid scope"
ACCESS_DENIED = "Access denied"
ASSOCIATION_REQUIRED = "User must enroll an authenticator before a challenge can be requested"
UNSUPPORTED_CHALLENGE = "The user does not support the requested challenge type"
INVALID_AUTHENTICATOR = "The authenticator_id is not valid for this user"
ENROLMENT_CONFLICT = "The enrollment transaction was already used"
TOO_MANY_REQUESTS = "Too many messages sent. Try again later."
INVALID_TOKEN = "Invalid or missing bearer token"
USER_BLOCKED = "user is blocked"
INSUFFICIENT_SCOPE = "Insufficient scope"
NOT_FOUND = "Not found"
UNSUPPORTED_MEDIA_TYPE = "Unsupported content type"
PAYLOAD_TOO_LARGE = "Request body too large"
METHOD_NOT_ALLOWED = "Method not allowed"
SERVER_ERROR = "Internal server error"
BAD_GATEWAY = "The message could not be delivered. Try again later."


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
    status, error, default_description = 400, "invalid_request", INVALID_REQUEST


class InvalidClient(OAuthError):
    status, error, default_description = 401, "invalid_client", CLIENT_AUTH_FAILED


class UnauthorizedClient(OAuthError):
    status, error, default_description = 403, "unauthorized_client", UNAUTHORIZED_CLIENT


class UnsupportedGrantType(OAuthError):
    status, error, default_description = 400, "unsupported_grant_type", UNSUPPORTED_GRANT_TYPE


class InvalidGrant(OAuthError):
    status, error, default_description = 403, "invalid_grant", INVALID_GRANT


class InvalidScope(OAuthError):
    status, error, default_description = 400, "invalid_scope", INVALID_SCOPE


class AccessDenied(OAuthError):
    status, error, default_description = 403, "access_denied", ACCESS_DENIED


class ExpiredToken(OAuthError):
    status, error, default_description = 403, "expired_token", MFA_TOKEN_EXPIRED


class TooManyAttempts(OAuthError):
    status, error, default_description = 429, "too_many_attempts", TOO_MANY_ATTEMPTS


class AssociationRequired(OAuthError):
    status, error, default_description = 400, "association_required", ASSOCIATION_REQUIRED


class UnsupportedChallengeType(OAuthError):
    status, error, default_description = 400, "unsupported_challenge_type", UNSUPPORTED_CHALLENGE


class InvalidAuthenticator(OAuthError):
    status, error, default_description = 400, "invalid_authenticator", INVALID_AUTHENTICATOR


class AuthorizationPending(OAuthError):
    status, error, default_description = 400, "authorization_pending", PENDING


class SlowDown(OAuthError):
    status, error, default_description = 400, "slow_down", SLOW_DOWN


class PushRejected(OAuthError):
    status, error, default_description = 400, "access_denied", PUSH_REJECTED


class EnrolmentConflict(OAuthError):
    status, error, default_description = 409, "invalid_request", ENROLMENT_CONFLICT


class TooManyRequests(OAuthError):
    status, error, default_description = 429, "too_many_requests", TOO_MANY_REQUESTS


class InvalidToken(OAuthError):
    status, error, default_description = 401, "invalid_token", INVALID_TOKEN


class UserBlocked(OAuthError):
    status, error, default_description = 401, "unauthorized", USER_BLOCKED


class InsufficientScope(OAuthError):
    status, error, default_description = 403, "insufficient_scope", INSUFFICIENT_SCOPE


class NotFound(OAuthError):
    status, error, default_description = 404, "not_found", NOT_FOUND


class UnsupportedMediaType(OAuthError):
    status, error, default_description = 415, "invalid_request", UNSUPPORTED_MEDIA_TYPE


class PayloadTooLarge(OAuthError):
    status, error, default_description = 413, "invalid_request", PAYLOAD_TOO_LARGE


class MethodNotAllowed(OAuthError):
    status, error, default_description = 405, "invalid_request", METHOD_NOT_ALLOWED


class ServerError(OAuthError):
    status, error, default_description = 500, "server_error", SERVER_ERROR


class BadGateway(OAuthError):
    status, error, default_description = 502, "bad_gateway", BAD_GATEWAY


class AddressThrottled(TooManyAttempts):
    """The source address failed too often across users (the same 429 on the wire)."""


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

"""The audit trail: what happened, to whom, from where, named like Auth0's log event types
so that operators' existing dashboards and queries carry over.

The web layer sets the request context (end-user IP, user agent) once per request; use cases
call `record` without threading it through every signature.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from twofold.core.deps import Deps
from twofold.core.models import AuditEvent

# Auth0 log event types used by Twofold.
SUCCESS_LOGIN = "s"
FAILED_LOGIN_PASSWORD = "fp"
FAILED_LOGIN_USERNAME = "fu"
MFA_REQUIRED = "mfar"
AUTH_SUCCEED = "gd_auth_succeed"
AUTH_FAILED = "gd_auth_failed"
AUTH_REJECTED = "gd_auth_rejected"
OTP_RATE_LIMIT = "gd_otp_rate_limit_exceed"
RECOVERY_SUCCEED = "gd_recovery_succeed"
RECOVERY_FAILED = "gd_recovery_failed"
START_ENROLL = "gd_start_enroll"
ENROLLMENT_COMPLETE = "gd_enrollment_complete"
UNENROLL = "gd_unenroll"
SEND_SMS = "gd_send_sms"
SEND_SMS_FAILURE = "gd_send_sms_failure"
SEND_VOICE = "gd_send_voice"
SEND_VOICE_FAILURE = "gd_send_voice_failure"
SEND_EMAIL = "gd_send_email"
SEND_EMAIL_FAILURE = "gd_send_email_failure"
UPDATE_DEVICE_ACCOUNT = "gd_update_device_account"
BLOCKED_ACCOUNT = "limit_wc"
BLOCKED_ADDRESS = "limit_mu"
SEND_PUSH = "gd_send_pn"
SEND_PUSH_FAILURE = "gd_send_pn_failure"
# A change made through the Management API (who, which operation).
MANAGEMENT_OPERATION = "sapi"
# Twofold's own (Auth0 has no tenant-wide send cap): in the family of its `limit_*` events.
SEND_CAP_TRIPPED = "limit_send_tenant"
# Passkeys: Auth0's login and signup events, and Twofold's own for a cloned authenticator
# (a valid signature whose sign counter went back).
FAILED_LOGIN = "f"
SUCCESS_SIGNUP = "ss"
FAILED_SIGNUP = "fs"
PASSKEY_CLONE = "passkey_clone_detected"
# A refresh token (and its family) revoked at /oauth/revoke.
REFRESH_TOKEN_REVOKED = "srrt"
# An authorization code exchanged at the token endpoint, or refused there (a replay included).
SUCCESS_CODE_EXCHANGE = "seacft"
FAILED_CODE_EXCHANGE = "feacft"

DESCRIPTIONS = {
    SUCCESS_LOGIN: "Success Login",
    FAILED_LOGIN_PASSWORD: "Wrong email or password.",
    FAILED_LOGIN_USERNAME: "Wrong email or password.",
    MFA_REQUIRED: "Multifactor authentication required",
    AUTH_SUCCEED: "MFA authentication succeeded",
    AUTH_FAILED: "MFA authentication failed",
    AUTH_REJECTED: "MFA authentication rejected",
    OTP_RATE_LIMIT: "Too many failed MFA attempts",
    RECOVERY_SUCCEED: "Recovery code accepted",
    RECOVERY_FAILED: "Recovery code rejected",
    START_ENROLL: "MFA enrollment started",
    ENROLLMENT_COMPLETE: "MFA enrollment complete",
    UNENROLL: "Authenticator deleted",
    SEND_SMS: "SMS sent",
    SEND_SMS_FAILURE: "SMS delivery failed",
    SEND_VOICE: "Voice call placed",
    SEND_VOICE_FAILURE: "Voice call failed",
    SEND_EMAIL: "Email sent",
    SEND_EMAIL_FAILURE: "Email delivery failed",
    UPDATE_DEVICE_ACCOUNT: "Push device account updated",
    BLOCKED_ACCOUNT: "Too many failed login attempts",
    BLOCKED_ADDRESS: "Too many failed login attempts from this address",
    SEND_PUSH: "Push notification sent",
    SEND_PUSH_FAILURE: "Push notification failed",
    SEND_CAP_TRIPPED: "Tenant-wide send cap reached: messages on the channel are refused",
    FAILED_LOGIN: "Failed Login",
    SUCCESS_SIGNUP: "Success Signup",
    FAILED_SIGNUP: "Failed Signup",
    PASSKEY_CLONE: "Passkey refused: its sign counter went back (cloned authenticator)",
    MANAGEMENT_OPERATION: "Success API Operation",
    REFRESH_TOKEN_REVOKED: "Success Revocation",
    SUCCESS_CODE_EXCHANGE: "Success Exchange",
    FAILED_CODE_EXCHANGE: "Failed Exchange",
}

log = logging.getLogger("twofold.audit")


@dataclass(frozen=True, slots=True)
class RequestContext:
    ip: str | None = None
    user_agent: str | None = None


request_context: ContextVar[RequestContext] = ContextVar(
    "twofold_request_context",
    default=RequestContext(),  # noqa: B039 - a frozen dataclass, never mutated
)


async def record(
    deps: Deps,
    event_type: str,
    *,
    user_id: str | None = None,
    client_id: str | None = None,
    **details: Any,
) -> None:
    ctx = request_context.get()
    if ctx.user_agent:
        details.setdefault("user_agent", ctx.user_agent[:200])
    event = AuditEvent(
        type=event_type,
        at=deps.clock.now(),
        description=DESCRIPTIONS.get(event_type, event_type),
        user_id=user_id,
        client_id=client_id,
        ip=ctx.ip,
        details=details,
    )

    def failed(exc: Exception) -> None:
        # The trail must not turn a good login into an error; the log line keeps the event.
        log.error("audit write failed (%s): %s user=%s", type(exc).__name__, event_type, user_id)

    try:
        await deps.storage.audit.record(event, failed)
    except Exception as exc:
        failed(exc)

"""The reference authenticator: a push device and TOTP app for a terminal (and for tests).

It speaks Twofold's push device protocol (docs/push-protocol.md) as a client and keeps its keys
and secrets in a local JSON file (owner-only). `twofold authenticator …` wraps it.
"""

from twofold.authenticator.device import (
    Account,
    AuthenticatorError,
    DeviceClient,
    StateFile,
    parse_enrollment_uri,
    sign_request,
)

__all__ = [
    "Account",
    "AuthenticatorError",
    "DeviceClient",
    "StateFile",
    "parse_enrollment_uri",
    "sign_request",
]

"""The words of the hosted login pages, by message key and language.

English is the only language so far; a page asks with the request's `ui_locales` and falls
back to English, so a translation is a new entry in `CATALOG` and nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping

ENGLISH: Mapping[str, str] = {
    "login.title": "Sign in",
    "login.intro": "Sign in to continue to {app}.",
    "login.username": "Email or username",
    "login.password": "Password",
    "login.submit": "Continue",
    "login.or": "or",
    "login.passkey": "Sign in with a passkey",
    "mfa.title": "Verify your identity",
    "mfa.intro.otp": "Enter the code from your authenticator app.",
    "mfa.intro.email": "Enter the code we sent to {label}.",
    "mfa.intro.sms": "Enter the code we sent to {label}.",
    "mfa.intro.voice": "Enter the code we read out to {label}.",
    "mfa.intro.recovery-code": "Enter your recovery code.",
    "mfa.intro.push": "Approve the notification we sent to {label}.",
    "mfa.intro.passkey": "Use your passkey to confirm it is you.",
    "mfa.code": "Code",
    "mfa.remember": "Remember this browser",
    "mfa.submit": "Continue",
    "mfa.resend": "Send a new code",
    "mfa.other": "Try another method",
    "mfa.waiting": "Waiting for your approval…",
    "factor.otp": "Authenticator app",
    "factor.email": "Email",
    "factor.sms": "Text message",
    "factor.voice": "Phone call",
    "factor.push": "Push notification",
    "factor.passkey": "Passkey",
    "factor.recovery-code": "Recovery code",
    "passkey.button": "Use a passkey",
    "recovery.title": "Save your recovery code",
    "recovery.intro": (
        "Write this code down and keep it somewhere safe. It lets you sign in if you lose "
        "your device. It will not be shown again."
    ),
    "recovery.continue": "I have saved it",
    "enroll.title": "Secure your account",
    "enroll.intro": (
        "Scan this QR code with an authenticator app, or enter the key by hand, then enter the "
        "code it shows."
    ),
    "enroll.secret": "Key",
    "enroll.submit": "Continue",
    "enroll.passkey": "Use a passkey instead",
    "error.title": "Something went wrong",
    "respond.title": "Signing you in",
    "respond.continue": "Continue",
    "err.credentials-required": "Enter your email or username and your password.",
    "err.wrong-credentials": "Wrong email or password.",
    "err.too-many-attempts": "Too many attempts. Wait a while and try again.",
    "err.too-many-sends": "Too many codes were sent. Wait a while and try again.",
    "err.send-failed": "We could not send a code. Try another method.",
    "err.code-required": "Enter the code.",
    "err.wrong-code": "That code is not right. Check it and try again.",
    "err.passkey-failed": "The passkey could not be verified.",
    "err.passkey-other-user": "That passkey belongs to another account.",
    "err.push-rejected": "The sign-in was not approved.",
    "err.blocked": "This account is blocked.",
    "err.unknown-factor": "Choose one of the methods shown.",
    "err.enrol-failed": "The authenticator could not be set up. Start again.",
    "err.forbidden": "This form has expired. Start again from the application.",
    "err.gone": (
        "This sign-in has expired or belongs to another browser. Go back to the application "
        "and sign in again."
    ),
}

CATALOG: Mapping[str, Mapping[str, str]] = {"en": ENGLISH}


def language(ui_locales: str | None) -> str:
    """The first of the asked languages the catalog has (`en` when none)."""
    for tag in (ui_locales or "").split():
        base = tag.split("-", 1)[0].lower()
        if base in CATALOG:
            return base
    return "en"


class Words:
    """A page's message lookup in one language (English for what a translation lacks)."""

    def __init__(self, ui_locales: str | None) -> None:
        self.lang = language(ui_locales)
        self._table = CATALOG[self.lang]

    def __call__(self, key: str, **values: str) -> str:
        text = self._table.get(key) or ENGLISH.get(key) or key
        return text.format(**values) if values else text

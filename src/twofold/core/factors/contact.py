"""Where out-of-band codes go: phone numbers (E.164) and email addresses, validated and masked.

Phone numbers are parsed with `phonenumbers` (Google's libphonenumber metadata): a number must be
given in international form (a leading `+`, or `00`) and be a valid number for its region; the
stored form is E.164 (`+15551234567`). Masked forms are what `/mfa/authenticators` lists as
`name` (spec §7): every phone digit but the last four becomes `X`; an email keeps the first four
characters of its domain.
"""

from __future__ import annotations

import re

import phonenumbers

from twofold.core.errors import InvalidRequest

MAX_PHONE_CHARS = 32
MAX_EMAIL_CHARS = 254
INVALID_PHONE = "The phone_number must be a valid phone number in E.164 format"
INVALID_EMAIL = "The email must be a valid email address"

# Deliberately plain: one @, no spaces or controls, a dotted domain of letters, digits, hyphens.
_EMAIL = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@"
    r"(?=.{4,253}$)([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)
_PHONE_CHARS = re.compile(r"\+[0-9() .\-]+")


def normalize_phone(raw: object) -> str:
    """E.164 form of a user-supplied international number, or 400 invalid_request."""
    if not isinstance(raw, str) or not raw.strip() or len(raw) > MAX_PHONE_CHARS:
        raise InvalidRequest(INVALID_PHONE)
    text = raw.strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    if _PHONE_CHARS.fullmatch(text) is None:
        raise InvalidRequest(INVALID_PHONE)
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        raise InvalidRequest(INVALID_PHONE) from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidRequest(INVALID_PHONE)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_email(raw: object) -> str:
    """A lower-cased, syntactically valid address, or 400 invalid_request."""
    if not isinstance(raw, str) or len(raw) > MAX_EMAIL_CHARS:
        raise InvalidRequest(INVALID_EMAIL)
    text = raw.strip()
    if _EMAIL.fullmatch(text) is None or ".." in text:
        raise InvalidRequest(INVALID_EMAIL)
    return text.lower()


def mask_phone(e164: str) -> str:
    """`+15551239167` → `XXXXXXXX9167` (the shape of Auth0's listed names)."""
    return "X" * max(0, len(e164) - 4) + e164[-4:]


def mask_email(address: str) -> str:
    """`user@example.com` → `****@exam*******`."""
    _, _, domain = address.partition("@")
    return "****@" + domain[:4] + "*" * max(0, len(domain) - 4)

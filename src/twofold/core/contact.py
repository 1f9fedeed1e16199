"""Where out-of-band codes go: phone numbers (E.164) and email addresses, validated and masked.

Phone numbers are parsed with `phonenumbers` (Google's libphonenumber metadata): a number must be
given in international form (a leading `+`, or `00`) and be a valid number for its region; the
stored form is E.164 (`+15551234567`). Masked forms are what `/mfa/authenticators` lists as
`name`, masked as Auth0 masks them: every phone digit but the last four becomes `X`; an email
keeps the first four characters of its domain.

An operator may restrict phone numbers to some countries (SMS pumping goes to premium ranges
abroad): an allow-list of country calling codes (`+44`) and regions (`US`, ISO 3166 as
libphonenumber knows them). A region is the finer tool: `+1` alone covers the United States,
Canada and some twenty Caribbean countries. A number outside the list is refused at enrolment
with 400 invalid_request; an empty list allows every country.
"""

from __future__ import annotations

import re

import phonenumbers

from twofold.core.errors import InvalidRequest

MAX_PHONE_CHARS = 32
MAX_EMAIL_CHARS = 254
INVALID_PHONE = "The phone_number must be a valid phone number in E.164 format"
INVALID_EMAIL = "The email must be a valid email address"
COUNTRY_NOT_ALLOWED = "Phone numbers from this country are not accepted"

# Deliberately plain: one @, no spaces or controls, a dotted domain of letters, digits, hyphens.
_EMAIL = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@"
    r"(?=.{4,253}$)([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)
_PHONE_CHARS = re.compile(r"\+[0-9() .\-]+")


def country_allowed(number: phonenumbers.PhoneNumber, allowed: frozenset[str]) -> bool:
    """Whether the allow-list (`+<calling code>` and upper-case regions, as the settings
    normalise them) takes this number; an empty list takes every number."""
    if not allowed:
        return True
    if f"+{number.country_code}" in allowed:
        return True
    return phonenumbers.region_code_for_number(number) in allowed


def normalize_phone(raw: object, allowed: frozenset[str] = frozenset()) -> str:
    """E.164 form of a user-supplied international number, or 400 invalid_request. With an
    allow-list (`country_allowed`), a number from another country is refused too."""
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
    if not country_allowed(number, allowed):
        raise InvalidRequest(COUNTRY_NOT_ALLOWED)
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

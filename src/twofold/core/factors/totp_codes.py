"""TOTP codes (RFC 6238) as authenticator apps and Auth0 make them: SHA1, 6 digits, 30-second steps.

`matching_step` returns the *step* a code belongs to rather than a yes/no, because accepting a
code is two things: the code matches, and its step is later than the last step accepted for this
authenticator. The second is a single conditional write in storage (`claim_totp_step`), which is
what stops one code from being used twice, even by two requests racing on two nodes.
"""

from __future__ import annotations

import base64
import hmac
import secrets
from urllib.parse import quote

from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor.hotp import HOTP

DIGITS = 6
PERIOD = 30
ALGORITHM = "SHA1"
SECRET_BYTES = 20  # 160 bits, RFC 4226's recommendation; 32 base32 characters without padding

_ASCII_DIGITS = frozenset("0123456789")


def new_secret() -> str:
    return base64.b32encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def barcode_uri(secret: str, issuer: str, account: str) -> str:
    """The otpauth URI an authenticator app scans, in the shape Auth0 returns.

    The issuer appears both as the label prefix and as a parameter: older apps read the first,
    newer ones the second.
    """
    label = f"{quote(issuer, safe='')}:{quote(account, safe='')}"
    return (
        f"otpauth://totp/{label}?secret={secret}&issuer={quote(issuer, safe='')}"
        f"&algorithm={ALGORITHM}&digits={DIGITS}&period={PERIOD}"
    )


def code_at(secret: str, now: float) -> str:
    """The code an app shows at `now`; for tests and tooling."""
    return _code(secret, _step(now))


def matching_step(secret: str, code: str, now: float) -> int | None:
    """The time step whose code equals `code`: the current step first, then the previous one.

    Only exactly six ASCII digits can match; anything else is None without computing a code.
    A secret that is not valid base32 is our own bug, not user input, and raises ValueError.
    """
    if not _is_candidate(code):
        return None
    current = _step(now)
    steps = [current, current - 1] if current > 0 else [current]
    generator = _generator(secret)
    # Compute and compare every candidate so the time taken does not say which step matched.
    given = code.encode("ascii")
    matches = [hmac.compare_digest(generator.generate(step), given) for step in steps]
    for step, matched in zip(steps, matches, strict=True):
        if matched:
            return step
    return None


def _is_candidate(code: str) -> bool:
    # str.isdigit() would also accept other scripts' digits ("١٢٣٤٥٦"), which no app shows.
    return isinstance(code, str) and len(code) == DIGITS and set(code) <= _ASCII_DIGITS


def _step(now: float) -> int:
    return int(now // PERIOD)


def _generator(secret: str) -> HOTP:
    """RFC 4226 over the decoded secret: TOTP is HOTP at counter = step. Apps accept secrets
    without base32 padding, so it is added back before decoding."""
    key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    # Secrets made elsewhere (imported, or by older apps) can be shorter than 128 bits.
    return HOTP(key, DIGITS, SHA1(), enforce_key_length=False)  # noqa: S303 - RFC 6238 and every app use SHA1


def _code(secret: str, step: int) -> str:
    return _generator(secret).generate(step).decode("ascii")

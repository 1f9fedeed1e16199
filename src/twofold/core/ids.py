"""Identifiers and secrets: how they look on the wire and how they are keyed at rest.

Everything random here comes from `secrets`. Ids follow the shapes Auth0 clients have seen
(`totp|dev_<16 base62>`, `auth0|<24 hex>`) so that code parsing them keeps working.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string

BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase


def _base62(length: int) -> str:
    return "".join(secrets.choice(BASE62) for _ in range(length))


def device_suffix() -> str:
    """`dev_<16 base62>`: what follows the kind in an authenticator id. Linked authenticators
    (sms and voice of one phone, push and its TOTP) share one."""
    return f"dev_{_base62(16)}"


def authenticator_id(kind: str, suffix: str | None = None) -> str:
    """`<kind>|dev_<16 base62>`, the shape of every id observed on a real tenant."""
    if not kind or "|" in kind:
        # A `|` in the kind would make the id ambiguous to anything splitting on it.
        raise ValueError("authenticator kind must be non-empty and contain no '|'")
    return f"{kind}|{suffix or device_suffix()}"


def new_user_id() -> str:
    return "auth0|" + secrets.token_hex(12)


def new_job_id() -> str:
    """`job_<16 base62>`, the shape of Auth0's job ids."""
    return f"job_{_base62(16)}"


def new_client_id() -> str:
    return _base62(32)


def new_client_secret() -> str:
    # 48 random bytes encode to exactly 64 url-safe characters with no padding.
    return secrets.token_urlsafe(48)


def opaque_token(nbytes: int = 32) -> str:
    """A bearer-style random string (url-safe base64, no padding)."""
    if nbytes < 16:
        # Below 128 bits a stored hash of the token could be brute-forced offline.
        raise ValueError("opaque tokens need at least 16 random bytes")
    return secrets.token_urlsafe(nbytes)


def digest(value: str, purpose: str) -> str:
    """Hex SHA-256 over `purpose NUL value`.

    Only for high-entropy values (client secrets, refresh tokens, mfa tokens, recovery codes):
    a fast hash is enough when guessing is hopeless, and it lets us key rows and state entries
    by the hash instead of the secret. The purpose separates domains, so a refresh token's hash
    can never be looked up as an mfa_token's. Passwords go to `passwords.py`, never here.
    """
    if "\0" in purpose:
        # The NUL is the separator; a purpose containing one could collide with another purpose.
        raise ValueError("digest purpose must not contain NUL")
    h = hashlib.sha256()
    h.update(purpose.encode("utf-8"))
    h.update(b"\0")
    h.update(_utf8(value))
    return h.hexdigest()


def constant_time_equal(a: str, b: str) -> bool:
    # compare_digest refuses non-ASCII str, and client input can be anything, so compare bytes.
    return hmac.compare_digest(_utf8(a), _utf8(b))


def _utf8(value: str) -> bytes:
    # JSON bodies can carry lone surrogates ("\ud800"); they must hash and compare, not raise.
    return value.encode("utf-8", "surrogatepass")

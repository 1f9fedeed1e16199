"""Recovery codes: 24 characters of 0-9A-Z (about 124 bits), stored only as a hash.

People copy these from paper or a password manager, so comparison ignores case, spaces and
hyphens. The code is high-entropy, which is why a plain SHA-256 digest (not argon2) is enough.
"""

from __future__ import annotations

import re
import secrets
import string

from twofold.core import ids

ALPHABET = string.digits + string.ascii_uppercase
LENGTH = 24
HASH_PURPOSE = "recovery-code"

_WELL_FORMED = re.compile(rf"[0-9A-Z]{{{LENGTH}}}")
# ASCII-only upper-casing: str.upper() would also map "ß" to "SS" and a dotless i to "I",
# letting non-ASCII text pass as a code.
_NORMALIZE = str.maketrans(string.ascii_lowercase, string.ascii_uppercase, " -")


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def normalize(code: str) -> str:
    return code.translate(_NORMALIZE)


def is_well_formed(code: str) -> bool:
    return _WELL_FORMED.fullmatch(normalize(code)) is not None


def hash_code(code: str) -> str:
    return ids.digest(normalize(code), HASH_PURPOSE)

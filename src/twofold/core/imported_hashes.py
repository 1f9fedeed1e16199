"""Password hashes imported from another system, as Twofold stores and verifies them.

An imported hash is stored in the user's password hash column as `$import$` and compact JSON
holding what verifying needs: the algorithm (bcrypt, argon2, pbkdf2, a plain digest or an HMAC)
and its value, or its digest, hash, salt and key bytes (base64) and the password's encoding. The
prefix tells it from Twofold's own argon2id hashes: `PasswordHasher.needs_rehash` is true for it,
so the first successful login replaces it, and an upsert may replace it only while it is still
the imported one. Reading Auth0's description of a hash into this form is `auth0_hashes`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from typing import Any

import argon2
import bcrypt
from argon2.exceptions import InvalidHashError, VerificationError
from Crypto.Hash import MD4, RIPEMD160
from Crypto.Protocol.KDF import PBKDF2

PREFIX = "$import$"
# bcrypt reads at most 72 bytes of a password; the systems that made these hashes ignored the
# rest, so a longer password is cut the same way before checking it.
BCRYPT_MAX_PASSWORD_BYTES = 72
# Digests OpenSSL 3 no longer offers through hashlib, from pycryptodome.
_FALLBACK_DIGESTS: dict[str, Any] = {"md4": MD4, "ripemd160": RIPEMD160}
_argon2 = argon2.PasswordHasher()


def is_imported(stored: str) -> bool:
    return stored.startswith(PREFIX)


def stored(spec: Mapping[str, Any]) -> str:
    return PREFIX + json.dumps(spec, sort_keys=True, separators=(",", ":"))


def digest_module(name: str) -> Any:
    """hashlib's name for a digest, or pycryptodome's module where hashlib lacks it; ValueError
    for a digest neither has."""
    try:
        hashlib.new(name)
    except ValueError:
        module = _FALLBACK_DIGESTS.get(name)
        if module is None:
            raise ValueError(f"the {name} digest is not available") from None
        return module
    return name


def digest_size(name: str) -> int:
    module = digest_module(name)
    return hashlib.new(module).digest_size if isinstance(module, str) else int(module.digest_size)


def _password_bytes(spec: Mapping[str, Any], password: str) -> bytes:
    return password.encode(spec["password_encoding"])


def _salted(spec: Mapping[str, Any], password: bytes) -> bytes:
    if spec.get("salt") is None:
        return password
    salt = base64.b64decode(spec["salt"])
    return salt + password if spec["position"] == "prefix" else password + salt


def _verify_bcrypt(spec: Mapping[str, Any], password: str) -> bool:
    secret = password.encode("utf-8")[:BCRYPT_MAX_PASSWORD_BYTES]
    return bcrypt.checkpw(secret, spec["value"].encode("ascii"))


def _verify_argon2(spec: Mapping[str, Any], password: str) -> bool:
    try:
        return _argon2.verify(spec["value"], password)
    except (VerificationError, InvalidHashError):
        return False


def _verify_pbkdf2(spec: Mapping[str, Any], password: str) -> bool:
    expected = base64.b64decode(spec["hash"])
    salt = base64.b64decode(spec["salt"])
    secret = _password_bytes(spec, password)
    module = digest_module(spec["digest"])
    if isinstance(module, str):
        got = hashlib.pbkdf2_hmac(module, secret, salt, spec["iterations"], len(expected))
    else:
        got = PBKDF2(secret, salt, len(expected), count=spec["iterations"], hmac_hash_module=module)
    return hmac.compare_digest(got, expected)


def _verify_digest(spec: Mapping[str, Any], password: str) -> bool:
    message = _salted(spec, _password_bytes(spec, password))
    module = digest_module(spec["digest"])
    if isinstance(module, str):
        got = hashlib.new(module, message).digest()
    else:
        got = module.new(message).digest()
    return hmac.compare_digest(got, base64.b64decode(spec["hash"]))


def _verify_hmac(spec: Mapping[str, Any], password: str) -> bool:
    message = _salted(spec, _password_bytes(spec, password))
    key = base64.b64decode(spec["key"])
    got = hmac.new(key, message, digest_module(spec["digest"])).digest()
    return hmac.compare_digest(got, base64.b64decode(spec["hash"]))


_VERIFIERS: dict[str, Callable[[Mapping[str, Any], str], bool]] = {
    "bcrypt": _verify_bcrypt,
    "argon2": _verify_argon2,
    "pbkdf2": _verify_pbkdf2,
    "digest": _verify_digest,
    "hmac": _verify_hmac,
}


def verify(stored: str, password: str) -> bool:
    """True only when the password matches the imported hash; False for a mismatch, a password
    its encoding cannot carry, or a value that is not an imported hash. Blocking: the password
    hasher runs it in its thread pool."""
    if not is_imported(stored):
        return False
    try:
        spec = json.loads(stored[len(PREFIX) :])
        return _VERIFIERS[spec["algorithm"]](spec, password)
    except (KeyError, TypeError, ValueError, UnicodeError, binascii.Error):
        return False

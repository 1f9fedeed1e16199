"""Auth0's description of a user's password hash, read into the form Twofold stores and
verifies (`imported_hashes`), or refused with the field and the reason.

Auth0's bulk import gives a hash as `password_hash` (bcrypt) or as `custom_password_hash`
`{algorithm, hash: {value, encoding, digest, key}, salt: {value, encoding, position},
password: {encoding}}`. Read here: bcrypt ($2a$, $2b$), argon2 (PHC string), pbkdf2 (PHC string,
`pbkdf2-<digest>`), ldap (RFC 2307: {MD5} {SMD5} {SHA} {SSHA} {SHA256} … {SSHA512}), hmac, and
md4, md5, sha1, sha256, sha512 with an optional salt before or after the password. Refused:
scrypt (Auth0 documents no format for its parameters), and whirlpool or mdc2 digests (no
maintained Python implementation). Costs are capped, so that one hostile record cannot make a
login hold a hashing thread for minutes.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from typing import Any

import argon2
from argon2.exceptions import InvalidHashError

from twofold.core.imported_hashes import digest_module, digest_size, stored

MAX_BCRYPT_COST = 16
MAX_ARGON2_MEMORY_KIB = 262_144
MAX_ARGON2_TIME_COST = 16
MAX_ARGON2_PARALLELISM = 16
MAX_PBKDF2_ITERATIONS = 2_000_000
MAX_PBKDF2_KEY_BYTES = 1024
# PHC's defaults for a pbkdf2 string without parameters, as Auth0 documents them.
PBKDF2_DEFAULT_ITERATIONS = 100_000
PBKDF2_DEFAULT_KEY_BYTES = 64
MAX_VALUE_CHARS = 4096
ALGORITHMS = (
    "argon2",
    "bcrypt",
    "hmac",
    "ldap",
    "md4",
    "md5",
    "sha1",
    "sha256",
    "sha512",
    "pbkdf2",
)
_PLAIN_DIGESTS = frozenset({"md4", "md5", "sha1", "sha256", "sha512"})
_HMAC_DIGESTS = frozenset(
    {"md4", "md5", "ripemd160", "sha1", "sha224", "sha256", "sha384", "sha512", "whirlpool"}
)
_PBKDF2_DIGESTS = _HMAC_DIGESTS | {"mdc2"}
# RFC 2307 schemes: the digest, and whether the value carries a salt after the digest.
_LDAP_SCHEMES = {
    "MD5": ("md5", False),
    "SMD5": ("md5", True),
    "SHA": ("sha1", False),
    "SSHA": ("sha1", True),
    "SHA256": ("sha256", False),
    "SSHA256": ("sha256", True),
    "SHA384": ("sha384", False),
    "SSHA384": ("sha384", True),
    "SHA512": ("sha512", False),
    "SSHA512": ("sha512", True),
}
# Node's names for the bytes of a password (Auth0 hashes on Node): "ascii" and "binary" encode
# like latin1 there.
_PASSWORD_ENCODINGS = {
    "utf8": "utf-8",
    "ascii": "latin-1",
    "latin1": "latin-1",
    "binary": "latin-1",
    "utf16le": "utf-16-le",
    "ucs2": "utf-16-le",
}
_BCRYPT = re.compile(r"^\$2[ab]\$(\d\d)\$[./A-Za-z0-9]{53}$")
_ARGON2 = re.compile(r"^\$argon2(id|i|d)\$")
_LDAP = re.compile(r"^\{([A-Za-z0-9]+)\}(.+)$", re.DOTALL)


class HashRejected(ValueError):
    """A hash the import refuses: `path` names the field, the message says why."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _object(value: Any, path: str, allowed: frozenset[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise HashRejected(path, f"{path} must be an object")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise HashRejected(f"{path}.{unknown[0]}", f"{path} has no property {unknown[0]}")
    return value


def _text(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_VALUE_CHARS:
        raise HashRejected(path, f"{path} must be a non-empty string")
    return value


def _decode(value: str, encoding: Any, path: str) -> bytes:
    """hex (either case), base64 (standard or url-safe, padded or not) or utf8."""
    try:
        if encoding == "hex":
            return bytes.fromhex(value)
        if encoding == "base64":
            standard = value.replace("-", "+").replace("_", "/").rstrip("=")
            return base64.b64decode(standard + "=" * (-len(standard) % 4), validate=True)
        if encoding in (None, "utf8"):
            return value.encode("utf-8")
    except (ValueError, binascii.Error):
        raise HashRejected(path, f"{path} is not valid {encoding}") from None
    raise HashRejected(path, f"{path} encoding must be base64, hex or utf8")


def _digest(name: str, path: str) -> str:
    try:
        digest_module(name)
    except ValueError as exc:
        raise HashRejected(path, str(exc)) from None
    return name


def _password_encoding(spec: Mapping[str, Any]) -> str:
    raw = _object(spec.get("password", {}), "password", frozenset({"encoding"}))
    encoding = raw.get("encoding", "utf8")
    if encoding not in _PASSWORD_ENCODINGS:
        raise HashRejected(
            "password.encoding",
            f"password.encoding must be one of {', '.join(_PASSWORD_ENCODINGS)}",
        )
    return _PASSWORD_ENCODINGS[encoding]


def _salt(spec: Mapping[str, Any]) -> dict[str, Any]:
    if "salt" not in spec:
        return {"salt": None, "position": None}
    raw = _object(spec["salt"], "salt", frozenset({"value", "encoding", "position"}))
    salt = _decode(_text(raw.get("value"), "salt.value"), raw.get("encoding", "utf8"), "salt")
    position = raw.get("position")
    if position not in ("prefix", "suffix"):
        raise HashRejected("salt.position", "salt.position must be prefix or suffix")
    return {"salt": _b64(salt), "position": position}


def _only_utf8_value(hash_: Mapping[str, Any], spec: Mapping[str, Any], algorithm: str) -> str:
    if hash_.get("encoding", "utf8") != "utf8":
        raise HashRejected("hash.encoding", f"hash.encoding must be utf8 for {algorithm}")
    if "salt" in spec:
        raise HashRejected("salt", f"salt is not allowed for {algorithm} (it is in the value)")
    return _text(hash_.get("value"), "hash.value")


def from_bcrypt(value: Any, path: str = "password_hash") -> str:
    """The stored form of a bcrypt hash given on its own (Auth0's `password_hash`)."""
    text = _text(value, path)
    match = _BCRYPT.fullmatch(text)
    if match is None:
        raise HashRejected(path, f"{path} must be a bcrypt hash starting with $2a$ or $2b$")
    if not 4 <= int(match.group(1)) <= MAX_BCRYPT_COST:
        raise HashRejected(path, f"bcrypt cost must be between 4 and {MAX_BCRYPT_COST}")
    return stored({"algorithm": "bcrypt", "value": text})


def _argon2_spec(value: str) -> dict[str, Any]:
    if _ARGON2.match(value) is None:
        raise HashRejected("hash.value", "hash.value must be an argon2 PHC string")
    try:
        params = argon2.extract_parameters(value)
    except InvalidHashError:
        raise HashRejected("hash.value", "hash.value is not a valid argon2 PHC string") from None
    if (
        params.memory_cost > MAX_ARGON2_MEMORY_KIB
        or params.time_cost > MAX_ARGON2_TIME_COST
        or params.parallelism > MAX_ARGON2_PARALLELISM
    ):
        raise HashRejected("hash.value", "argon2 parameters are above what Twofold verifies")
    return {"algorithm": "argon2", "value": value}


def _phc_base64(value: str, path: str) -> bytes:
    return _decode(value, "base64", path)


def _pbkdf2_digest(name: str) -> str:
    """Auth0 accepts OpenSSL's aliases (`RSA-SHA256`, `sha256WithRSAEncryption`, …)."""
    name = name.lower()
    for prefix in ("rsa-", "ssl3-"):
        name = name.removeprefix(prefix)
    for suffix in ("withrsaencryption", "withrsa"):
        name = name.removesuffix(suffix)
    return {"sha1-2": "sha1", "ripemd": "ripemd160", "rmd160": "ripemd160"}.get(name, name)


def _pbkdf2_spec(value: str, password_encoding: str) -> dict[str, Any]:
    parts = value.split("$")
    if len(parts) not in (4, 5) or parts[0] or not parts[1].startswith("pbkdf2-"):
        raise HashRejected("hash.value", "hash.value must be a PHC string $pbkdf2-<digest>$…")
    digest = _pbkdf2_digest(parts[1].removeprefix("pbkdf2-"))
    if digest not in _PBKDF2_DIGESTS:
        raise HashRejected("hash.value", f"pbkdf2 with {digest[:32]} is not a digest Auth0 lists")
    _digest(digest, "hash.value")
    params = {"i": PBKDF2_DEFAULT_ITERATIONS, "l": PBKDF2_DEFAULT_KEY_BYTES}
    for item in parts[2].split(",") if len(parts) == 5 else ():
        key, _, number = item.partition("=")
        if key not in params or not number.isdigit():
            raise HashRejected("hash.value", "pbkdf2 parameters must be i=<n>,l=<n>")
        params[key] = int(number)
    if (
        not 1 <= params["i"] <= MAX_PBKDF2_ITERATIONS
        or not 1 <= params["l"] <= MAX_PBKDF2_KEY_BYTES
    ):
        raise HashRejected("hash.value", "pbkdf2 parameters are out of range")
    salt = _phc_base64(parts[-2], "hash.value")
    derived = _phc_base64(parts[-1], "hash.value")
    if len(derived) != params["l"]:
        raise HashRejected("hash.value", "the pbkdf2 hash is not as long as its l parameter")
    return {
        "algorithm": "pbkdf2",
        "digest": digest,
        "iterations": params["i"],
        "salt": _b64(salt),
        "hash": _b64(derived),
        "password_encoding": password_encoding,
    }


def _ldap_spec(value: str, password_encoding: str) -> dict[str, Any]:
    match = _LDAP.fullmatch(value)
    scheme = _LDAP_SCHEMES.get(match.group(1).upper()) if match else None
    if match is None or scheme is None:
        raise HashRejected(
            "hash.value", "hash.value must be an RFC 2307 {MD5|SMD5|SHA|SSHA|SHA256…} value"
        )
    digest, salted = scheme
    raw = _decode(match.group(2), "base64", "hash.value")
    size = digest_size(digest)
    if len(raw) < size or (len(raw) > size) != salted:
        raise HashRejected("hash.value", f"hash.value does not hold a {digest} digest")
    # {SSHA} and friends hash the password followed by the salt, stored after the digest.
    return {
        "algorithm": "digest",
        "digest": digest,
        "hash": _b64(raw[:size]),
        "salt": _b64(raw[size:]) if salted else None,
        "position": "suffix" if salted else None,
        "password_encoding": password_encoding,
    }


def _digest_spec(spec: Mapping[str, Any], hash_: Mapping[str, Any], digest: str) -> dict[str, Any]:
    encoding = hash_.get("encoding")
    if encoding not in ("hex", "base64"):
        raise HashRejected("hash.encoding", "hash.encoding must be hex or base64")
    raw = _decode(_text(hash_.get("value"), "hash.value"), encoding, "hash.value")
    _digest(digest, "hash.digest")
    if len(raw) != digest_size(digest):
        raise HashRejected("hash.value", f"hash.value is not a {digest} digest")
    return {
        "algorithm": "digest",
        "digest": digest,
        "hash": _b64(raw),
        "password_encoding": _password_encoding(spec),
        **_salt(spec),
    }


def from_auth0(value: Any) -> str:
    """The stored form of Auth0's `custom_password_hash`; HashRejected names what is wrong."""
    spec = _object(
        value, "custom_password_hash", frozenset({"algorithm", "hash", "salt", "password"})
    )
    algorithm = spec.get("algorithm")
    if algorithm == "scrypt":
        raise HashRejected(
            "algorithm", "scrypt hashes cannot be imported (no documented form for their cost)"
        )
    if algorithm not in ALGORITHMS:
        raise HashRejected("algorithm", f"algorithm must be one of {', '.join(ALGORITHMS)}")
    hash_ = _object(spec.get("hash"), "hash", frozenset({"value", "encoding", "digest", "key"}))
    if algorithm != "hmac" and ("digest" in hash_ or "key" in hash_):
        raise HashRejected("hash", "hash.digest and hash.key are for hmac only")
    if algorithm == "bcrypt":
        return from_bcrypt(_only_utf8_value(hash_, spec, algorithm), "hash.value")
    if algorithm == "argon2":
        return stored(_argon2_spec(_only_utf8_value(hash_, spec, algorithm)))
    if algorithm == "pbkdf2":
        value = _only_utf8_value(hash_, spec, algorithm)
        return stored(_pbkdf2_spec(value, _password_encoding(spec)))
    if algorithm == "ldap":
        value = _only_utf8_value(hash_, spec, algorithm)
        return stored(_ldap_spec(value, _password_encoding(spec)))
    if algorithm in _PLAIN_DIGESTS:
        return stored(_digest_spec(spec, hash_, algorithm))
    digest = hash_.get("digest")
    if digest not in _HMAC_DIGESTS:
        raise HashRejected(
            "hash.digest", f"hash.digest must be one of {', '.join(sorted(_HMAC_DIGESTS))}"
        )
    key = _object(hash_.get("key"), "hash.key", frozenset({"value", "encoding"}))
    secret = _decode(
        _text(key.get("value"), "hash.key.value"), key.get("encoding", "utf8"), "hash.key"
    )
    return stored({**_digest_spec(spec, hash_, digest), "algorithm": "hmac", "key": _b64(secret)})

"""Imported password hashes: Auth0's descriptions are read into Twofold's stored form, verify
the right password and only it, and are refused with the field and the reason when wrong."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import argon2
import bcrypt
import pytest
from Crypto.Hash import MD4

from twofold.core import auth0_hashes, imported_hashes
from twofold.core.auth0_hashes import HashRejected
from twofold.core.passwords import PasswordHasher

PASSWORD = "pässword 1"
RAW = PASSWORD.encode()
SALT = b"NaCl-42"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def phc_b64(data: bytes) -> str:
    return b64(data).rstrip("=")


def custom(algorithm: str, value: str, **extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"algorithm": algorithm, "hash": {"value": value}}
    spec["hash"].update(extra.pop("hash", {}))
    spec.update(extra)
    return spec


def accepts_only_its_password(spec: dict[str, Any]) -> str:
    stored = auth0_hashes.from_auth0(spec)
    assert imported_hashes.is_imported(stored)
    assert imported_hashes.verify(stored, PASSWORD)
    assert not imported_hashes.verify(stored, PASSWORD + "x")
    assert not imported_hashes.verify(stored, "")
    return stored


CASES: dict[str, dict[str, Any]] = {
    "bcrypt": custom("bcrypt", bcrypt.hashpw(RAW, bcrypt.gensalt(4)).decode()),
    "argon2id": custom(
        "argon2", argon2.PasswordHasher(time_cost=1, memory_cost=1024).hash(PASSWORD)
    ),
    "argon2i": custom(
        "argon2",
        argon2.PasswordHasher(time_cost=1, memory_cost=1024, type=argon2.Type.I).hash(PASSWORD),
    ),
    "pbkdf2-sha512": custom(
        "pbkdf2",
        f"$pbkdf2-sha512$i=1000,l=64${phc_b64(SALT)}$"
        + phc_b64(hashlib.pbkdf2_hmac("sha512", RAW, SALT, 1000, 64)),
    ),
    "pbkdf2 OpenSSL alias": custom(
        "pbkdf2",
        f"$pbkdf2-RSA-SHA256$i=1000,l=32${phc_b64(SALT)}$"
        + phc_b64(hashlib.pbkdf2_hmac("sha256", RAW, SALT, 1000, 32)),
    ),
    "pbkdf2 defaults": custom(
        "pbkdf2",
        f"$pbkdf2-sha256${phc_b64(SALT)}$"
        + phc_b64(hashlib.pbkdf2_hmac("sha256", RAW, SALT, 100_000, 64)),
    ),
    "md4": custom("md4", b64(MD4.new(RAW).digest()), hash={"encoding": "base64"}),
    "md5 salt prefix": custom(
        "md5",
        hashlib.md5(SALT + RAW).hexdigest().upper(),
        hash={"encoding": "hex"},
        salt={"value": SALT.decode(), "position": "prefix"},
    ),
    "sha1 hex salt suffix": custom(
        "sha1",
        hashlib.sha1(RAW + SALT).hexdigest(),
        hash={"encoding": "hex"},
        salt={"value": SALT.hex(), "encoding": "hex", "position": "suffix"},
    ),
    "sha256 url-safe base64": custom(
        "sha256",
        base64.urlsafe_b64encode(hashlib.sha256(RAW).digest()).decode().rstrip("="),
        hash={"encoding": "base64"},
    ),
    "sha512 utf16le password": custom(
        "sha512",
        hashlib.sha512(PASSWORD.encode("utf-16-le")).hexdigest(),
        hash={"encoding": "hex"},
        password={"encoding": "utf16le"},
    ),
    "hmac sha256": custom(
        "hmac",
        b64(hmac.new(b"pepper", RAW, "sha256").digest()),
        hash={"encoding": "base64", "digest": "sha256", "key": {"value": "pepper"}},
    ),
    "hmac md4": custom(
        "hmac",
        hmac.new(b"pepper", RAW, MD4).hexdigest(),
        hash={
            "encoding": "hex",
            "digest": "md4",
            "key": {"value": b64(b"pepper"), "encoding": "base64"},
        },
    ),
    "ldap SSHA": custom("ldap", "{SSHA}" + b64(hashlib.sha1(RAW + SALT).digest() + SALT)),
    "ldap SHA512": custom("ldap", "{SHA512}" + b64(hashlib.sha512(RAW).digest())),
    "ldap SMD5": custom("ldap", "{SMD5}" + b64(hashlib.md5(RAW + SALT).digest() + SALT)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_algorithm_verifies_its_password_only(name: str) -> None:
    accepts_only_its_password(CASES[name])


def test_examples_of_auth0s_documentation() -> None:
    """Two hashes from Auth0's bulk-import examples whose passwords are known."""
    bcrypt_hello = custom("bcrypt", "$2b$10$nFguVi9LsCAcvTZFKQlRKeLVydo8ETv483lkNsSFI/Wl1Rz1Ypo1K")
    stored = auth0_hashes.from_auth0(bcrypt_hello)
    assert imported_hashes.verify(stored, "hello")
    hmac_test = custom(
        "hmac",
        "cg7f42jH39/2EaAU4wNd4s2lKIk=",
        hash={
            "encoding": "base64",
            "digest": "sha1",
            "key": {"value": "736868", "encoding": "hex"},
        },
    )
    stored = auth0_hashes.from_auth0(hmac_test)
    assert imported_hashes.verify(stored, "test")
    assert not imported_hashes.verify(stored, "Test")


def test_password_hash_field_is_bcrypt() -> None:
    stored = auth0_hashes.from_bcrypt(bcrypt.hashpw(RAW, bcrypt.gensalt(4)).decode())
    assert imported_hashes.verify(stored, PASSWORD)
    with pytest.raises(HashRejected) as refused:
        auth0_hashes.from_bcrypt("$2y$10$" + "a" * 53)
    assert refused.value.path == "password_hash"


def test_bcrypt_reads_only_72_bytes_as_the_systems_that_made_it() -> None:
    long = "x" * 72
    stored = auth0_hashes.from_bcrypt(bcrypt.hashpw(long.encode(), bcrypt.gensalt(4)).decode())
    assert imported_hashes.verify(stored, long + "ignored")


REFUSED: dict[str, tuple[dict[str, Any], str]] = {
    "unknown algorithm": (custom("whirlpool", "00"), "algorithm"),
    "scrypt": (custom("scrypt", "00"), "algorithm"),
    "unknown field": ({**custom("md5", "00"), "pepper": 1}, "custom_password_hash.pepper"),
    "bad hex": (custom("md5", "zz", hash={"encoding": "hex"}), "hash.value"),
    "digest of the wrong length": (
        custom("sha256", hashlib.md5(RAW).hexdigest(), hash={"encoding": "hex"}),
        "hash.value",
    ),
    "digest without encoding": (custom("md5", hashlib.md5(RAW).hexdigest()), "hash.encoding"),
    "salt without position": (
        custom("md5", "0" * 32, hash={"encoding": "hex"}, salt={"value": "s"}),
        "salt.position",
    ),
    "salt for bcrypt": (
        custom("bcrypt", "$2b$04$" + "a" * 53, salt={"value": "s", "position": "prefix"}),
        "salt",
    ),
    "bcrypt cost too high": (custom("bcrypt", "$2b$20$" + "a" * 53), "hash.value"),
    "argon2 memory too high": (
        custom("argon2", "$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHQ$" + "a" * 43),
        "hash.value",
    ),
    "pbkdf2 too many iterations": (
        custom("pbkdf2", "$pbkdf2-sha256$i=9999999,l=32$c2FsdA$" + phc_b64(b"x" * 32)),
        "hash.value",
    ),
    "pbkdf2 hash shorter than l": (
        custom("pbkdf2", "$pbkdf2-sha256$i=10,l=64$c2FsdA$" + phc_b64(b"x" * 32)),
        "hash.value",
    ),
    "hmac whirlpool": (
        custom(
            "hmac", "00", hash={"encoding": "hex", "digest": "whirlpool", "key": {"value": "k"}}
        ),
        "hash.digest",
    ),
    "hmac without key": (
        custom("hmac", "00", hash={"encoding": "hex", "digest": "sha1"}),
        "hash.key",
    ),
    "ldap crypt": (custom("ldap", "{CRYPT}abcdefg"), "hash.value"),
    "ldap salted without salt": (
        custom("ldap", "{SSHA}" + b64(hashlib.sha1(RAW).digest())),
        "hash.value",
    ),
    "unknown password encoding": (
        custom("md5", "0" * 32, hash={"encoding": "hex"}, password={"encoding": "ebcdic"}),
        "password.encoding",
    ),
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_refused_with_the_field_that_is_wrong(name: str) -> None:
    spec, path = REFUSED[name]
    with pytest.raises(HashRejected) as refused:
        auth0_hashes.from_auth0(spec)
    assert refused.value.path == path, refused.value.message
    assert refused.value.message


def test_a_value_that_is_not_an_imported_hash_verifies_nothing() -> None:
    assert not imported_hashes.verify("", "")
    assert not imported_hashes.verify("$import$not json", PASSWORD)
    assert not imported_hashes.verify('$import${"algorithm":"nope"}', PASSWORD)


def test_a_password_its_encoding_cannot_carry_is_a_mismatch() -> None:
    spec = custom(
        "md5",
        hashlib.md5(b"abc").hexdigest(),
        hash={"encoding": "hex"},
        password={"encoding": "latin1"},
    )
    stored = auth0_hashes.from_auth0(spec)
    assert imported_hashes.verify(stored, "abc")
    assert not imported_hashes.verify(stored, "snowman ☃")


@pytest.mark.anyio
async def test_the_hasher_verifies_imported_hashes_and_asks_for_a_rehash() -> None:
    hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1, max_concurrency=1)
    try:
        stored = auth0_hashes.from_auth0(CASES["md4"])
        assert await hasher.verify(stored, PASSWORD)
        assert not await hasher.verify(stored, "wrong")
        assert hasher.needs_rehash(stored)
        # Even an argon2id hash with Twofold's own parameters is replaced once imported.
        same_params = auth0_hashes.from_auth0(custom("argon2", await hasher.hash(PASSWORD)))
        assert hasher.needs_rehash(same_params)
        assert not hasher.needs_rehash(await hasher.hash(PASSWORD))
    finally:
        hasher.close()

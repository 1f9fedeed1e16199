"""Encryption at rest: AES-256-GCM envelopes with a key id and row-bound associated data.

Envelope: ``v1.<kid>.<base64url(nonce12 || ciphertext+tag)>``. The kid lets a key ring hold old
keys for reading while a new one writes (rotation: add a key, make it current, re-encrypt rows
for which `needs_reencrypt` is true, then drop the old key). The associated data names the row
and column a ciphertext belongs to, so a ciphertext copied into another row does not decrypt.

Every failure to decrypt is the same opaque `DecryptionError`: telling "unknown key" from "bad
tag" from "bad base64" helps nobody but an attacker probing the format.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

VERSION = "v1"
KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
# Kids appear inside the dotted envelope and in config strings split on ',' and ':'.
_KID = re.compile(r"[A-Za-z0-9_-]{1,64}")


class DecryptionError(Exception):
    """The envelope could not be decrypted. Deliberately says nothing about why."""

    def __init__(self) -> None:
        super().__init__("decryption failed")


class KeyRing:
    def __init__(self, keys: Mapping[str, bytes], current: str) -> None:
        if current not in keys:
            raise ValueError("the current key id is not in the key ring")
        self._aead: dict[str, AESGCM] = {}
        for kid, key in keys.items():
            if not _KID.fullmatch(kid):
                raise ValueError(f"invalid key id {kid!r}: use 1-64 of A-Z a-z 0-9 _ -")
            if len(key) != KEY_BYTES:
                # The message names the kid, never the key material.
                raise ValueError(f"key {kid!r} must be {KEY_BYTES} bytes")
            self._aead[kid] = AESGCM(bytes(key))
        self._current = current

    @property
    def current(self) -> str:
        return self._current

    @property
    def kids(self) -> tuple[str, ...]:
        return tuple(self._aead)

    @staticmethod
    def generate_key() -> bytes:
        return os.urandom(KEY_BYTES)

    @classmethod
    def from_spec(cls, spec: str) -> KeyRing:
        """Parse ``"kid1:base64key,kid2:base64key"``; the first entry is the current key.

        Keys may be standard or url-safe base64, padded or not.
        """
        keys: dict[str, bytes] = {}
        order: list[str] = []
        for entry in spec.split(","):
            entry = entry.strip()
            if not entry:
                continue
            kid, sep, encoded = entry.partition(":")
            kid = kid.strip()
            if not sep:
                raise ValueError("key ring entries must look like kid:base64key")
            if kid in keys:
                raise ValueError(f"duplicate key id {kid!r} in key ring")
            keys[kid] = _decode_key(kid, encoded.strip())
            order.append(kid)
        if not order:
            raise ValueError("the key ring is empty")
        return cls(keys, order[0])

    def encrypt(self, plaintext: bytes, aad: str) -> str:
        kid = self._current
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead[kid].encrypt(nonce, plaintext, _associated_data(kid, aad))
        data = base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode("ascii")
        return f"{VERSION}.{kid}.{data}"

    def decrypt(self, envelope: str, aad: str) -> bytes:
        try:
            kid, blob = self._parse(envelope)
            return self._aead[kid].decrypt(
                blob[:NONCE_BYTES], blob[NONCE_BYTES:], _associated_data(kid, aad)
            )
        except (InvalidTag, ValueError, TypeError, KeyError, AttributeError, UnicodeError):
            # `from None`: the cause would tell a log reader which check failed.
            raise DecryptionError() from None

    def needs_reencrypt(self, envelope: str) -> bool:
        """True when the envelope was sealed with a key other than the current one."""
        try:
            kid, _ = self._parse(envelope)
        except (ValueError, TypeError, KeyError, AttributeError, UnicodeError):
            raise DecryptionError() from None
        return kid != self._current

    def reencrypt(self, envelope: str, aad: str) -> str:
        """Open with whichever key sealed it and seal again with the current key."""
        return self.encrypt(self.decrypt(envelope, aad), aad)

    def _parse(self, envelope: str) -> tuple[str, bytes]:
        version, kid, data = envelope.split(".")
        if version != VERSION or kid not in self._aead:
            raise ValueError("bad envelope")
        blob = _b64url_decode(data)
        if len(blob) < NONCE_BYTES + TAG_BYTES:
            raise ValueError("bad envelope")
        return kid, blob


def _associated_data(kid: str, aad: str) -> bytes:
    # The version and kid are authenticated too, so a later format can never be confused with v1.
    return f"{VERSION}.{kid}".encode("ascii") + b"\0" + aad.encode("utf-8", "surrogatepass")


def _b64url_decode(data: str) -> bytes:
    raw = data.encode("ascii")
    # validate=True rejects stray characters instead of silently skipping them.
    return base64.b64decode(raw + b"=" * (-len(raw) % 4), altchars=b"-_", validate=True)


def _decode_key(kid: str, encoded: str) -> bytes:
    raw = encoded.replace("-", "+").replace("_", "/")
    raw += "=" * (-len(raw) % 4)
    try:
        key = base64.b64decode(raw.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeError):
        raise ValueError(f"key {kid!r} is not valid base64") from None
    return key

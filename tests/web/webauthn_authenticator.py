"""A software WebAuthn authenticator (and the browser's part of the ceremony) for the tests.

It holds a P-256 key and builds what a real platform authenticator returns, byte for byte:
authenticator data (SHA-256 of the RP ID, flags UP/UV/BE/BS/AT, a big-endian sign counter,
attested credential data with the COSE public key), `none` or `packed` self attestation, and
ECDSA signatures over authenticatorData || SHA-256(clientDataJSON). It answers with the
PublicKeyCredential JSON a browser serialises (base64url, as @auth0/auth0-auth-js sends it).
Nothing of the server's verifier is used or mocked here: the server checks these bytes with
py_webauthn like any authenticator's.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import struct
from dataclasses import dataclass, field
from typing import Any, Literal

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

UP, UV, BE, BS, AT = 0x01, 0x04, 0x08, 0x10, 0x40
# An AAGUID for this software authenticator (zeros mean "unknown" to the server).
AAGUID = bytes.fromhex("7a1d3e5f00000000b0f0000000000001")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class SoftAuthenticator:
    """One passkey on one authenticator. `sign_count` is the counter it will report next time
    minus one; a synced passkey (backup_eligible) may keep it at 0 (`counter_step=0`)."""

    origin: str
    rp_id: str
    backup_eligible: bool = False
    backed_up: bool = False
    counter_step: int = 1
    sign_count: int = 0
    credential_id: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    user_handle: bytes | None = None

    # ------------------------------------------------------------------ building blocks

    def cose_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return cbor2.dumps(
            {
                1: 2,  # kty: EC2
                3: -7,  # alg: ES256
                -1: 1,  # crv: P-256
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        )

    def _flags(self, *, up: bool, uv: bool, attested: bool) -> int:
        flags = (UP if up else 0) | (UV if uv else 0)
        flags |= (BE if self.backup_eligible else 0) | (BS if self.backed_up else 0)
        return flags | (AT if attested else 0)

    def authenticator_data(
        self, *, rp_id: str | None = None, up: bool = True, uv: bool = True, attested: bool
    ) -> bytes:
        rp_hash = hashlib.sha256((rp_id or self.rp_id).encode("utf-8")).digest()
        data = rp_hash + bytes([self._flags(up=up, uv=uv, attested=attested)])
        data += struct.pack(">I", self.sign_count)
        if attested:
            data += AAGUID + struct.pack(">H", len(self.credential_id)) + self.credential_id
            data += self.cose_key()
        return data

    def client_data(self, kind: str, challenge: str, origin: str | None = None) -> bytes:
        body = {
            "type": kind,
            "challenge": challenge,
            "origin": origin or self.origin,
            "crossOrigin": False,
        }
        return json.dumps(body, separators=(",", ":")).encode("utf-8")

    def sign(self, data: bytes) -> bytes:
        return self.key.sign(data, ec.ECDSA(hashes.SHA256()))

    # ------------------------------------------------------------------ ceremonies

    def create(
        self,
        options: dict[str, Any],
        *,
        fmt: Literal["none", "packed"] = "none",
        origin: str | None = None,
        rp_id: str | None = None,
        uv: bool = True,
        up: bool = True,
    ) -> dict[str, Any]:
        """navigator.credentials.create() with these creation options, serialised."""
        self.user_handle = unb64url(options["user"]["id"])
        self.sign_count += self.counter_step
        auth_data = self.authenticator_data(rp_id=rp_id, up=up, uv=uv, attested=True)
        client_data = self.client_data("webauthn.create", options["challenge"], origin)
        statement: dict[str, Any] = {}
        if fmt == "packed":
            # Self attestation: signed by the credential key itself, no certificate.
            signed = auth_data + hashlib.sha256(client_data).digest()
            statement = {"alg": -7, "sig": self.sign(signed)}
        attestation = cbor2.dumps({"fmt": fmt, "attStmt": statement, "authData": auth_data})
        return self._credential(
            {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(attestation),
                "transports": ["hybrid", "internal"],
            }
        )

    def get(
        self,
        options: dict[str, Any],
        *,
        origin: str | None = None,
        rp_id: str | None = None,
        uv: bool = True,
        up: bool = True,
        sign_count: int | None = None,
    ) -> dict[str, Any]:
        """navigator.credentials.get() with these request options, serialised. `sign_count`
        forces the counter reported (a clone reports an old one)."""
        if sign_count is None:
            self.sign_count += self.counter_step
        else:
            self.sign_count = sign_count
        auth_data = self.authenticator_data(rp_id=rp_id, up=up, uv=uv, attested=False)
        client_data = self.client_data("webauthn.get", options["challenge"], origin)
        signature = self.sign(auth_data + hashlib.sha256(client_data).digest())
        return self._credential(
            {
                "clientDataJSON": b64url(client_data),
                "authenticatorData": b64url(auth_data),
                "signature": b64url(signature),
                "userHandle": b64url(self.user_handle) if self.user_handle else None,
            }
        )

    def _credential(self, response: dict[str, Any]) -> dict[str, Any]:
        """A PublicKeyCredential as the browser serialises it, around `response`."""
        return {
            "id": b64url(self.credential_id),
            "rawId": b64url(self.credential_id),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "response": response,
            "clientExtensionResults": {},
        }

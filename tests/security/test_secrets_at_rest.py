"""Secrets at rest: after a full flow, no secret is anywhere in the SQLite files.

Every byte of the database, its WAL and shared-memory files is searched for every secret the
flow produced or used, in every encoding that could plausibly be stored: TOTP secrets (base32,
lower case, raw, hex), recovery codes (used, rotated, unused), passwords, client secrets,
refresh tokens (rotated and current), mfa_tokens, access and ID tokens, the private signing
keys (PEM, DER, the RSA private exponent) and the encryption key itself.
"""

from __future__ import annotations

import base64
import binascii

import pytest
from cryptography.hazmat.primitives import serialization

from web.support import (
    GRANT_REFRESH,
    assert_tokens,
)

pytestmark = pytest.mark.anyio


def _b32(secret: str) -> bytes:
    return base64.b32decode(secret + "=" * (-len(secret) % 8))


async def test_database_files_hold_no_secret_in_clear(env, services, tmp_path):
    needles: dict[str, bytes] = {}

    def add(label: str, value: str | bytes | None) -> None:
        if not value:
            return
        raw = value.encode() if isinstance(value, str) else value
        needles[label] = raw

    await env.api()
    client = await env.client()
    basic = await env.client(auth_method="client_secret_basic")
    add("client secret", client.secret)
    add("basic client secret", basic.secret)
    enrolled = []
    for i in range(3):
        e = await env.enrolled(client, f"user{i}@example.com", f"pass-{i}-Xyzzy")
        enrolled.append(e)
        add(f"password {i}", e.password)
        add(f"TOTP secret {i}", e.secret)
        add(f"TOTP secret {i} (lower)", e.secret.lower())
        add(f"TOTP secret {i} (raw)", _b32(e.secret))
        add(f"TOTP secret {i} (hex)", _b32(e.secret).hex())
        add(f"recovery code {i}", e.recovery_code)
        for name in ("access_token", "id_token", "refresh_token"):
            add(f"{name} {i}", e.tokens.get(name))

    # Refresh rotation (offline_access), recovery rotation, a pending enrolment.
    user = enrolled[0]
    mfa_token = await env.mfa_token(
        client, username=user.email, password=user.password, scope="openid offline_access"
    )
    add("mfa_token (used)", mfa_token)
    tokens = assert_tokens(await env.otp_grant(client, mfa_token, env.code(user.secret)))
    env.next_step()
    add("refresh token", tokens["refresh_token"])
    rotated = assert_tokens(
        await env.token(
            {"grant_type": GRANT_REFRESH, "refresh_token": tokens["refresh_token"]}, client
        )
    )
    add("rotated refresh token", rotated["refresh_token"])
    add("access token after refresh", rotated["access_token"])
    mfa_token = await env.mfa_token(client, username=user.email, password=user.password)
    add("mfa_token (recovery)", mfa_token)
    rec = assert_tokens(await env.recovery_grant(client, mfa_token, user.recovery_code))
    add("new recovery code", rec["recovery_code"])
    live_mfa_token = await env.mfa_token(
        client, username=enrolled[1].email, password=enrolled[1].password
    )
    add("mfa_token (live, unused)", live_mfa_token)
    pending = await env.user("pending@example.com", "pending-pass")
    pending_token = await env.mfa_token(client, username=pending.email, password="pending-pass")
    add("mfa_token (pending user)", pending_token)
    add("password pending", "pending-pass")
    assoc = await env.associate_otp(pending_token)
    add("pending TOTP secret", assoc["secret"])
    add("pending TOTP secret (raw)", _b32(assoc["secret"]))
    for i, code in enumerate(assoc.get("recovery_codes") or []):
        add(f"pending recovery code {i}", code)

    # The private signing keys (two, after a rotation) and the encryption key.
    await services.admin.rotate_signing_key()
    for key in await services.deps.storage.signing_keys.list():
        pem = services.deps.keyring.decrypt(key.private_key_enc, f"signing_key:{key.kid}")
        private = serialization.load_pem_private_key(pem, password=None)
        der = private.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        body = b"".join(pem.splitlines()[1:-1])
        add(f"signing key {key.kid} (PEM body)", body[:64])
        add(f"signing key {key.kid} (DER)", der[-64:])
        d = private.private_numbers().d  # type: ignore[union-attr]
        d_bytes = d.to_bytes((d.bit_length() + 7) // 8, "big")
        add(f"signing key {key.kid} (d)", d_bytes[:32])
        add(
            f"signing key {key.kid} (d, base64url)",
            base64.urlsafe_b64encode(d_bytes).rstrip(b"=")[:32],
        )
    key_file = (tmp_path / "encryption.keys").read_text().strip()
    _kid, _, encoded = key_file.partition(":")
    raw_key = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    add("encryption key (base64)", encoded)
    add("encryption key (raw)", raw_key)
    add("encryption key (hex)", binascii.hexlify(raw_key))

    # Sanity: the flow really stored things, and each needle is long enough to mean something.
    assert all(len(v) >= 8 for v in needles.values()), {
        k: v for k, v in needles.items() if len(v) < 8
    }
    files = sorted(tmp_path.glob("t.db*"))
    assert any(f.name == "t.db" for f in files), files
    blob = {f.name: f.read_bytes() for f in files}
    assert sum(len(b) for b in blob.values()) > 50_000

    leaks = [
        f"{label} in {name}"
        for label, needle in needles.items()
        for name, data in blob.items()
        if needle in data
    ]
    assert not leaks, "secrets stored in clear:\n" + "\n".join(leaks)

    # And after a checkpoint folds the WAL into the main file.
    await services.close()
    import sqlite3

    with sqlite3.connect(tmp_path / "t.db") as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = (tmp_path / "t.db").read_bytes()
    leaks = [label for label, needle in needles.items() if needle in data]
    assert not leaks, "secrets stored in clear after checkpoint:\n" + "\n".join(leaks)

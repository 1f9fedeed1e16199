from __future__ import annotations

import base64
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from twofold.core.crypto import DecryptionError, KeyRing

AAD = "authenticator:totp|dev_abc:secret"
KEY_A = bytes(range(32))
KEY_B = bytes(range(32, 64))


@pytest.fixture
def ring() -> KeyRing:
    return KeyRing({"a": KEY_A}, "a")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64url_decode(data: str) -> bytes:
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


def test_round_trip(ring: KeyRing) -> None:
    envelope = ring.encrypt(b"JBSWY3DPEHPK3PXP", AAD)
    assert ring.decrypt(envelope, AAD) == b"JBSWY3DPEHPK3PXP"


def test_envelope_format(ring: KeyRing) -> None:
    envelope = ring.encrypt(b"hello", AAD)
    match = re.fullmatch(r"v1\.a\.([A-Za-z0-9_-]+)", envelope)
    assert match
    # nonce (12) + ciphertext (5) + tag (16)
    assert len(_b64url_decode(match.group(1))) == 12 + 5 + 16


def test_empty_plaintext(ring: KeyRing) -> None:
    assert ring.decrypt(ring.encrypt(b"", AAD), AAD) == b""


def test_nonces_are_fresh(ring: KeyRing) -> None:
    envelopes = {ring.encrypt(b"same", AAD) for _ in range(100)}
    assert len(envelopes) == 100


def test_wrong_aad_fails(ring: KeyRing) -> None:
    envelope = ring.encrypt(b"secret", "authenticator:totp|dev_A:secret")
    # The row-copy attack: the same ciphertext pasted into another authenticator's row.
    with pytest.raises(DecryptionError):
        ring.decrypt(envelope, "authenticator:totp|dev_B:secret")
    with pytest.raises(DecryptionError):
        ring.decrypt(envelope, "")


def test_every_tampered_byte_fails(ring: KeyRing) -> None:
    envelope = ring.encrypt(b"secret value", AAD)
    prefix, data = envelope.rsplit(".", 1)
    blob = _b64url_decode(data)
    for i in range(len(blob)):
        tampered = bytearray(blob)
        tampered[i] ^= 0x01
        with pytest.raises(DecryptionError):
            ring.decrypt(f"{prefix}.{_b64url(bytes(tampered))}", AAD)


def test_truncated_and_extended_fail(ring: KeyRing) -> None:
    envelope = ring.encrypt(b"secret value", AAD)
    prefix, data = envelope.rsplit(".", 1)
    blob = _b64url_decode(data)
    for bad in (blob[:-1], blob[:28], blob[:27], b"", blob + b"\0"):
        with pytest.raises(DecryptionError):
            ring.decrypt(f"{prefix}.{_b64url(bad)}", AAD)


def test_other_key_under_same_kid_fails() -> None:
    envelope = KeyRing({"a": KEY_A}, "a").encrypt(b"x", AAD)
    with pytest.raises(DecryptionError):
        KeyRing({"a": KEY_B}, "a").decrypt(envelope, AAD)


def test_kid_swap_fails() -> None:
    ring = KeyRing({"a": KEY_A, "b": KEY_A}, "a")
    envelope = ring.encrypt(b"x", AAD)
    # Same key material under another kid: the kid is authenticated, so this still fails.
    with pytest.raises(DecryptionError):
        ring.decrypt(envelope.replace("v1.a.", "v1.b.", 1), AAD)


@pytest.mark.parametrize(
    "envelope",
    [
        "",
        "v1",
        "v1.a",
        "v1.a.",
        "v2.a.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "v1.zz.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "v1.a.AAAA AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "v1.a.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.extra",
        "v1.a.!!!!",
        "v1.a.é",
        "v1.a.\ud800",
    ],
)
def test_malformed_envelopes(ring: KeyRing, envelope: str) -> None:
    with pytest.raises(DecryptionError) as info:
        ring.decrypt(envelope, AAD)
    assert str(info.value) == "decryption failed"
    # No chained cause that would reveal which check failed.
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__


@given(st.text(max_size=200), st.text(max_size=50))
def test_garbage_only_raises_decryption_error(envelope: str, aad: str) -> None:
    ring = KeyRing({"a": KEY_A}, "a")
    with pytest.raises(DecryptionError):
        ring.decrypt(envelope, aad)


@given(st.binary(max_size=300), st.text(max_size=80))
def test_round_trip_property(plaintext: bytes, aad: str) -> None:
    ring = KeyRing({"a": KEY_A}, "a")
    assert ring.decrypt(ring.encrypt(plaintext, aad), aad) == plaintext


def test_rotation() -> None:
    old = KeyRing({"a": KEY_A}, "a")
    envelope = old.encrypt(b"secret", AAD)
    new = KeyRing({"b": KEY_B, "a": KEY_A}, "b")
    assert not old.needs_reencrypt(envelope)
    assert new.needs_reencrypt(envelope)
    assert new.decrypt(envelope, AAD) == b"secret"
    fresh = new.reencrypt(envelope, AAD)
    assert fresh.startswith("v1.b.")
    assert not new.needs_reencrypt(fresh)
    assert new.decrypt(fresh, AAD) == b"secret"
    # Once the old key is dropped, only re-encrypted rows still open.
    only_new = KeyRing({"b": KEY_B}, "b")
    assert only_new.decrypt(fresh, AAD) == b"secret"
    with pytest.raises(DecryptionError):
        only_new.decrypt(envelope, AAD)


def test_needs_reencrypt_on_garbage(ring: KeyRing) -> None:
    with pytest.raises(DecryptionError):
        ring.needs_reencrypt("nonsense")


def test_generate_key() -> None:
    key = KeyRing.generate_key()
    assert len(key) == 32
    assert key != KeyRing.generate_key()


def test_from_spec() -> None:
    spec = (
        f" new:{base64.b64encode(KEY_B).decode()} ,"
        f"old:{base64.urlsafe_b64encode(KEY_A).decode().rstrip('=')}"
    )
    ring = KeyRing.from_spec(spec)
    assert ring.current == "new"
    assert ring.kids == ("new", "old")
    envelope = KeyRing({"old": KEY_A}, "old").encrypt(b"x", AAD)
    assert ring.decrypt(envelope, AAD) == b"x"


@pytest.mark.parametrize(
    "spec",
    [
        "",
        " , ",
        "nokey",
        f"a:{base64.b64encode(b'short').decode()}",
        "a:not base64!",
        f"a:{base64.b64encode(KEY_A).decode()},a:{base64.b64encode(KEY_B).decode()}",
        f"bad.kid:{base64.b64encode(KEY_A).decode()}",
        f":{base64.b64encode(KEY_A).decode()}",
    ],
)
def test_from_spec_rejects(spec: str) -> None:
    with pytest.raises(ValueError) as info:
        KeyRing.from_spec(spec)
    # Error messages never carry key material.
    assert base64.b64encode(KEY_A).decode() not in str(info.value)
    assert base64.b64encode(KEY_B).decode() not in str(info.value)


def test_constructor_validation() -> None:
    with pytest.raises(ValueError):
        KeyRing({"a": KEY_A}, "b")
    with pytest.raises(ValueError):
        KeyRing({"a": KEY_A[:16]}, "a")
    with pytest.raises(ValueError):
        KeyRing({"a.b": KEY_A}, "a.b")

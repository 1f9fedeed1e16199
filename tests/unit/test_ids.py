from __future__ import annotations

import hashlib
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from twofold.core import ids


def test_authenticator_id_shape() -> None:
    for kind in ("totp", "sms", "voice", "email", "push", "recovery-code"):
        value = ids.authenticator_id(kind)
        assert re.fullmatch(rf"{re.escape(kind)}\|dev_[0-9A-Za-z]{{16}}", value), value


def test_authenticator_ids_differ() -> None:
    assert len({ids.authenticator_id("totp") for _ in range(500)}) == 500


@pytest.mark.parametrize("kind", ["", "totp|x"])
def test_authenticator_id_rejects_ambiguous_kind(kind: str) -> None:
    with pytest.raises(ValueError):
        ids.authenticator_id(kind)


def test_user_id_shape() -> None:
    assert re.fullmatch(r"auth0\|[0-9a-f]{24}", ids.new_user_id())


def test_client_id_and_secret_shape() -> None:
    assert re.fullmatch(r"[0-9A-Za-z]{32}", ids.new_client_id())
    assert re.fullmatch(r"[0-9A-Za-z_-]{64}", ids.new_client_secret())
    assert ids.new_client_secret() != ids.new_client_secret()


def test_opaque_token() -> None:
    assert re.fullmatch(r"[0-9A-Za-z_-]{43}", ids.opaque_token())
    assert re.fullmatch(r"[0-9A-Za-z_-]{86}", ids.opaque_token(64))
    with pytest.raises(ValueError):
        ids.opaque_token(8)


def test_base62_uses_whole_alphabet() -> None:
    seen = set("".join(ids.new_client_id() for _ in range(200)))
    assert seen == set(ids.BASE62)


def test_digest_known_value() -> None:
    expected = hashlib.sha256(b"refresh-token\0abc").hexdigest()
    assert ids.digest("abc", "refresh-token") == expected


def test_digest_separates_purposes() -> None:
    assert ids.digest("abc", "refresh-token") != ids.digest("abc", "mfa-token")
    # The separator keeps "ab"+"c" and "a"+"bc" apart.
    assert ids.digest("c", "ab") != ids.digest("bc", "a")


def test_digest_rejects_nul_in_purpose() -> None:
    with pytest.raises(ValueError):
        ids.digest("x", "a\0b")


@given(st.text(), st.text().filter(lambda p: "\0" not in p))
def test_digest_total_and_deterministic(value: str, purpose: str) -> None:
    first = ids.digest(value, purpose)
    assert re.fullmatch(r"[0-9a-f]{64}", first)
    assert ids.digest(value, purpose) == first


def test_digest_accepts_lone_surrogates() -> None:
    assert ids.digest("\ud800", "p") != ids.digest("\udc00", "p")


@given(st.text(), st.text())
def test_constant_time_equal_matches_equality(a: str, b: str) -> None:
    assert ids.constant_time_equal(a, b) is (a == b)
    assert ids.constant_time_equal(a, a)


def test_constant_time_equal_non_ascii() -> None:
    assert ids.constant_time_equal("é\ud800", "é\ud800")
    assert not ids.constant_time_equal("é", "e")

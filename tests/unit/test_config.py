"""Settings: what the WebAuthn relying party defaults to for each form of TWOFOLD_DOMAIN."""

from __future__ import annotations

from pathlib import Path

import pytest

from twofold.config import Settings


def settings(tmp_path: Path, **values: object) -> Settings:
    return Settings(database_url=f"sqlite:///{tmp_path}/t.db", data_dir=tmp_path, **values)


@pytest.mark.parametrize(
    ("domain", "rp_id", "origin"),
    [
        ("auth.example.com", "auth.example.com", "https://auth.example.com"),
        ("https://auth.example.com/", "auth.example.com", "https://auth.example.com"),
        ("auth.example.com:8443", "auth.example.com", "https://auth.example.com:8443"),
        # Plain HTTP outside production (what `twofold serve` derives without a domain).
        ("http://localhost:8080", "localhost", "http://localhost:8080"),
        ("http://127.0.0.1:8080", "127.0.0.1", "http://127.0.0.1:8080"),
        ("", "127.0.0.1", "https://127.0.0.1:8080"),
    ],
)
def test_the_relying_party_defaults_to_the_issuer(
    tmp_path: Path, domain: str, rp_id: str, origin: str
) -> None:
    policy = settings(tmp_path, domain=domain).webauthn_policy()
    assert policy["webauthn_rp_id"] == rp_id
    assert policy["webauthn_origins"] == (origin,)


def test_the_operator_s_relying_party_wins(tmp_path: Path) -> None:
    policy = settings(
        tmp_path,
        domain="auth.example.com",
        webauthn_rp_id="example.com",
        webauthn_origins=["https://app.example.com/", "android:apk-key-hash:abc"],
    ).webauthn_policy()
    assert policy["webauthn_rp_id"] == "example.com"
    assert policy["webauthn_origins"] == ("https://app.example.com", "android:apk-key-hash:abc")

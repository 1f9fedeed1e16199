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


def test_browser_lifetimes_reach_the_policy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from twofold.app import policy_from

    monkeypatch.setenv("TWOFOLD_SESSION_IDLE_LIFETIME", "3600")
    monkeypatch.setenv("TWOFOLD_SESSION_ABSOLUTE_LIFETIME", "86400")
    monkeypatch.setenv("TWOFOLD_REMEMBER_BROWSER_IDLE", "7200")
    monkeypatch.setenv("TWOFOLD_REMEMBER_BROWSER_LIFETIME", "7200")
    policy = policy_from(settings(tmp_path))
    assert (policy.session_idle_lifetime, policy.session_absolute_lifetime) == (3600, 86_400)
    assert (policy.remember_browser_idle, policy.remember_browser_lifetime) == (7200, 7200)


def test_browser_lifetimes_default_to_auth0_s(tmp_path: Path) -> None:
    config = settings(tmp_path)
    assert (config.session_idle_lifetime, config.session_absolute_lifetime) == (259_200, 604_800)
    assert (config.remember_browser_idle, config.remember_browser_lifetime) == (
        604_800,
        2_592_000,
    )


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"session_idle_lifetime": 7200, "session_absolute_lifetime": 3600},
            "TWOFOLD_SESSION_ABSOLUTE_LIFETIME: must be at least TWOFOLD_SESSION_IDLE_LIFETIME"
            " (7200) (got '3600')",
        ),
        (
            {"remember_browser_idle": 40 * 86_400},
            "TWOFOLD_REMEMBER_BROWSER_LIFETIME: must be at least TWOFOLD_REMEMBER_BROWSER_IDLE"
            " (3456000) (got '2592000')",
        ),
        (
            {"session_idle_lifetime": 0},
            "TWOFOLD_SESSION_IDLE_LIFETIME: Input should be greater than or equal to 1 (got '0')",
        ),
        (
            {"remember_browser_lifetime": -5},
            "TWOFOLD_REMEMBER_BROWSER_LIFETIME: Input should be greater than or equal to 1",
        ),
    ],
)
def test_browser_lifetimes_are_checked(
    tmp_path: Path, values: dict[str, int], message: str
) -> None:
    from twofold.config_loading import ConfigError, load_settings

    with pytest.raises(ConfigError) as caught:
        load_settings({}, database_url=f"sqlite:///{tmp_path}/t.db", data_dir=tmp_path, **values)
    assert str(caught.value).startswith(message)

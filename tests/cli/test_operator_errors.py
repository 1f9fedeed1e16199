"""An operator's configuration mistake is one line on stderr naming the TWOFOLD_ variable, the
value expected and the fix, with a non-zero exit status: never a traceback, never silence."""

from __future__ import annotations

import base64
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from twofold import serving
from twofold.cli import main


def one_line_error(result: Result, *needles: str) -> str:
    assert result.exit_code != 0, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert "Traceback" not in line, line
    assert "pydantic" not in line, line
    for needle in needles:
        assert needle in line, line
    return line


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("TWOFOLD_LOG_LEVEL", "verbose", "expected one of debug, info, warning, error, critical"),
        ("TWOFOLD_ENCRYPTION_KEYS", "k1:not*base64", "expected kid:base64key"),
        ("TWOFOLD_ENCRYPTION_KEYS", "k1:" + base64.b64encode(b"short").decode(), "32 bytes"),
        ("TWOFOLD_DATABASE_URL", "mysql://db.example.com/twofold", "expected sqlite:///"),
        ("TWOFOLD_DATABASE_URL", "var/twofold.db", "expected sqlite:///"),
        ("TWOFOLD_DATABASE_URL", "", "expected sqlite:///"),
        ("TWOFOLD_ENVIRONMENT", "prod", "'production'"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_variable(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(name, value)
    line = one_line_error(invoke("keys", "list"), "invalid configuration", name, expected)
    if name == "TWOFOLD_ENCRYPTION_KEYS":
        assert value.partition(":")[2] not in line  # key material is never repeated


def test_an_unknown_variable_is_refused_with_a_suggestion(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWOFOLD_DATABSE_URL", "sqlite:///elsewhere.db")
    one_line_error(
        invoke("keys", "list"),
        "TWOFOLD_DATABSE_URL: not a Twofold setting",
        "did you mean TWOFOLD_DATABASE_URL?",
    )


def test_a_missing_config_file_is_refused(cli_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWOFOLD_CONFIG_FILE", str(cli_env / "nope.toml"))
    one_line_error(invoke("keys", "list"), "TWOFOLD_CONFIG_FILE: no such file")


def test_an_unknown_key_in_the_config_file_is_named(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = cli_env / "twofold.toml"
    config.write_text('log_levl = "debug"\n')
    monkeypatch.setenv("TWOFOLD_CONFIG_FILE", str(config))
    one_line_error(invoke("keys", "list"), "log_levl", "did you mean log_level?")


def test_lists_are_comma_separated(
    cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Was a SettingsError traceback: the environment source wanted JSON.
    monkeypatch.setenv("TWOFOLD_TRUSTED_FORWARDING_CLIENTS", "abc, def")
    monkeypatch.setenv("TWOFOLD_PHONE_COUNTRIES", "44,us")
    from twofold.config_loading import load_settings

    settings = load_settings()
    assert settings.trusted_forwarding_clients == ["abc", "def"]
    assert settings.phone_countries == ["+44", "US"]
    cli("keys", "list")


def test_a_lost_key_file_refuses_to_start_instead_of_making_a_new_key(
    cli: Callable[..., Result], cli_env: Path
) -> None:
    cli("keys", "list")  # first start: makes the key file and a signing key sealed under it
    key_file = cli_env / "encryption.keys"
    key_file.unlink()
    line = one_line_error(cli("keys", "list", ok=False), "no encryption key", "Restore")
    assert "TWOFOLD_ENCRYPTION_KEYS" in line
    assert not key_file.exists()  # no new key next to the existing data


def test_a_key_that_does_not_decrypt_the_database_refuses_to_start(
    cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    cli("keys", "list")
    other = base64.b64encode(os.urandom(32)).decode()
    monkeypatch.setenv("TWOFOLD_ENCRYPTION_KEYS", f"k9:{other}")
    one_line_error(
        cli("keys", "list", ok=False),
        "TWOFOLD_ENCRYPTION_KEYS",
        "does not decrypt the existing database",
    )


# ------------------------------------------------------------------------------ serve


@pytest.fixture
def served(
    cli_env: Path, restore_serve_env: None, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    """serving.run replaced: records what would be served, and the environment then."""
    monkeypatch.delenv("TWOFOLD_DOMAIN")
    seen: dict[str, Any] = {}

    def fake_run(**kwargs: Any) -> None:
        seen.update(kwargs, domain=os.environ.get("TWOFOLD_DOMAIN"))

    monkeypatch.setattr(serving, "run", fake_run)
    return seen


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_derives_the_issuer_from_what_it_serves_and_says_so(
    served: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    result = invoke("serve", "--demo", "--port", str(port))
    assert result.exit_code == 0, result.output
    assert served["domain"] == f"http://127.0.0.1:{port}"
    assert f"warning: TWOFOLD_DOMAIN is not set: the issuer is http://127.0.0.1:{port}/" in (
        result.stderr
    )
    assert f"issuer         http://127.0.0.1:{port}/" in result.stderr


def test_serve_in_production_needs_a_domain(
    served: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWOFOLD_ENVIRONMENT", "production")
    monkeypatch.setenv("TWOFOLD_ENCRYPTION_KEYS", "k1:" + base64.b64encode(os.urandom(32)).decode())
    one_line_error(invoke("serve", "--port", str(free_port())), "TWOFOLD_DOMAIN", "production")
    assert not served


def test_serve_demo_is_refused_in_production(
    served: dict[str, Any], monkeypatch: pytest.MonkeyPatch, cli_env: Path
) -> None:
    monkeypatch.setenv("TWOFOLD_ENVIRONMENT", "production")
    monkeypatch.setenv("TWOFOLD_DOMAIN", "auth.example.com")
    one_line_error(invoke("serve", "--demo"), "--demo is refused", "production")
    assert not served
    assert not (cli_env / "cli.db").exists()  # nothing written


def test_a_busy_port_fails_before_the_demo_credentials_change(
    served: dict[str, Any], cli_env: Path
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        one_line_error(invoke("serve", "--demo", "--port", port), f"port {port}", "in use")
    assert not served
    assert not (cli_env / "cli.db").exists()  # the demo was not touched


def test_serve_logs_no_alembic_setup_lines(
    served: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWOFOLD_LOG_FORMAT", "console")
    result = invoke("serve", "--demo", "--port", str(free_port()))
    assert result.exit_code == 0, result.output
    assert "Twofold is starting with a demo tenant:" in result.stderr
    assert "alembic" not in result.stderr  # the migration ran, silently


def test_make_run_serves_the_chosen_port_with_readable_logs() -> None:
    import shutil
    import subprocess

    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        ["make", "-n", "run", "PORT=9203"], cwd=root, capture_output=True, text=True, check=True
    )
    (line,) = [ln for ln in done.stdout.splitlines() if "twofold serve" in ln]
    assert line.endswith("twofold serve --demo --port 9203")
    assert "TWOFOLD_LOG_FORMAT=${TWOFOLD_LOG_FORMAT:-console}" in line

"""`twofold serve` hands uvicorn what an operator asked for, and splits the hashing threads
between worker processes (the server itself, `serving.run`, is replaced here: nothing listens)."""

from __future__ import annotations

import os
from typing import Any

import pytest
from click.testing import CliRunner

from twofold import serving
from twofold.cli import main


@pytest.fixture
def serve(cli_env: Any, restore_serve_env: None, monkeypatch: pytest.MonkeyPatch) -> Any:
    seen: dict[str, Any] = {}

    def fake_run(**kwargs: Any) -> None:
        seen.update(kwargs, hashing=os.environ.get("TWOFOLD_HASHING_CONCURRENCY"))

    monkeypatch.setattr(serving, "run", fake_run)

    def run(*args: str) -> dict[str, Any]:
        result = CliRunner().invoke(main, ["serve", *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return seen

    return run


def test_workers_share_the_cores_for_hashing(serve: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    seen = serve("--workers", "2")
    assert seen["workers"] == 2
    assert seen["hashing"] == "4"


def test_more_workers_than_cores_still_hash(serve: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert serve("--workers", "4")["hashing"] == "1"


def test_one_worker_keeps_the_default(serve: Any) -> None:
    assert serve("--workers", "1")["hashing"] is None  # Settings: one thread per core


def test_an_operator_setting_wins(serve: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWOFOLD_HASHING_CONCURRENCY", "3")
    assert serve("--workers", "2")["hashing"] == "3"


def test_a_config_file_setting_wins(
    serve: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    config = tmp_path / "twofold.toml"
    config.write_text("hashing_concurrency = 3\n")
    monkeypatch.setenv("TWOFOLD_CONFIG_FILE", str(config))
    # Not set in the environment by serve: the workers read the same file and get 3.
    assert serve("--workers", "2")["hashing"] is None


def test_demo_prints_a_fresh_secret_and_password_on_every_start(
    serve: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def demo() -> dict[str, str]:
        result = CliRunner().invoke(main, ["serve", "--demo"], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert "Twofold is starting with a demo tenant:" in result.stderr
        assert "base URL       http://127.0.0.1:8080" in result.stderr
        names = ("issuer", "client_id", "client_secret", "user", "password")
        fields = [line.split(None, 1) for line in result.stderr.splitlines()]
        return {f[0]: f[1] for f in fields if len(f) == 2 and f[0] in names}

    first, second = demo(), demo()
    assert len(first) == 5
    assert first["user"] == second["user"] == "demo@example.com"
    assert first["client_id"] == second["client_id"]
    assert first["client_secret"] != second["client_secret"]
    assert first["password"] != second["password"]


def test_read_timeouts_come_from_the_settings(serve: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    assert (serve()["header_read_timeout"], serve()["body_read_timeout"]) == (10.0, 30.0)
    monkeypatch.setenv("TWOFOLD_HEADER_READ_TIMEOUT", "2.5")
    monkeypatch.setenv("TWOFOLD_BODY_READ_TIMEOUT", "7")
    assert (serve()["header_read_timeout"], serve()["body_read_timeout"]) == (2.5, 7.0)

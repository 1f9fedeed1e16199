"""Fixtures for the `twofold` command's tests: a configuration in the environment pointing at a
fresh SQLite database under ``tmp_path``, and a runner that invokes the command in-process."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from twofold.cli import main
from web.support import operator_env


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The environment a test operator would set; returns the data directory."""
    operator_env(monkeypatch, tmp_path, "cli.db")
    return tmp_path


@pytest.fixture
def cli(cli_env: Path) -> Callable[..., Result]:
    """`cli("keys", "list")` runs the command; with ok=True (the default) it must exit 0."""

    def run(*args: str, ok: bool = True, **kwargs: Any) -> Result:
        result = CliRunner().invoke(main, list(args), catch_exceptions=False, **kwargs)
        if ok:
            assert result.exit_code == 0, (result.output, result.stderr)
        return result

    return run


# What `twofold serve` writes into its environment for the worker processes it starts.
SERVE_WRITES = (
    "TWOFOLD_DOMAIN",
    "TWOFOLD_HASHING_CONCURRENCY",
    "TWOFOLD_EMAIL_CHANNEL",
    "TWOFOLD_SMS_CHANNEL",
    "TWOFOLD_VOICE_CHANNEL",
    "TWOFOLD_PUSH_CHANNEL",
    "TWOFOLD_SERVING_TLS",
)


@pytest.fixture
def restore_serve_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever serve writes into os.environ is put back after the test (monkeypatch restores
    only what it saw: set each once so that it records the value before)."""
    import os

    for name in SERVE_WRITES:
        monkeypatch.setenv(name, os.environ.get(name, ""))
        if name != "TWOFOLD_DOMAIN" or not os.environ.get(name):
            monkeypatch.delenv(name)

"""`twofold tenant set --email-counts-as-factor/--no-email-counts-as-factor` and `tenant show`."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner

from twofold.cli import main

from .support import DOMAIN


@pytest.fixture
def cli(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    env = {
        "TWOFOLD_DATABASE_URL": f"sqlite:///{tmp_path}/cli.db",
        "TWOFOLD_DOMAIN": DOMAIN,
        "TWOFOLD_DATA_DIR": str(tmp_path),
        "TWOFOLD_ENVIRONMENT": "test",
        "TWOFOLD_ENCRYPTION_KEYS": "",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    def run(*args: str) -> Any:
        result = CliRunner().invoke(main, list(args), catch_exceptions=False)
        assert result.exit_code == 0, (result.output, result.stderr)
        return result

    return run


def test_email_counts_as_factor_by_default_and_can_be_turned_off_and_on(cli):
    assert json.loads(cli("tenant", "show").stdout)["email_counts_as_factor"] is True

    shown = json.loads(cli("tenant", "set", "--no-email-counts-as-factor").stdout)
    assert shown["email_counts_as_factor"] is False
    assert json.loads(cli("tenant", "show").stdout)["email_counts_as_factor"] is False

    cli("tenant", "set", "--email-counts-as-factor")
    assert json.loads(cli("tenant", "show").stdout)["email_counts_as_factor"] is True

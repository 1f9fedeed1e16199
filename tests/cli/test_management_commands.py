"""`twofold users list|show|block|unblock|delete|set-password|reset-mfa|recovery-code` and
`twofold clients delete|rotate-secret`: the Management API's use cases from the command line."""

from __future__ import annotations

import json
from typing import Any

GRANT_CC = "client_credentials"


def _user(cli: Any, email: str = "op@example.com") -> str:
    out = cli("users", "create", "--email", email, "--password", "a long password", "--json")
    return str(json.loads(out.stdout)["user_id"])


def test_users_list_and_show(cli: Any) -> None:
    first = _user(cli, "a@example.com")
    _user(cli, "b@example.com")

    listed = json.loads(cli("users", "list", "--json").stdout)
    assert listed["total"] == 2
    assert [u["email"] for u in listed["users"]] == ["a@example.com", "b@example.com"]
    one = json.loads(cli("users", "list", "--email", "B@example.com", "--json").stdout)
    assert [u["email"] for u in one["users"]] == ["b@example.com"]
    text = cli("users", "list", "--per-page", "1").stdout
    assert first in text
    assert "(1 of 2)" in text

    shown = json.loads(cli("users", "show", first, "--json").stdout)
    assert shown["user_id"] == first
    assert shown["authentication_methods"] == []
    assert first in cli("users", "show", first).stdout


def test_block_unblock_set_password_delete(cli: Any) -> None:
    user_id = _user(cli)

    assert cli("users", "block", user_id).stdout == f"blocked {user_id}\n"
    assert json.loads(cli("users", "show", user_id, "--json").stdout)["blocked"] is True
    cli("users", "unblock", user_id)
    assert json.loads(cli("users", "show", user_id, "--json").stdout)["blocked"] is False
    short = cli("users", "set-password", user_id, "--password", "short", ok=False)
    assert short.exit_code == 1
    assert "too weak" in short.stderr
    cli("users", "set-password", user_id, "--password", "another long one")
    cli("users", "delete", user_id, "--yes")
    missing = cli("users", "show", user_id, ok=False)
    assert missing.exit_code == 1
    assert f"no user '{user_id}'" in missing.stderr
    assert cli("users", "delete", user_id, "--yes", ok=False).exit_code == 1


def test_reset_mfa_and_recovery_code_need_an_enrollment(cli: Any) -> None:
    user_id = _user(cli)

    assert cli("users", "reset-mfa", user_id).stdout == f"MFA reset for {user_id}\n"
    refused = cli("users", "recovery-code", user_id, ok=False)
    assert refused.exit_code == 1
    assert "no confirmed MFA enrollment" in refused.stderr
    assert cli("users", "reset-mfa", "auth0|nobody", ok=False).exit_code == 1


def test_clients_delete_and_rotate_secret(cli: Any) -> None:
    made = json.loads(cli("clients", "create", "--name", "App", "--json").stdout)

    rotated = json.loads(cli("clients", "rotate-secret", made["client_id"], "--json").stdout)
    assert rotated["client_id"] == made["client_id"]
    assert rotated["client_secret"]
    assert rotated["client_secret"] != made["client_secret"]
    cli("clients", "delete", made["client_id"], "--yes")
    assert json.loads(cli("clients", "list", "--json").stdout) == []
    again = cli("clients", "delete", made["client_id"], "--yes", ok=False)
    assert again.exit_code == 1
    assert "no client" in again.stderr
    public = cli("clients", "create", "--name", "SPA", "--auth-method", "none").stdout
    spa = public.splitlines()[0].removeprefix("client_id=")
    assert cli("clients", "rotate-secret", spa, ok=False).exit_code == 1


def test_management_api_client_with_chosen_scopes(cli: Any) -> None:
    audience = "https://twofold.test/api/v2/"

    made = cli(
        "clients",
        "create",
        "--name",
        "M2M",
        "--audience",
        audience,
        "--scope",
        "read:users read:logs",
        "--json",
    )
    assert json.loads(made.stdout)["client_id"]
    unknown = cli(
        "clients", "create", "--name", "X", "--audience", audience, "--scope", "root", ok=False
    )
    assert unknown.exit_code == 1
    assert "root" in unknown.stderr
    builtin = cli("apis", "create", "--identifier", audience, ok=False)
    assert "built in" in builtin.stderr

"""`twofold clients create|update|show` with callbacks, logout URLs and web origins."""

from __future__ import annotations

import json
from typing import Any

CB = "https://app.example.com/callback"
BYE = "https://app.example.com/bye"
ORIGIN = "https://app.example.com"


def _show(cli: Any, client_id: str) -> dict[str, Any]:
    return dict(json.loads(cli("clients", "show", client_id, "--json").stdout))


def test_create_with_urls_then_list_and_show(cli: Any) -> None:
    made = json.loads(
        cli(
            "clients", "create", "--name", "SPA", "--auth-method", "none",
            "--callback", CB, "--callback", "http://localhost:3000/cb",
            "--logout-url", BYE, "--web-origin", "https://App.Example.com/", "--json",
        ).stdout
    )  # fmt: skip
    shown = _show(cli, made["client_id"])
    assert shown["callbacks"] == [CB, "http://localhost:3000/cb"]
    assert shown["allowed_logout_urls"] == [BYE]
    assert shown["web_origins"] == [ORIGIN]
    assert "client_secret" not in shown
    (row,) = json.loads(cli("clients", "list", "--json").stdout)
    assert row == shown
    text = cli("clients", "show", made["client_id"]).stdout
    assert f"callbacks={CB} http://localhost:3000/cb\n" in text


def test_update_replaces_only_the_lists_given(cli: Any) -> None:
    made = json.loads(
        cli(
            "clients", "create", "--name", "A", "--callback", CB, "--logout-url", BYE, "--json"
        ).stdout
    )
    client_id = made["client_id"]

    cli("clients", "update", client_id, "--web-origin", ORIGIN, "--name", "B")
    shown = _show(cli, client_id)
    assert (shown["name"], shown["callbacks"], shown["web_origins"]) == ("B", [CB], [ORIGIN])

    cli("clients", "update", client_id, "--callback", CB + "2", "--clear", "logout-urls")
    shown = _show(cli, client_id)
    assert shown["callbacks"] == [CB + "2"]
    assert shown["allowed_logout_urls"] == []
    assert shown["web_origins"] == [ORIGIN]


def test_bad_urls_are_refused_and_nothing_changes(cli: Any) -> None:
    made = json.loads(cli("clients", "create", "--name", "A", "--callback", CB, "--json").stdout)
    for bad, why in [
        ("https://*.example.com/cb", "wildcards are not supported"),
        ("http://app.example.com/cb", "http is allowed on localhost"),
        ("https://app.example.com/cb#x", "fragment"),
    ]:
        result = cli("clients", "update", made["client_id"], "--callback", bad, ok=False)
        assert result.exit_code == 1
        assert why in result.stderr
    bad_origin = cli("clients", "create", "--name", "X", "--web-origin", f"{ORIGIN}/p", ok=False)
    assert "an origin has no path" in bad_origin.stderr
    assert [c["name"] for c in json.loads(cli("clients", "list", "--json").stdout)] == ["A"]
    assert _show(cli, made["client_id"])["callbacks"] == [CB]


def test_update_and_show_an_unknown_client(cli: Any) -> None:
    for args in (("show", "nope"), ("update", "nope", "--callback", CB)):
        result = cli("clients", *args, ok=False)
        assert result.exit_code == 1
        assert "no client 'nope'" in result.stderr


def test_clear_and_a_value_contradict(cli: Any) -> None:
    made = json.loads(cli("clients", "create", "--name", "A", "--json").stdout)
    result = cli(
        "clients", "update", made["client_id"], "--callback", CB, "--clear", "callbacks", ok=False
    )
    assert result.exit_code == 2


def test_a_spa_gets_the_code_grant_at_creation_or_later(cli: Any) -> None:
    made = json.loads(
        cli(
            "clients", "create", "--name", "SPA", "--auth-method", "none",
            "--grant-types", "authorization_code refresh_token", "--callback", CB, "--json",
        ).stdout
    )  # fmt: skip
    shown = _show(cli, made["client_id"])
    assert (shown["auth_method"], shown["grant_types"]) == (
        "none",
        ["authorization_code", "refresh_token"],
    )
    assert made["client_secret"] is None

    other = json.loads(cli("clients", "create", "--name", "Web", "--json").stdout)
    assert "authorization_code" not in _show(cli, other["client_id"])["grant_types"]
    cli("clients", "update", other["client_id"], "--grant-types", "authorization_code implicit")
    assert _show(cli, other["client_id"])["grant_types"] == ["authorization_code", "implicit"]

    refused = cli("clients", "update", other["client_id"], "--grant-types", "code", ok=False)
    assert refused.exit_code == 1
    assert "unknown grant types: code" in refused.stderr
    assert _show(cli, other["client_id"])["grant_types"] == ["authorization_code", "implicit"]

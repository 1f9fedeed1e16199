"""The operator's commands for clients, APIs, users, the tenant and the audit trail, on a fresh
SQLite database: what they print (text and --json), and how they refuse bad input."""

from __future__ import annotations

import json
from typing import Any

from web.support import API, API_SCOPES

GRANT_MFA_OTP = "http://auth0.com/oauth/grant-type/mfa-otp"


def test_clients_create_and_list(cli: Any) -> None:
    made = json.loads(cli("clients", "create", "--name", "App", "--json").stdout)
    assert set(made) == {"client_id", "client_secret"}
    assert made["client_secret"]

    text = cli("clients", "create", "--name", "Other", "--auth-method", "none").stdout
    other_id = text.splitlines()[0].removeprefix("client_id=")
    assert text == f"client_id={other_id}\nclient_secret=\n"

    rows = json.loads(cli("clients", "list", "--json").stdout)
    assert {r["client_id"]: (r["name"], r["auth_method"]) for r in rows} == {
        made["client_id"]: ("App", "client_secret_post"),
        other_id: ("Other", "none"),
    }
    assert all(GRANT_MFA_OTP in r["grant_types"] for r in rows)
    assert all(r["grant_types"] == sorted(r["grant_types"]) for r in rows)
    lines = cli("clients", "list").stdout.splitlines()
    assert f"{made['client_id']}  App  client_secret_post" in lines
    assert f"{other_id}  Other  none" in lines


def test_a_client_for_an_api_gets_all_its_scopes(cli: Any) -> None:
    created = cli("apis", "create", "--identifier", API, "--scope", " ".join(API_SCOPES))
    assert created.stdout == f"identifier={API}\n"
    made = json.loads(cli("clients", "create", "--name", "M2M", "--audience", API, "--json").stdout)
    rows = json.loads(cli("clients", "list", "--json").stdout)
    (row,) = [r for r in rows if r["client_id"] == made["client_id"]]
    assert "client_credentials" in row["grant_types"]


def test_clients_create_refuses_bad_input(cli: Any) -> None:
    unknown_api = cli("clients", "create", "--name", "X", "--audience", "https://no/", ok=False)
    assert unknown_api.exit_code == 1
    assert "no API with identifier 'https://no/'" in unknown_api.stderr
    unknown_grant = cli("clients", "create", "--name", "X", "--grant-types", "magic", ok=False)
    assert unknown_grant.exit_code == 1
    assert "unknown grant types: magic" in unknown_grant.stderr
    bad_method = cli("clients", "create", "--name", "X", "--auth-method", "magic", ok=False)
    assert bad_method.exit_code == 2
    assert "Invalid value" in bad_method.stderr
    no_jwks = cli("clients", "create", "--name", "X", "--auth-method", "private_key_jwt", ok=False)
    assert no_jwks.exit_code == 1
    assert "needs the client's public keys" in no_jwks.stderr
    assert json.loads(cli("clients", "list", "--json").stdout) == []


def test_apis_create_and_list(cli: Any) -> None:
    made = cli(
        "apis",
        "create",
        "--identifier",
        API,
        "--scope",
        "read:x write:x",
        "--scope",
        "read:x",
        "--json",
    )
    assert json.loads(made.stdout) == {"identifier": API, "scopes": ["read:x", "write:x"]}
    assert json.loads(cli("apis", "list", "--json").stdout) == [
        {"identifier": API, "scopes": ["read:x", "write:x"]}
    ]
    assert cli("apis", "list").stdout == f"{API}  read:x write:x\n"
    again = cli("apis", "create", "--identifier", API, ok=False)
    assert again.exit_code == 1
    assert "already exists" in again.stderr
    mfa = cli("apis", "create", "--identifier", "https://twofold.test/mfa/", ok=False)
    assert mfa.exit_code == 1
    assert "built in" in mfa.stderr


def test_users_create(cli: Any) -> None:
    made = json.loads(
        cli(
            "users", "create", "--email", "a@example.com", "--password", "long enough", "--json"
        ).stdout
    )
    assert made["user_id"].startswith("auth0|")
    text = cli(
        "users", "create", "--email", "b@example.com", env={"TWOFOLD_USER_PASSWORD": "long enough"}
    ).stdout
    assert text.startswith("user_id=auth0|")
    short = cli("users", "create", "--email", "c@example.com", "--password", "short", ok=False)
    assert short.exit_code == 1
    assert "at least 8 characters" in short.stderr


def test_tenant_show_and_set(cli: Any) -> None:
    shown = json.loads(cli("tenant", "show").stdout)
    assert shown["mfa_policy"] == "always"
    updated = cli(
        "tenant",
        "set",
        "--mfa-policy",
        "never",
        "--factor",
        "otp",
        "--factor",
        "sms",
        "--no-recovery-codes",
        "--friendly-name",
        "Acme",
        "--default-audience",
        API,
    )
    data = json.loads(updated.stdout)
    assert data == {
        **shown,
        "friendly_name": "Acme",
        "mfa_policy": "never",
        "enabled_factors": ["otp", "sms"],
        "recovery_codes_enabled": False,
        "default_audience": API,
    }
    assert json.loads(cli("tenant", "show").stdout) == data
    cleared = json.loads(cli("tenant", "set", "--default-audience", "").stdout)
    assert cleared["default_audience"] is None
    nothing = cli("tenant", "set", ok=False)
    assert nothing.exit_code == 2
    assert "nothing to set" in nothing.stderr
    for args in (("--mfa-policy", "sometimes"), ("--factor", "otp2")):
        bad = cli("tenant", "set", *args, ok=False)
        assert bad.exit_code == 2
        assert "Invalid value" in bad.stderr


def test_audit_list(cli: Any) -> None:
    assert json.loads(cli("audit", "list", "--json").stdout) == []
    assert cli("audit", "list", "--user", "auth0|x", "--type", "gd_auth_failed").stdout == "\n"
    too_many = cli("audit", "list", "--limit", "0", ok=False)
    assert too_many.exit_code == 2


def test_audit_list_filters_and_prints_events(cli: Any) -> None:
    import asyncio

    from twofold.app import create_services
    from twofold.config import Settings
    from twofold.core import audit

    async def record() -> None:
        services = await create_services(Settings())
        try:
            audit.request_context.set(audit.RequestContext(ip="203.0.113.9"))
            await audit.record(services.deps, "gd_auth_failed", user_id="auth0|a", client_id="c")
            await audit.record(services.deps, "gd_auth_succeed", user_id="auth0|b")
        finally:
            await services.close()

    asyncio.run(record())
    rows = json.loads(cli("audit", "list", "--user", "auth0|a", "--json").stdout)
    assert len(rows) == 1
    (row,) = rows
    assert row["type"] == "gd_auth_failed"
    assert row["user_id"] == "auth0|a"
    assert row["client_id"] == "c"
    assert row["ip"] == "203.0.113.9"
    assert row["date"].endswith("+00:00")
    assert set(row) == {"type", "date", "description", "user_id", "client_id", "ip", "details"}
    text = cli("audit", "list", "--type", "gd_auth_failed").stdout
    assert text == f"{row['date']}  {'gd_auth_failed':<24} {'auth0|a':<32} 203.0.113.9\n"
    assert len(json.loads(cli("audit", "list", "--json").stdout)) == 2
    assert len(json.loads(cli("audit", "list", "--limit", "1", "--json").stdout)) == 1

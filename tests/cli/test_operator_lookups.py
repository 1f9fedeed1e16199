"""`tenant set --enable/--disable` keep the other factors; `users show` and `audit list --user`
take an email as well as a user id."""

from __future__ import annotations

import asyncio
import json
from typing import Any


def test_enable_and_disable_keep_the_other_factors(cli: Any) -> None:
    before = json.loads(cli("tenant", "show").stdout)["enabled_factors"]
    assert before == ["otp", "recovery-code"]
    result = cli("tenant", "set", "--enable", "email", "--enable", "sms")
    assert json.loads(result.stdout)["enabled_factors"] == ["email", "otp", "recovery-code", "sms"]
    assert result.stderr.strip() == "enabled factors: otp, sms, email, recovery-code"
    result = cli("tenant", "set", "--disable", "sms")
    assert json.loads(result.stdout)["enabled_factors"] == ["email", "otp", "recovery-code"]
    # --factor still replaces the whole list.
    result = cli("tenant", "set", "--factor", "otp")
    assert json.loads(result.stdout)["enabled_factors"] == ["otp"]


def test_enable_and_disable_the_same_factor_is_refused(cli: Any) -> None:
    result = cli("tenant", "set", "--enable", "sms", "--disable", "sms", ok=False)
    assert result.exit_code == 2
    assert "both --enable and --disable sms" in result.stderr


def test_users_show_by_email_or_id_without_secrets(cli: Any) -> None:
    created = cli("users", "create", "--email", "Ada@Example.com", "--password", "correct horse")
    user_id = created.stdout.strip().removeprefix("user_id=")
    by_email = json.loads(cli("users", "show", "ada@example.com", "--json").stdout)
    by_id = json.loads(cli("users", "show", user_id, "--json").stdout)
    assert by_email == by_id
    assert by_email["user_id"] == user_id
    assert by_email["email"] == "ada@example.com"
    assert by_email["authentication_methods"] == []
    assert "password" not in json.dumps(by_email)
    assert "$argon2" not in cli("users", "show", user_id).stdout
    missing = cli("users", "show", "nobody@example.com", ok=False)
    assert missing.exit_code == 1
    assert missing.stderr.strip() == (
        "Error: no user 'nobody@example.com' (by id, or by email in realm "
        "'Username-Password-Authentication')"
    )


def test_audit_list_by_email(cli: Any) -> None:
    from twofold.app import create_services
    from twofold.config import Settings
    from twofold.core import audit

    created = cli("users", "create", "--email", "ada@example.com", "--password", "correct horse")
    user_id = created.stdout.strip().removeprefix("user_id=")

    async def record() -> None:
        services = await create_services(Settings())
        try:
            await audit.record(services.deps, "gd_auth_failed", user_id=user_id)
            await audit.record(services.deps, "gd_auth_failed", user_id="auth0|someone")
        finally:
            await services.close()

    asyncio.run(record())
    rows = json.loads(cli("audit", "list", "--user", "ada@example.com", "--json").stdout)
    assert [r["user_id"] for r in rows] == [user_id]
    unknown = cli("audit", "list", "--user", "nobody@example.com", ok=False)
    assert unknown.exit_code == 1
    assert "no user 'nobody@example.com'" in unknown.stderr

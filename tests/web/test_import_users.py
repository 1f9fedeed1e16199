"""Users imported from an Auth0 file log in with their old password and their old TOTP
authenticator, through the real password and mfa-otp grants; bad records are refused alone,
with their line and reason, and leave nothing behind; importing again changes nothing; an import
never overwrites a password in use."""

from __future__ import annotations

from typing import Any

import pytest

from twofold.core import associated_data
from twofold.core.models import UserQuery
from twofold.core.ports import Conflict

from .import_support import (
    bcrypt_user,
    check_a_conflict_at_write_time_refuses_only_its_record,
    job_errors,
    login_with_totp,
    run_import,
    secret_for,
    users_file,
)
from .management_support import ALL_SCOPES, mgmt_token
from .support import WRONG_CREDENTIALS, assert_error, assert_tokens

pytestmark = pytest.mark.anyio

PEOPLE = [(f"user{i}@example.com", f"old password {i}") for i in range(3)]


def people_file(**extra: Any) -> bytes:
    return users_file([bcrypt_user(email, pw, **extra) for email, pw in PEOPLE])


async def stored_user(env: Any, email: str) -> Any:
    user = await env.services.deps.storage.users.find_by_login(
        "Username-Password-Authentication", email
    )
    assert user is not None, email
    return user


async def test_imported_bcrypt_users_log_in_with_their_password_and_totp(env):
    token = await mgmt_token(env)
    client = await env.client()

    job = await run_import(env, token, people_file())

    assert job["status"] == "completed", job
    assert job["summary"] == {"failed": 0, "updated": 0, "inserted": 3, "skipped": 0, "total": 3}
    email, password = PEOPLE[1]
    before = await stored_user(env, email)
    assert before.password_hash.startswith("$import$")

    wrong = await env.password(client, username=email, password="not it")
    assert_error(wrong, 403, "invalid_grant", WRONG_CREDENTIALS)
    assert (await stored_user(env, email)).password_hash == before.password_hash

    tokens = await login_with_totp(env, client, email, password, secret_for(email))
    assert tokens["access_token"]

    after = await stored_user(env, email)
    assert after.password_hash.startswith("$argon2id$"), after.password_hash
    env.clock.advance(31)
    await login_with_totp(env, client, email, password, secret_for(email))


async def test_imported_totp_secret_is_encrypted_at_rest(env):
    token = await mgmt_token(env)
    await run_import(env, token, people_file())
    email = PEOPLE[0][0]
    user = await stored_user(env, email)
    (row,) = await env.services.deps.storage.authenticators.list_for_user(user.user_id)
    assert row.kind == "totp"
    assert row.active
    assert secret_for(email) not in (row.secret_enc or "")
    keyring = env.services.deps.keyring
    opened = keyring.decrypt(row.secret_enc, associated_data.otp_secret(row.id)).decode()
    assert opened == secret_for(email)


async def test_bad_records_are_reported_with_line_and_reason_and_leave_nothing(env):
    token = await mgmt_token(env)
    records = [
        bcrypt_user("good@example.com", "pw good"),
        {"email": "not-an-email"},
        bcrypt_user(
            "badhash@example.com",
            "pw",
            custom_password_hash={"algorithm": "md5", "hash": {"value": "zz", "encoding": "hex"}},
        ),
        # A good TOTP factor, then a phone number that is no number: the whole record is refused.
        bcrypt_user(
            "halfway@example.com",
            "pw",
            mfa_factors=[{"totp": {"secret": secret_for("x")}}, {"phone": {"value": "+1"}}],
        ),
        bcrypt_user("good@example.com", "again"),
    ]

    job = await run_import(env, token, users_file(records))

    assert job["status"] == "completed"
    assert job["summary"]["inserted"] == 1
    assert job["summary"]["failed"] == 4
    errors = (await job_errors(env, token, job["id"])).json()
    reported = [(e["line"], e["errors"][0]["code"], e["errors"][0]["path"]) for e in errors]
    assert reported == [
        (3, "FORMAT", "email"),
        (4, "INVALID_PASSWORD_HASH", "custom_password_hash.hash.value"),
        (5, "MFA_FACTORS_FAILED", "mfa_factors[1]"),
        (6, "DUPLICATED_USER", "email"),
    ]
    assert all(e["errors"][0]["message"] for e in errors)
    assert errors[2]["user"]["mfa_factors"][0]["totp"]["secret"] == "*****"
    assert errors[1]["user"]["custom_password_hash"]["hash"]["value"] == "*****"
    users = env.services.deps.storage.users
    assert (
        await users.find_by_login("Username-Password-Authentication", "halfway@example.com") is None
    )
    assert (
        await users.find_by_login("Username-Password-Authentication", "badhash@example.com") is None
    )


async def test_a_write_that_fails_midway_leaves_no_row_of_its_record(env, monkeypatch):
    """The batch's unit of work fails on the second user's authenticator (as a concurrent
    writer would make it): the batch is written again record by record, and the failing
    record leaves neither its user row nor its first authenticator."""
    token = await mgmt_token(env)
    storage = env.services.deps.storage
    real_add = storage.authenticators.add

    async def add(row: Any) -> None:
        if row.user_id == "auth0|second":
            raise Conflict("taken meanwhile")
        await real_add(row)

    monkeypatch.setattr(storage.authenticators, "add", add)
    records = [
        bcrypt_user(email, pw, user_id=name)
        for (email, pw), name in zip(PEOPLE, ("first", "second", "third"), strict=True)
    ]
    job = await run_import(env, token, users_file(records))

    assert job["summary"]["inserted"] == 2
    assert job["summary"]["failed"] == 1
    errors = (await job_errors(env, token, job["id"])).json()
    assert [(e["line"], e["errors"][0]["code"]) for e in errors] == [(3, "DUPLICATED_USER")]
    assert (
        await storage.users.find_by_login("Username-Password-Authentication", PEOPLE[1][0]) is None
    )
    for email, _ in (PEOPLE[0], PEOPLE[2]):
        user = await stored_user(env, email)
        assert len(await storage.authenticators.list_for_user(user.user_id)) == 1


async def test_a_conflict_at_write_time_refuses_only_its_record(env, monkeypatch):
    await check_a_conflict_at_write_time_refuses_only_its_record(env, monkeypatch)


async def test_importing_again_skips_and_upsert_updates_without_duplicates(env):
    token = await mgmt_token(env)
    data = people_file(user_metadata={"plan": "pro"})
    await run_import(env, token, data)
    storage = env.services.deps.storage

    again = await run_import(env, token, data)
    assert again["summary"] == {"failed": 0, "updated": 0, "inserted": 0, "skipped": 3, "total": 3}

    changed = people_file(user_metadata={"theme": "dark"}, name="Renamed")
    upserted = await run_import(env, token, changed, upsert="true")
    assert upserted["summary"]["updated"] == 3
    assert upserted["summary"]["failed"] == 0
    for email, _ in PEOPLE:
        user = await stored_user(env, email)
        assert user.name == "Renamed"
        assert user.user_metadata == {"plan": "pro", "theme": "dark"}
        assert len(await storage.authenticators.list_for_user(user.user_id)) == 1
    _, total = await storage.users.search(UserQuery(limit=100))
    assert total == 3


async def test_an_import_never_overwrites_a_password_in_use(env):
    """Without upsert an existing user is left alone; with upsert the hash gives way only while
    it is still the imported one that no login has replaced."""
    token = await mgmt_token(env)
    client = await env.client()
    await env.tenant(mfa_policy="never")
    await env.user("local@example.com", "local password")
    first, second = PEOPLE[0], PEOPLE[1]
    await run_import(env, token, users_file([bcrypt_user(*first), bcrypt_user(*second)]))
    assert_tokens(await env.password(client, username=first[0], password=first[1]))  # rehashed

    hijack = users_file(
        [
            bcrypt_user("local@example.com", "attacker"),
            bcrypt_user(first[0], "attacker"),
            bcrypt_user(second[0], "new imported"),
        ]
    )
    await run_import(env, token, hijack)
    assert_error(
        await env.password(client, username=second[0], password="new imported"),
        403,
        "invalid_grant",
    )
    await run_import(env, token, hijack, upsert="true")

    for email, password in (("local@example.com", "local password"), first):
        assert_tokens(await env.password(client, username=email, password=password))
        refused = await env.password(client, username=email, password="attacker")
        assert_error(refused, 403, "invalid_grant", WRONG_CREDENTIALS)
    # Never logged in: its imported hash is replaced by the file's newer one.
    assert_tokens(await env.password(client, username=second[0], password="new imported"))
    assert_error(
        await env.password(client, username=second[0], password=second[1]), 403, "invalid_grant"
    )


async def test_adding_factors_to_existing_users_needs_create_authentication_methods(env):
    scopes = tuple(s for s in ALL_SCOPES if s != "create:authentication_methods")
    token = await mgmt_token(env, scopes)
    await run_import(env, token, people_file(totp_secret=False))

    job = await run_import(env, token, people_file(), upsert="true")

    assert job["summary"]["failed"] == 3
    errors = (await job_errors(env, token, job["id"])).json()
    assert {e["errors"][0]["code"] for e in errors} == {"MFA_FACTORS_FAILED"}
    user = await stored_user(env, PEOPLE[0][0])
    assert await env.services.deps.storage.authenticators.list_for_user(user.user_id) == []

    allowed = await run_import(env, await mgmt_token(env), people_file(), upsert="true")
    assert allowed["summary"]["updated"] == 3
    assert len(await env.services.deps.storage.authenticators.list_for_user(user.user_id)) == 1

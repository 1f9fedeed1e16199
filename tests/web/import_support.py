"""Helpers for the users-import tests: Auth0-format users files, the users-imports upload, and a
login with the imported password and a TOTP code computed from the imported secret."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import bcrypt
import httpx

from .management_support import auth, mgmt_token
from .support import REALM, Creds, Harness, assert_tokens, totp

# bcrypt's lowest cost: the tests check that the hash works, not what it costs.
COST = 4


def secret_for(email: str) -> str:
    """A 20-byte TOTP secret, unpadded base32, as Auth0 exports them."""
    return base64.b32encode(hashlib.sha1(email.encode()).digest()).decode().rstrip("=")


def bcrypt_user(
    email: str, password: str, *, totp_secret: bool = True, **extra: Any
) -> dict[str, Any]:
    user: dict[str, Any] = {
        "email": email,
        "email_verified": True,
        "custom_password_hash": {
            "algorithm": "bcrypt",
            "hash": {"value": bcrypt.hashpw(password.encode(), bcrypt.gensalt(COST)).decode()},
        },
    }
    if totp_secret:
        user["mfa_factors"] = [{"totp": {"secret": secret_for(email)}}]
    user.update(extra)
    return user


def users_file(records: list[Any]) -> bytes:
    """A JSON array, one record per line after the opening bracket (record i is on line i+2)."""
    return ("[\n" + ",\n".join(json.dumps(r) for r in records) + "\n]\n").encode()


async def upload(env: Harness, token: str, data: bytes, **fields: str) -> httpx.Response:
    form = {"connection_id": REALM, **fields}
    return await env.http.post(
        "/api/v2/jobs/users-imports",
        data=form,
        files={"users": ("users.json", data, "application/json")},
        headers=auth(token),
    )


async def run_import(env: Harness, token: str, data: bytes, **fields: str) -> dict[str, Any]:
    """Upload, let the job run to its end, and answer the finished job."""
    created = await upload(env, token, data, **fields)
    assert created.status_code == 201, created.text
    await env.services.deps.background.wait()
    got = await env.http.get(f"/api/v2/jobs/{created.json()['id']}", headers=auth(token))
    assert got.status_code == 200, got.text
    job: dict[str, Any] = got.json()
    return job


async def job_errors(env: Harness, token: str, job_id: str) -> httpx.Response:
    return await env.http.get(f"/api/v2/jobs/{job_id}/errors", headers=auth(token))


async def login_with_totp(
    env: Harness, client: Creds, email: str, password: str, secret: str
) -> dict[str, Any]:
    """The real password grant, then the mfa-otp grant with a code computed here."""
    mfa_token = await env.mfa_token(client, username=email, password=password)
    resp = await env.otp_grant(client, mfa_token, totp(secret, env.clock.now()))
    return assert_tokens(resp)


async def check_a_conflict_at_write_time_refuses_only_its_record(
    env: Harness, monkeypatch: Any
) -> None:
    """Another writer takes an email between the import's checks and its write: the database's
    unique constraint refuses the batch's transaction, the batch is written again record by
    record, and only that record is refused, leaving nothing of itself."""
    from twofold.core.management import imports

    token = await mgmt_token(env)
    await env.user("taken@example.com", "someone else's")
    real_target = imports._target

    async def blind_target(run: Any, candidate: Any) -> Any:
        # The check ran before the other writer committed.
        return None if candidate.email == "taken@example.com" else await real_target(run, candidate)

    monkeypatch.setattr(imports, "_target", blind_target)
    records = [
        bcrypt_user("first@example.com", "pw 1"),
        bcrypt_user("taken@example.com", "pw 2", user_id="late"),
        bcrypt_user("third@example.com", "pw 3"),
    ]
    job = await run_import(env, token, users_file(records))

    assert job["summary"]["inserted"] == 2, job
    assert job["summary"]["failed"] == 1, job
    errors = (await job_errors(env, token, job["id"])).json()
    assert [(e["line"], e["errors"][0]["code"]) for e in errors] == [(3, "DUPLICATED_USER")]
    storage = env.services.deps.storage
    assert await storage.users.get("auth0|late") is None
    assert await storage.authenticators.list_for_user("auth0|late") == []
    for email in ("first@example.com", "third@example.com"):
        user = await storage.users.find_by_login(REALM, email)
        assert user is not None
        assert len(await storage.authenticators.list_for_user(user.user_id)) == 1

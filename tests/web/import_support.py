"""Helpers for the users-import tests: Auth0-format users files, the users-imports upload, and a
login with the imported password and a TOTP code computed from the imported secret."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import bcrypt
import httpx

from .management_support import auth
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

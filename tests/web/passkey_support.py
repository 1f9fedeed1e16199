"""Helpers for the passkey tests: a client allowed the webauthn grant, and the three calls of
Auth0's native passkey login as @auth0/auth0-auth-js makes them (JSON bodies; the token request
carries `authn_response` as a nested object)."""

from __future__ import annotations

from typing import Any

import httpx

from .support import BASE_URL, DOMAIN, GRANT_OTP, GRANT_PASSWORD, GRANT_REFRESH, Creds, Harness
from .webauthn_authenticator import SoftAuthenticator

GRANT_WEBAUTHN = "urn:okta:params:oauth:grant-type:webauthn"
ORIGIN = BASE_URL
RP_ID = DOMAIN


async def passkey_client(env: Harness, auth_method: str = "client_secret_post") -> Creds:
    return await env.client(
        grant_types=[GRANT_WEBAUTHN, GRANT_PASSWORD, GRANT_REFRESH, GRANT_OTP],
        auth_method=auth_method,
    )


def authenticator(**kw: Any) -> SoftAuthenticator:
    return SoftAuthenticator(origin=ORIGIN, rp_id=RP_ID, **kw)


async def register(
    env: Harness,
    client: Creds,
    email: str = "new@example.com",
    name: str | None = "New User",
    **extra: Any,
) -> dict[str, Any]:
    """/passkey/register; `extra` adds top-level body fields (e.g. user_metadata)."""
    profile: dict[str, Any] = {"email": email}
    if name:
        profile["name"] = name
    resp = await env.http.post(
        "/passkey/register",
        json={"client_id": client.client_id, "user_profile": profile, **extra},
    )
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


async def challenge(env: Harness, client: Creds) -> dict[str, Any]:
    resp = await env.http.post("/passkey/challenge", json={"client_id": client.client_id})
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


async def exchange(
    env: Harness,
    client: Creds,
    auth_session: str,
    credential: dict[str, Any],
    **extra: Any,
) -> httpx.Response:
    body = {
        "grant_type": GRANT_WEBAUTHN,
        **client.post(),
        "auth_session": auth_session,
        "authn_response": credential,
        **extra,
    }
    return await env.http.post("/oauth/token", json=body)


async def signup(
    env: Harness, client: Creds, auth: SoftAuthenticator, email: str = "new@example.com"
) -> httpx.Response:
    started = await register(env, client, email)
    credential = auth.create(started["authn_params_public_key"])
    return await exchange(
        env, client, started["auth_session"], credential, scope="openid offline_access"
    )


async def login(env: Harness, client: Creds, auth: SoftAuthenticator, **kw: Any) -> httpx.Response:
    started = await challenge(env, client)
    return await exchange(
        env,
        client,
        started["auth_session"],
        auth.get(started["authn_params_public_key"], **kw),
        scope="openid offline_access",
    )

"""Helpers for the account page's tests: its sign-in endpoints under /account/api/ as the page's
script calls them (JSON bodies, the page's own origin), and the sign-ins they make."""

from __future__ import annotations

from typing import Any

import httpx

from .my_account_support import ME, SCOPES, Me
from .passkey_support import GRANT_WEBAUTHN, authenticator
from .support import (
    BASE_URL,
    EMAIL,
    GRANT_OTP,
    GRANT_PASSWORD,
    PASSWORD,
    Enrolled,
    Harness,
    assert_error,
    assert_tokens,
    audiences,
)
from .webauthn_authenticator import SoftAuthenticator

PAGE_CLIENT_ID = "twofold-account-page"
PAGE_HEADERS = {"Origin": BASE_URL}

__all__ = ["GRANT_WEBAUTHN", "ME", "SCOPES", "authenticator"]


async def page_call(
    env: Harness, endpoint: str, body: dict[str, Any], headers: dict[str, str] | None = None
) -> httpx.Response:
    """POST /account/api/<endpoint> as the page's script sends it."""
    return await env.http.post(
        f"/account/api/{endpoint}", json=body, headers={**PAGE_HEADERS, **(headers or {})}
    )


async def page_password(
    env: Harness, email: str = EMAIL, password: str = PASSWORD
) -> httpx.Response:
    body = {"grant_type": GRANT_PASSWORD, "username": email, "password": password}
    return await page_call(env, "token", body)


async def page_mfa_token(env: Harness, enrolled: Enrolled) -> str:
    resp = await page_password(env, enrolled.email, enrolled.password)
    body = assert_error(resp, 403, "mfa_required")
    return str(body["mfa_token"])


async def page_otp(env: Harness, mfa_token: str, code: str) -> httpx.Response:
    return await page_call(
        env, "token", {"grant_type": GRANT_OTP, "mfa_token": mfa_token, "otp": code}
    )


async def page_token(env: Harness, enrolled: Enrolled) -> str:
    """A My Account token through the page: the password, then the user's TOTP."""
    mfa_token = await page_mfa_token(env, enrolled)
    tokens = assert_tokens(await page_otp(env, mfa_token, env.code(enrolled.secret)))
    env.next_step()
    return str(tokens["access_token"])


async def page_passkey(env: Harness, auth: SoftAuthenticator, **get_options: Any) -> httpx.Response:
    """The page's passkey sign-in: its challenge, the authenticator's answer, its token call."""
    resp = await page_call(env, "passkey-challenge", {})
    assert resp.status_code == 200, resp.text
    started = resp.json()
    credential = auth.get(started["authn_params_public_key"], **get_options)
    body = {
        "grant_type": GRANT_WEBAUTHN,
        "auth_session": started["auth_session"],
        "authn_response": credential,
    }
    return await page_call(env, "token", body)


async def assert_page_token(env: Harness, resp: httpx.Response) -> dict[str, Any]:
    """A token from the page: a My Account token of the page's client and nothing more."""
    tokens = assert_tokens(resp)
    assert set(tokens) <= {"access_token", "token_type", "expires_in", "scope", "recovery_code"}
    assert tokens["scope"].split() == list(SCOPES)
    _, claims = await env.decode(tokens["access_token"])
    assert audiences(claims) == [ME]
    assert claims["azp"] == PAGE_CLIENT_ID
    return claims


async def add_passkey(me: Me) -> SoftAuthenticator:
    """A passkey of a new software authenticator, added through the My Account API."""
    auth = authenticator()
    started = await me.started({"type": "passkey"})
    credential = auth.create(started["authn_params_public_key"])
    await me.verified(
        started["id"], {"auth_session": started["auth_session"], "authn_response": credential}
    )
    return auth

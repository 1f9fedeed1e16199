"""Helpers for the My Account API tests: user tokens for https://{domain}/me/ (password, then the
TOTP factor; or the password alone for a user with no factor), calls to /me/v1 and the assertion
on its problem-details error shape."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from .support import DOMAIN, EMAIL, PASSWORD, Creds, Enrolled, Harness, assert_tokens

ME = f"https://{DOMAIN}/me/"
SCOPES = (
    "read:me:factors",
    "read:me:authentication_methods",
    "create:me:authentication_methods",
    "update:me:authentication_methods",
    "delete:me:authentication_methods",
)
ALL = " ".join(SCOPES)
PROBLEM_KEYS = {"type", "status", "title", "detail", "validation_errors"}


async def me_token(env: Harness, client: Creds, enrolled: Enrolled, scope: str = ALL) -> str:
    """A My Account token through the password and the user's TOTP factor."""
    mfa_token = await env.mfa_token(
        client, username=enrolled.email, password=enrolled.password, audience=ME, scope=scope
    )
    body = assert_tokens(await env.otp_grant(client, mfa_token, env.code(enrolled.secret)))
    env.next_step()
    return str(body["access_token"])


async def password_only_token(
    env: Harness, client: Creds, email: str = EMAIL, password: str = PASSWORD, scope: str = ALL
) -> str:
    """A My Account token with the password alone: what a user with no factor gets."""
    resp = await env.password(client, username=email, password=password, audience=ME, scope=scope)
    return str(assert_tokens(resp)["access_token"])


def path(method_id: str | None = None, *, verify: bool = False) -> str:
    out = "/me/v1/authentication-methods"
    if method_id is not None:
        out += "/" + quote(method_id, safe="")
    return out + ("/verify" if verify else "")


class Me:
    """Calls to /me/v1 with one bearer token."""

    def __init__(self, env: Harness, token: str | None) -> None:
        self.http = env.http
        self.token = token

    def _headers(self) -> dict[str, str]:
        return {} if self.token is None else {"Authorization": f"Bearer {self.token}"}

    async def factors(self) -> httpx.Response:
        return await self.http.get("/me/v1/factors", headers=self._headers())

    async def list(self, kind: str | None = None) -> httpx.Response:
        params = {} if kind is None else {"type": kind}
        return await self.http.get(path(), params=params, headers=self._headers())

    async def get(self, method_id: str) -> httpx.Response:
        return await self.http.get(path(method_id), headers=self._headers())

    async def update(self, method_id: str, body: dict[str, Any]) -> httpx.Response:
        return await self.http.patch(path(method_id), json=body, headers=self._headers())

    async def delete(self, method_id: str) -> httpx.Response:
        return await self.http.delete(path(method_id), headers=self._headers())

    async def enrol(self, body: dict[str, Any]) -> httpx.Response:
        return await self.http.post(path(), json=body, headers=self._headers())

    async def verify(self, method_id: str, body: dict[str, Any]) -> httpx.Response:
        return await self.http.post(
            path(method_id, verify=True), json=body, headers=self._headers()
        )

    async def started(self, body: dict[str, Any]) -> dict[str, Any]:
        """An enrolment that must start (202, with its Location)."""
        resp = await self.enrol(body)
        assert resp.status_code == 202, (resp.status_code, resp.text)
        started = dict(resp.json())
        assert resp.headers["location"] == f"https://{DOMAIN}{path(started['id'])}"
        return started

    async def verified(self, method_id: str, body: dict[str, Any]) -> dict[str, Any]:
        resp = await self.verify(method_id, body)
        assert resp.status_code == 201, (resp.status_code, resp.text)
        return dict(resp.json())

    async def methods(self) -> list[dict[str, Any]]:
        resp = await self.list()
        assert resp.status_code == 200, resp.text
        return list(resp.json()["authentication_methods"])


def assert_problem(
    resp: httpx.Response, status: int, *, pointer: str | None = None, number: int | None = None
) -> dict[str, Any]:
    """RFC 7807 problem details in the My Account API's shape, with this status."""
    assert resp.status_code == status, (resp.status_code, resp.text)
    assert resp.headers["content-type"].startswith("application/problem+json"), resp.headers
    assert resp.headers.get("cache-control") == "no-store", resp.headers
    body = resp.json()
    assert set(body) == PROBLEM_KEYS, body
    assert body["status"] == status, body
    assert body["type"].startswith(f"https://auth0.com/api-errors/A0E-{status}-"), body
    if number is not None:
        assert body["type"] == f"https://auth0.com/api-errors/A0E-{status}-{number:04d}", body
    for text in ("title", "detail"):
        assert isinstance(body[text], str), body
        assert body[text], body
    assert isinstance(body["validation_errors"], list), body
    if pointer is not None:
        assert [e["pointer"] for e in body["validation_errors"]] == [pointer], body
    return dict(body)


async def first_party(env: Harness) -> Creds:
    """A first-party app allowed the password and MFA grants (and the webauthn grant)."""
    from .passkey_support import GRANT_WEBAUTHN
    from .support import GRANT_OOB, GRANT_OTP, GRANT_PASSWORD, GRANT_RECOVERY

    return await env.client(
        grant_types=[GRANT_PASSWORD, GRANT_OTP, GRANT_OOB, GRANT_RECOVERY, GRANT_WEBAUTHN]
    )


async def signed_in(
    env: Harness, email: str = EMAIL, scope: str = ALL
) -> tuple[Creds, Enrolled, Me]:
    """A user with a confirmed TOTP factor, signed in to the My Account API (password + TOTP)."""
    client = await first_party(env)
    enrolled = await env.enrolled(client, email=email)
    return client, enrolled, Me(env, await me_token(env, client, enrolled, scope))

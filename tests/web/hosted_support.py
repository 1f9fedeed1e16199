"""A scripted browser for the hosted login, over the in-process app: it keeps cookies (httpx's
jar), reads each page's form fields and follows the pages one step at a time, so each test says
which page it expects next."""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from .support import Creds, Harness

CALLBACK = "https://app.example.com/callback"
APP_ORIGIN = "https://app.example.com"
MULTI_FACTOR = "http://schemas.openid.net/pape/policies/2007/06/multi-factor"
CODE_GRANTS = ("authorization_code", "refresh_token", "implicit")

_INPUT = re.compile(r'<input[^>]*name="(?P<name>[^"]+)"[^>]*value="(?P<value>[^"]*)"', re.S)


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def hidden(page: str, name: str) -> str:
    for match in _INPUT.finditer(page):
        if match["name"] == name:
            return html.unescape(match["value"])
    raise AssertionError(f"no input {name!r} on the page:\n{page[:2000]}")


def query_of(url: str) -> dict[str, str]:
    parts = urlsplit(url)
    raw = parts.fragment if parts.fragment and not parts.query else parts.query
    return {k: v[0] for k, v in parse_qs(raw).items()}


@dataclass
class Browser:
    env: Harness
    client: Creds
    verifier: str = ""
    last: httpx.Response | None = None
    params: dict[str, str] = field(default_factory=dict)

    @property
    def http(self) -> httpx.AsyncClient:
        return self.env.http

    async def authorize(self, **extra: Any) -> httpx.Response:
        self.verifier, challenge = pkce()
        params: dict[str, str] = {
            "client_id": self.client.client_id,
            "redirect_uri": CALLBACK,
            "response_type": "code",
            "scope": "openid profile email offline_access",
            "state": "st-" + secrets.token_hex(4),
            "nonce": "n-" + secrets.token_hex(4),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        params.update({k: v for k, v in extra.items() if v is not None})
        params = {k: v for k, v in params.items() if v != ""}
        self.params = params
        self.last = await self.http.get("/authorize?" + urlencode(params))
        return self.last

    async def get(self, location: str) -> httpx.Response:
        self.last = await self.http.get(location)
        return self.last

    async def post(self, location: str, data: dict[str, str]) -> httpx.Response:
        self.last = await self.http.post(location, data=data)
        return self.last

    async def page(self, expected_path: str) -> tuple[str, str]:
        """Follow the last redirect to one of our pages; answers (its URL, its HTML)."""
        assert self.last is not None
        assert self.last.status_code in (302, 303), (self.last.status_code, self.last.text[:500])
        location = self.last.headers["location"]
        assert urlsplit(location).path == expected_path, location
        resp = await self.get(location)
        assert resp.status_code == 200, resp.text[:500]
        return location, resp.text

    async def login(self, email: str, password: str) -> httpx.Response:
        url, page = await self.page("/u/login")
        data = {"csrf": hidden(page, "csrf"), "username": email, "password": password}
        return await self.post(url, data)

    async def mfa_code(self, code: str, *, remember: bool = False) -> httpx.Response:
        url, page = await self.page("/u/mfa")
        data = {"csrf": hidden(page, "csrf"), "action": "code", "code": code}
        if remember:
            data["remember"] = "1"
        return await self.post(url, data)

    def answer(self) -> dict[str, str]:
        """The app's answer from the last redirect (query or fragment)."""
        assert self.last is not None
        assert self.last.status_code in (302, 303), (self.last.status_code, self.last.text[:500])
        location = self.last.headers["location"]
        assert location.startswith(self.params.get("redirect_uri", CALLBACK)), location
        return query_of(location)

    async def exchange(self, code: str, **extra: str) -> httpx.Response:
        params = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.params.get("redirect_uri", CALLBACK),
            "code_verifier": self.verifier,
            **extra,
        }
        return await self.env.token(params, self.client)

    async def tokens(self) -> dict[str, Any]:
        answer = self.answer()
        assert answer.get("state") == self.params["state"], answer
        assert "code" in answer, answer
        resp = await self.exchange(answer["code"])
        assert resp.status_code == 200, resp.text
        body: dict[str, Any] = resp.json()
        return body


async def app_client(env: Harness, **urls: Any) -> Creds:
    urls.setdefault("callbacks", [CALLBACK])
    urls.setdefault("web_origins", [APP_ORIGIN])
    return await env.client(grant_types=CODE_GRANTS, **urls)

"""The account page (/account): the HTML and its headers, its static files, switching it off,
and its sign-in endpoints (/account/api/*) run for the page's built-in client: password alone,
password then TOTP or a recovery code, a passkey; what they refuse; the QR code of a TOTP
enrolment. The browser itself is driven in tests/browser."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

import httpx
import pytest

from .account_page_support import (
    GRANT_WEBAUTHN,
    PAGE_HEADERS,
    add_passkey,
    assert_page_token,
    page_call,
    page_mfa_token,
    page_otp,
    page_passkey,
    page_password,
    page_token,
)
from .my_account_support import Me, first_party
from .support import (
    BASE_URL,
    GRANT_OTP,
    GRANT_PASSWORD,
    GRANT_PASSWORD_REALM,
    GRANT_RECOVERY,
    Harness,
    assert_error,
    assert_no_store,
    assert_tokens,
)

pytestmark = pytest.mark.anyio
OTPAUTH = "otpauth://totp/Twofold:u%40example.com?secret=JBSWY3DPEHPK3PXP&issuer=Twofold"


class Markup(HTMLParser):
    """Every element with its attributes, and the text inside each <script>."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.script_text: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.script_text.append(data)


def markup(html: str) -> Markup:
    parsed = Markup()
    parsed.feed(html)
    return parsed


async def test_the_page_is_html_under_a_strict_content_security_policy(env: Harness) -> None:
    resp = await env.http.get("/account")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/html")
    assert_no_store(resp)
    policy = resp.headers["content-security-policy"]
    directives = {d.split()[0]: d.split()[1:] for d in policy.split("; ")}
    assert directives["default-src"] == ["'self'"]
    assert directives["script-src"] == ["'self'"]
    assert directives["style-src"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["object-src"] == ["'none'"]
    assert "unsafe" not in policy
    assert resp.headers["x-frame-options"] == "DENY"
    assert resp.headers["referrer-policy"] == "no-referrer"


async def test_the_html_has_no_inline_script_or_style(env: Harness) -> None:
    page = markup((await env.http.get("/account")).text)
    scripts = [attrs for tag, attrs in page.elements if tag == "script"]
    assert scripts, "the page loads its script"
    assert all(attrs.get("src") for attrs in scripts)
    assert not "".join(page.script_text).strip()
    assert not [tag for tag, _ in page.elements if tag == "style"]
    for tag, attrs in page.elements:
        assert "style" not in attrs, tag
        assert not [name for name in attrs if name.startswith("on")], (tag, attrs)


async def test_the_script_and_style_sheet_are_served_from_the_page(env: Harness) -> None:
    page = markup((await env.http.get("/account")).text)
    wanted = {
        "script": ("src", "javascript"),
        "link": ("href", "text/css"),
    }
    for tag, attrs in page.elements:
        if tag not in wanted:
            continue
        attribute, media = wanted[tag]
        url = str(attrs[attribute])
        # A URL that changes with the file's content: a cached old script never meets a new page.
        assert url.startswith("/account/static/")
        assert "?v=" in url
        resp = await env.http.get(url)
        assert resp.status_code == 200, url
        assert media in resp.headers["content-type"], (url, resp.headers)
    assert (await env.http.get("/account/static/nothing.js")).status_code == 404


async def test_switched_off_nothing_of_the_page_is_served(services: Any) -> None:
    from twofold.app import build_app

    services.settings = services.settings.model_copy(update={"account_page": False})
    transport = httpx.ASGITransport(app=build_app(services))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
        for path in ("/account", "/account/static/account.js"):
            assert (await http.get(path)).status_code == 404, path
        body = {"grant_type": GRANT_PASSWORD, "username": "u", "password": "p"}
        for endpoint in ("token", "challenge", "passkey-challenge", "qr"):
            resp = await http.post(f"/account/api/{endpoint}", json=body, headers=PAGE_HEADERS)
            assert resp.status_code == 404, endpoint


# ----------------------------------------------------------------------------- signing in


async def test_a_user_without_a_factor_signs_in_with_the_password(env: Harness) -> None:
    await env.user()
    claims = await assert_page_token(env, await page_password(env))
    assert "mfa" not in claims.get("amr", [])


async def test_a_user_with_a_factor_gives_the_password_then_the_code(env: Harness) -> None:
    enrolled = await env.enrolled(await first_party(env))
    mfa_token = await page_mfa_token(env, enrolled)
    claims = await assert_page_token(env, await page_otp(env, mfa_token, env.code(enrolled.secret)))
    assert "mfa" in claims["amr"]
    assert claims["sub"] == enrolled.user.user_id


async def test_the_challenge_runs_for_the_pages_mfa_token(env: Harness) -> None:
    enrolled = await env.enrolled(await first_party(env))
    mfa_token = await page_mfa_token(env, enrolled)
    resp = await page_call(env, "challenge", {"mfa_token": mfa_token, "challenge_type": "otp"})
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"challenge_type": "otp"}
    resp = await page_call(env, "challenge", {"mfa_token": mfa_token, "client_id": "x"})
    assert_error(resp, 400, "invalid_request", "Unknown parameter: client_id")


async def test_a_recovery_code_signs_in_and_the_new_one_is_shown(env: Harness) -> None:
    enrolled = await env.enrolled(await first_party(env))
    assert enrolled.recovery_code is not None
    mfa_token = await page_mfa_token(env, enrolled)
    body = {"grant_type": GRANT_RECOVERY, "mfa_token": mfa_token}
    resp = await page_call(env, "token", {**body, "recovery_code": enrolled.recovery_code})
    await assert_page_token(env, resp)
    assert resp.json()["recovery_code"] != enrolled.recovery_code


async def test_a_passkey_signs_in_on_its_own(env: Harness) -> None:
    enrolled = await env.enrolled(await first_party(env))
    auth = await add_passkey(Me(env, await page_token(env, enrolled)))
    claims = await assert_page_token(env, await page_passkey(env, auth))
    assert "mfa" in claims["amr"]
    assert claims["sub"] == enrolled.user.user_id


async def test_a_page_token_manages_the_users_methods(env: Harness) -> None:
    enrolled = await env.enrolled(await first_party(env))
    me = Me(env, await page_token(env, enrolled))
    methods = await me.methods()
    assert {m["type"] for m in methods} >= {"totp"}


# ----------------------------------------------------------------------------- refusals


@pytest.mark.parametrize("name", ["audience", "scope", "client_id", "client_secret", "realm"])
async def test_what_a_client_would_choose_is_refused(env: Harness, name: str) -> None:
    await env.user()
    resp = await page_call(
        env,
        "token",
        {"grant_type": GRANT_PASSWORD, "username": "u@example.com", "password": "x", name: "y"},
    )
    assert_error(resp, 400, "invalid_request", f"Unknown parameter: {name}")


async def test_a_passkey_response_cannot_bring_an_audience(env: Harness) -> None:
    body = {"grant_type": GRANT_WEBAUTHN, "auth_session": "s", "authn_response": {}}
    resp = await page_call(env, "token", {**body, "audience": "https://api.example.com"})
    assert_error(resp, 400, "invalid_request", "Unknown parameter: audience")


@pytest.mark.parametrize(
    "grant_type", ["client_credentials", "refresh_token", GRANT_PASSWORD_REALM, "implicit"]
)
async def test_only_the_sign_in_grants_are_run(env: Harness, grant_type: str) -> None:
    resp = await page_call(env, "token", {"grant_type": grant_type})
    assert_error(resp, 400, "unsupported_grant_type")


async def test_a_request_from_another_origin_is_refused(env: Harness) -> None:
    await env.user()
    body = {"grant_type": GRANT_PASSWORD, "username": "u@example.com", "password": "x"}
    for endpoint in ("token", "challenge", "passkey-challenge", "qr"):
        resp = await page_call(env, endpoint, body, headers={"Origin": "https://evil.example"})
        assert_error(resp, 403, "access_denied", "Cross-origin request refused")


async def test_only_json_is_read(env: Harness) -> None:
    body = {"grant_type": GRANT_PASSWORD, "username": "u@example.com", "password": "x"}
    resp = await env.http.post("/account/api/token", data=body, headers=PAGE_HEADERS)
    assert_error(resp, 415, "invalid_request")


async def test_a_wrong_code_is_the_token_endpoints_answer(env: Harness) -> None:
    enrolled = await env.enrolled(await first_party(env))
    mfa_token = await page_mfa_token(env, enrolled)
    resp = await page_call(
        env, "token", {"grant_type": GRANT_OTP, "mfa_token": mfa_token, "otp": "000000"}
    )
    assert_error(resp, 403, "invalid_grant")
    assert_tokens(await page_otp(env, mfa_token, env.code(enrolled.secret)))


# ----------------------------------------------------------------------------- the QR code


async def test_the_qr_code_is_drawn_for_a_signed_in_user(env: Harness) -> None:
    await env.user()
    token = (await page_password(env)).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    resp = await page_call(env, "qr", {"uri": OTPAUTH}, headers=headers)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "image/svg+xml"
    assert "sandbox" in resp.headers["content-security-policy"]
    assert resp.text.startswith("<svg")
    assert "<script" not in resp.text
    refused = await page_call(env, "qr", {"uri": "https://example.com/"}, headers=headers)
    assert_error(refused, 400, "invalid_request")


async def test_the_qr_code_needs_a_my_account_token(env: Harness) -> None:
    assert_error(await page_call(env, "qr", {"uri": OTPAUTH}), 401, "invalid_token")
    headers = {"Authorization": "Bearer not.a.token"}
    resp = await page_call(env, "qr", {"uri": OTPAUTH}, headers=headers)
    assert_error(resp, 401, "invalid_token")

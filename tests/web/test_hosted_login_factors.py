"""The hosted login's other factors over HTTP: a passkey on the login page (a first factor that
satisfies MFA) and on the MFA page (only the user's own), and an email code sent by a real SMTP
server when the MFA page shows it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from twofold.core.clock import FrozenClock

from .hosted_support import Browser, app_client, hidden
from .management_support import auth, mgmt_token
from .oob_support import SmtpSink, oob_settings
from .passkey_support import authenticator, passkey_client, signup
from .support import EMAIL, PASSWORD

pytestmark = pytest.mark.anyio


async def _passkey_user(env, email: str = "pk@example.com", password: str | None = None):
    key = authenticator()
    resp = await signup(env, await passkey_client(env), key, email)
    assert resp.status_code == 200, resp.text
    if password is not None:
        user = await env.admin.find_user(email)
        token = await mgmt_token(env)
        resp = await env.http.patch(
            f"/api/v2/users/{user.user_id}", json={"password": password}, headers=auth(token)
        )
        assert resp.status_code == 200, resp.text
    return key


async def _use_passkey(browser: Browser, url: str, page: str, auth: Any) -> Any:
    csrf = hidden(page, "csrf")
    options = await browser.http.post(
        "/u/passkey/options?" + url.split("?", 1)[1], data={"csrf": csrf}
    )
    assert options.status_code == 200, options.text
    started = options.json()
    credential = auth.get(started["authn_params_public_key"])
    return await browser.post(
        "/u/passkey?" + url.split("?", 1)[1],
        {"csrf": csrf, "auth_session": started["auth_session"], "response": json.dumps(credential)},
    )


async def test_a_passkey_on_the_login_page_signs_in_with_mfa(env):
    auth = await _passkey_user(env)
    browser = Browser(env, await app_client(env))
    await browser.authorize()
    url, page = await browser.page("/u/login")
    await _use_passkey(browser, url, page, auth)
    tokens = await browser.tokens()
    _, claims = await env.decode(tokens["id_token"])
    assert "mfa" in claims["amr"]
    assert claims["amr"][0] in ("hwk", "swk")
    assert "pwd" not in claims["amr"]


async def test_the_options_need_the_form_csrf_value(env):
    browser = Browser(env, await app_client(env))
    await browser.authorize()
    url, _ = await browser.page("/u/login")
    resp = await browser.http.post("/u/passkey/options?" + url.split("?", 1)[1], data={})
    assert resp.status_code == 403


async def test_a_passkey_is_the_second_factor_after_the_password(env):
    auth = await _passkey_user(env, password=PASSWORD)
    browser = Browser(env, await app_client(env))
    await browser.authorize()
    await browser.login("pk@example.com", PASSWORD)
    url, page = await browser.page("/u/mfa")
    assert 'id="passkey-button"' in page
    await _use_passkey(browser, url, page, auth)
    tokens = await browser.tokens()
    _, claims = await env.decode(tokens["id_token"])
    assert claims["amr"][0] == "pwd"
    assert "mfa" in claims["amr"]
    assert claims["acr"] == "http://schemas.openid.net/pape/policies/2007/06/multi-factor"


async def test_another_users_passkey_is_no_second_factor(env):
    await _passkey_user(env, password=PASSWORD)
    someone_else = await _passkey_user(env, "other@example.com")
    browser = Browser(env, await app_client(env))
    await browser.authorize()
    await browser.login("pk@example.com", PASSWORD)
    url, page = await browser.page("/u/mfa")
    resp = await _use_passkey(browser, url, page, someone_else)
    assert resp.status_code == 400
    assert "another account" in resp.text
    assert "location" not in resp.headers


# ----- email


@pytest.fixture
async def services(tmp_path: Any, clock: FrozenClock, smtp: SmtpSink) -> AsyncIterator[Any]:
    from twofold.app import create_services

    settings = oob_settings(tmp_path, smtp_url=smtp.url, email_from="Twofold <no-reply@t.test>")
    svc = await create_services(settings, clock=clock)
    try:
        await svc.admin.update_tenant(
            mfa_policy="always", enabled_factors={"otp", "email", "recovery-code"}
        )
        yield svc
    finally:
        await svc.close()


async def test_an_email_code_is_sent_once_and_signs_in(env, smtp):
    # A verified email is an email factor of its own (the implicit authenticator).
    await env.user()
    browser = Browser(env, await app_client(env))
    await browser.authorize()
    await browser.login(EMAIL, PASSWORD)
    url, page = await browser.page("/u/mfa")
    assert "Enter the code we sent to" in page
    [_] = smtp.messages_to(EMAIL)
    # Showing the page again sends nothing more; "send a new code" does.
    page = (await browser.get(url)).text
    assert len(smtp.messages_to(EMAIL)) == 1
    code = smtp.last_code(EMAIL)
    assert code not in page
    await browser.post(url, {"csrf": hidden(page, "csrf"), "action": "code", "code": code})
    tokens = await browser.tokens()
    _, claims = await env.decode(tokens["id_token"])
    assert "mfa" in claims["amr"]
    assert "otp" in claims["amr"]


async def test_a_passkey_can_be_the_first_enrolment(env):
    # Unverified: in this module a verified email would be a factor already.
    await env.admin.create_user("new@example.com", PASSWORD, email_verified=False)
    key = authenticator()
    browser = Browser(env, await app_client(env))
    await browser.authorize()
    await browser.login("new@example.com", PASSWORD)
    url, page = await browser.page("/u/mfa-enroll")
    assert 'id="passkey-enroll"' in page
    query = url.split("?", 1)[1]
    csrf = hidden(page, "csrf")
    options = await browser.http.post("/u/passkey/enroll-options?" + query, data={"csrf": csrf})
    assert options.status_code == 200, options.text
    started = options.json()
    credential = key.create(started["authn_params_public_key"])
    await browser.post(
        "/u/passkey/enroll?" + query,
        {"csrf": csrf, "auth_session": started["auth_session"], "response": json.dumps(credential)},
    )
    tokens = await browser.tokens()
    _, claims = await env.decode(tokens["id_token"])
    assert claims["amr"][0] == "pwd"
    assert "mfa" in claims["amr"]
    # Enrolled for real: the next sign-in asks for that passkey.
    env.http.cookies.delete("twofold_session")
    await browser.authorize()
    await browser.login("new@example.com", PASSWORD)
    url, page = await browser.page("/u/mfa")
    await _use_passkey(browser, url, page, key)
    assert (await browser.tokens())["id_token"]

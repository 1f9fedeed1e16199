"""The hosted login over HTTP: /authorize, the login and MFA pages, the SSO session and the
answers to the app, as a browser without JavaScript walks them."""

from __future__ import annotations

import html
from urllib.parse import unquote, urlsplit

import pytest

from .hosted_support import (
    APP_ORIGIN,
    CALLBACK,
    MULTI_FACTOR,
    Browser,
    app_client,
    hidden,
    query_of,
)
from .management_support import auth, mgmt_token
from .support import EMAIL, PASSWORD

pytestmark = pytest.mark.anyio


def _refused_page(resp):
    assert resp.status_code == 400, resp.text[:300]
    assert "location" not in resp.headers
    assert resp.headers["content-type"].startswith("text/html")
    assert 'id="error"' in resp.text
    assert "frame-ancestors 'none'" in resp.headers["content-security-policy"]


@pytest.fixture
async def app(env):
    return await app_client(env)


@pytest.fixture
async def browser(env, app):
    return Browser(env, app)


# ----- requests refused on a page, never redirected


async def test_unknown_client_is_a_page(env, browser):
    browser.client = type(browser.client)("nope", None, "none")
    _refused_page(await browser.authorize())


async def test_unregistered_redirect_uri_is_a_page(browser):
    resp = await browser.authorize(redirect_uri="https://evil.example/callback")
    _refused_page(resp)
    assert "evil.example" not in resp.headers.get("location", "")


async def test_web_message_needs_a_registered_origin(env):
    client = await app_client(env, web_origins=[])
    _refused_page(await Browser(env, client).authorize(response_mode="web_message"))


async def test_duplicate_parameter_is_a_page(env, app):
    resp = await env.http.get(
        f"/authorize?client_id={app.client_id}&client_id={app.client_id}&response_type=code"
    )
    _refused_page(resp)


# ----- errors answered to the app, with state


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"response_type": ""}, "invalid_request"),
        ({"prompt": "none login"}, "invalid_request"),
        ({"max_age": "soon"}, "invalid_request"),
    ],
)
async def test_bad_request_answers_the_app_with_state(browser, extra, error):
    resp = await browser.authorize(**extra)
    assert resp.status_code == 302, resp.text[:300]
    answer = query_of(resp.headers["location"])
    assert resp.headers["location"].startswith(CALLBACK + "?")
    assert answer["error"] == error
    assert answer["state"] == browser.params["state"]
    assert answer["error_description"]


async def test_public_client_must_send_pkce(env):
    client = await app_client(env, auth_method="none")
    resp = await Browser(env, client).authorize(code_challenge="", code_challenge_method="")
    answer = query_of(resp.headers["location"])
    assert answer["error"] == "invalid_request"
    assert "code_challenge" in answer["error_description"]


async def test_client_without_the_grant_is_refused(env):
    client = await env.client(grant_types=["password"], callbacks=[CALLBACK])
    resp = await Browser(env, client).authorize()
    assert query_of(resp.headers["location"])["error"] == "unauthorized_client"


# ----- signing in


async def test_password_then_totp_gives_a_code_and_tokens(env, browser, app):
    enrolled = await env.enrolled(app_creds := await env.client())
    del app_creds
    await browser.authorize()
    await browser.login(enrolled.email, enrolled.password)
    await browser.mfa_code(env.code(enrolled.secret))
    tokens = await browser.tokens()
    _, claims = await env.decode(tokens["id_token"])
    assert claims["sub"] == enrolled.user.user_id
    assert claims["aud"] == app.client_id
    assert claims["nonce"] == browser.params["nonce"]
    assert claims["amr"][:1] == ["pwd"]
    assert "mfa" in claims["amr"]
    assert "otp" in claims["amr"]
    assert claims["acr"] == MULTI_FACTOR
    assert claims["auth_time"] == int(env.clock.now())
    assert isinstance(claims["sid"], str)
    assert claims["sid"]
    assert tokens["refresh_token"]


async def test_wrong_password_stays_on_the_page(env, browser):
    await env.user()
    await browser.authorize()
    resp = await browser.login(EMAIL, "wrong password")
    assert resp.status_code == 400
    assert "location" not in resp.headers
    assert "Wrong email or password" in resp.text
    assert "wrong password" not in resp.text


async def test_wrong_code_stays_on_the_page_and_costs_an_attempt(env, browser):
    enrolled = await env.enrolled(await env.client())
    await browser.authorize()
    await browser.login(enrolled.email, enrolled.password)
    url, page = await browser.page("/u/mfa")
    for _ in range(10):
        resp = await browser.post(
            url, {"csrf": hidden(page, "csrf"), "action": "code", "code": "000000"}
        )
        assert resp.status_code == 400
    resp = await browser.post(
        url, {"csrf": hidden(page, "csrf"), "action": "code", "code": env.code(enrolled.secret)}
    )
    # The bucket is empty: even the right code waits.
    assert resp.status_code == 400
    assert "Too many attempts" in resp.text


async def test_a_form_without_its_csrf_value_is_refused(env, browser):
    await env.user()
    await browser.authorize()
    url, _ = await browser.page("/u/login")
    resp = await browser.post(url, {"username": EMAIL, "password": PASSWORD})
    assert resp.status_code == 403
    assert "location" not in resp.headers


async def test_a_transaction_is_bound_to_its_browser(env, browser):
    await browser.authorize()
    location = browser.last.headers["location"]
    env.http.cookies.clear()
    resp = await env.http.get(location)
    assert resp.status_code == 400
    assert "expired" in resp.text


async def test_a_finished_transaction_restarts_the_request(env, browser):
    await env.tenant(mfa_policy="never")
    await env.user()
    await browser.authorize()
    url, page = await browser.page("/u/login")
    data = {"csrf": hidden(page, "csrf"), "username": EMAIL, "password": PASSWORD}
    first = await browser.post(url, data)
    assert "code" in query_of(first.headers["location"])
    # The back button and the same form again: the request starts over, and the session
    # answers it with a new code.
    again = await browser.post(url, data)
    assert again.status_code == 303
    assert again.headers["location"].startswith("/authorize?")
    resp = await browser.get(again.headers["location"])
    assert resp.status_code == 302
    assert "code" in query_of(resp.headers["location"])


async def test_two_tabs_sign_in_on_their_own(env, browser, app):
    await env.tenant(mfa_policy="never")
    await env.user()
    await browser.authorize()
    first_tab = browser.last.headers["location"]
    first_params = browser.params
    other = Browser(env, app)
    await other.authorize()
    assert other.last.headers["location"] != first_tab
    await other.login(EMAIL, PASSWORD)
    assert (await other.tokens())["id_token"]
    # The first tab's page still works; its answer carries its own state.
    browser.last = await env.http.get(first_tab)
    page = browser.last.text
    resp = await browser.post(
        first_tab, {"csrf": hidden(page, "csrf"), "username": EMAIL, "password": PASSWORD}
    )
    browser.params = first_params
    assert query_of(resp.headers["location"])["state"] == first_params["state"]


# ----- the SSO session


async def test_prompt_none_without_a_session_is_login_required(browser):
    resp = await browser.authorize(prompt="none")
    answer = query_of(resp.headers["location"])
    assert answer["error"] == "login_required"
    assert answer["state"] == browser.params["state"]


async def test_the_session_answers_the_next_request(env, browser):
    enrolled = await env.enrolled(await env.client())
    await browser.authorize()
    await browser.login(enrolled.email, enrolled.password)
    await browser.mfa_code(env.code(enrolled.secret))
    first = await browser.tokens()
    _, first_claims = await env.decode(first["id_token"])
    env.clock.advance(60)
    resp = await browser.authorize(prompt="none")
    assert resp.status_code == 302
    tokens = await browser.tokens()
    _, claims = await env.decode(tokens["id_token"])
    assert claims["sid"] == first_claims["sid"]
    assert claims["auth_time"] == first_claims["auth_time"]


async def test_max_age_asks_for_the_password_again(env, browser):
    await env.tenant(mfa_policy="never")
    await env.user()
    await browser.authorize()
    await browser.login(EMAIL, PASSWORD)
    await browser.tokens()
    env.clock.advance(120)
    resp = await browser.authorize(max_age="60")
    assert urlsplit(resp.headers["location"]).path == "/u/login"
    resp = await browser.authorize(max_age="60", prompt="none")
    assert query_of(resp.headers["location"])["error"] == "login_required"


async def test_prompt_login_asks_again(env, browser):
    await env.tenant(mfa_policy="never")
    await env.user()
    await browser.authorize()
    await browser.login(EMAIL, PASSWORD)
    await browser.tokens()
    resp = await browser.authorize(prompt="login")
    assert urlsplit(resp.headers["location"]).path == "/u/login"


async def test_step_up_shows_only_the_mfa_page(env, browser, app):
    await env.tenant(mfa_policy="never")
    setup = await env.client()
    await env.tenant(mfa_policy="always")
    enrolled = await env.enrolled(setup)
    await env.tenant(mfa_policy="never")
    await browser.authorize()
    await browser.login(enrolled.email, enrolled.password)
    plain = await browser.tokens()
    _, claims = await env.decode(plain["id_token"])
    assert claims["amr"] == ["pwd"]
    assert "acr" not in claims

    silent = await browser.authorize(prompt="none", acr_values=MULTI_FACTOR)
    answer = query_of(silent.headers["location"])
    assert answer["error"] == "login_required"
    assert answer["error_description"] == "Multifactor authentication required"

    await browser.authorize(acr_values=MULTI_FACTOR)
    await browser.mfa_code(env.code(enrolled.secret))
    stepped = await browser.tokens()
    _, claims = await env.decode(stepped["id_token"])
    assert "mfa" in claims["amr"]
    assert claims["acr"] == MULTI_FACTOR


async def test_remembered_browser_skips_mfa_until_invalidated(env, browser, app):
    enrolled = await env.enrolled(await env.client())
    await browser.authorize()
    await browser.login(enrolled.email, enrolled.password)
    await browser.mfa_code(env.code(enrolled.secret), remember=True)
    await browser.tokens()
    env.http.cookies.delete("twofold_session")

    await browser.authorize()
    await browser.login(enrolled.email, enrolled.password)
    # No MFA page: straight back to the app, and the tokens count as MFA tokens (a refresh
    # goes on working under the "always" policy), though no factor ran now.
    tokens = await browser.tokens()
    _, claims = await env.decode(tokens["id_token"])
    assert claims["amr"] == ["pwd", "mfa"]
    assert "acr" not in claims
    refreshed = await env.token(
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}, browser.client
    )
    assert refreshed.status_code == 200, refreshed.text

    token = await mgmt_token(env)
    path = f"/api/v2/users/{enrolled.user.user_id}/multifactor/actions/invalidate-remember-browser"
    assert (await env.http.post(path, headers=auth(token))).status_code == 204
    env.http.cookies.delete("twofold_session")
    env.clock.advance(1)
    await browser.authorize()
    await browser.login(enrolled.email, enrolled.password)
    await browser.page("/u/mfa")


# ----- first enrolment and recovery codes


async def test_first_enrolment_shows_the_recovery_code_once(env, browser):
    await env.user()
    await browser.authorize()
    await browser.login(EMAIL, PASSWORD)
    url, page = await browser.page("/u/mfa-enroll")
    assert 'id="totp-qr"' in page
    # The picture is a standalone SVG document: an <img> shows nothing without its namespace.
    src = html.unescape(page.split('id="totp-qr" class="qr" alt="QR code" src="')[1].split('"')[0])
    assert src.startswith("data:image/svg+xml")
    assert "http://www.w3.org/2000/svg" in unquote(src)
    secret = page.split('id="totp-secret" class="secret">')[1].split("<")[0]
    resp = await browser.post(
        url, {"csrf": hidden(page, "csrf"), "action": "code", "code": env.code(secret)}
    )
    url, page = await browser.page("/u/mfa-enroll")
    code = page.split('id="recovery-code" class="secret">')[1].split("<")[0]
    assert len(code.strip()) >= 24
    resp = await browser.post(url, {"csrf": hidden(page, "csrf"), "action": "recovery-shown"})
    assert (await browser.tokens())["id_token"]
    del resp
    # Enrolled for real: the password grant now needs the second factor.
    assert (await env.password(await env.client())).status_code == 403


async def test_recovery_code_signs_in_and_shows_the_next_one(env, browser):
    enrolled = await env.enrolled(await env.client())
    await browser.authorize()
    await browser.login(enrolled.email, enrolled.password)
    url, _ = await browser.page("/u/mfa")
    resp = await browser.get(url + "&factor=recovery-code")
    page = resp.text
    resp = await browser.post(
        url, {"csrf": hidden(page, "csrf"), "action": "code", "code": enrolled.recovery_code}
    )
    url, page = await browser.page("/u/mfa")
    fresh = page.split('id="recovery-code" class="secret">')[1].split("<")[0]
    assert fresh
    assert fresh != enrolled.recovery_code
    await browser.post(url, {"csrf": hidden(page, "csrf"), "action": "recovery-shown"})
    tokens = await browser.tokens()
    _, claims = await env.decode(tokens["id_token"])
    assert "mfa" in claims["amr"]


async def test_blocked_user_is_answered_to_the_app(env, browser):
    await env.tenant(mfa_policy="never")
    user = await env.user()
    token = await mgmt_token(env)
    resp = await env.http.patch(
        f"/api/v2/users/{user.user_id}", json={"blocked": True}, headers=auth(token)
    )
    assert resp.status_code == 200, resp.text
    await browser.authorize()
    await browser.login(EMAIL, PASSWORD)
    answer = browser.answer()
    assert answer["error"] == "unauthorized"
    assert answer["error_description"] == "user is blocked"


# ----- response modes


async def test_form_post_posts_to_the_redirect_uri_only(env, browser):
    await env.tenant(mfa_policy="never")
    await env.user()
    await browser.authorize(response_mode="form_post")
    url, page = await browser.page("/u/login")
    resp = await browser.post(
        url, {"csrf": hidden(page, "csrf"), "username": EMAIL, "password": PASSWORD}
    )
    assert resp.status_code == 200
    assert f'action="{CALLBACK}"' in resp.text
    assert hidden(resp.text, "state") == browser.params["state"]
    assert hidden(resp.text, "code")
    csp = resp.headers["content-security-policy"]
    assert f"form-action 'self' {APP_ORIGIN}" in csp
    assert "<script>" not in resp.text


async def test_web_message_posts_to_the_app_origin_and_may_be_framed_by_it(env, browser):
    await env.tenant(mfa_policy="never")
    await env.user()
    await browser.authorize()
    await browser.login(EMAIL, PASSWORD)
    await browser.tokens()
    resp = await browser.authorize(response_mode="web_message", prompt="none")
    assert resp.status_code == 200
    assert f'data-origin="{APP_ORIGIN}"' in resp.text
    assert f"frame-ancestors {APP_ORIGIN}" in resp.headers["content-security-policy"]
    assert "x-frame-options" not in resp.headers


async def test_id_token_form_post_carries_the_nonce(env, browser):
    await env.tenant(mfa_policy="never")
    await env.user()
    await browser.authorize(
        response_type="id_token",
        response_mode="form_post",
        code_challenge="",
        code_challenge_method="",
    )
    url, page = await browser.page("/u/login")
    resp = await browser.post(
        url, {"csrf": hidden(page, "csrf"), "username": EMAIL, "password": PASSWORD}
    )
    _, claims = await env.decode(hidden(resp.text, "id_token"))
    assert claims["nonce"] == browser.params["nonce"]
    assert claims["aud"] == browser.client.client_id


# ----- across features


async def test_a_session_of_a_user_blocked_since_answers_user_is_blocked(env, browser):
    await env.tenant(mfa_policy="never")
    user = await env.user()
    await browser.authorize()
    await browser.login(EMAIL, PASSWORD)
    tokens = await browser.tokens()
    token = await mgmt_token(env)
    resp = await env.http.patch(
        f"/api/v2/users/{user.user_id}", json={"blocked": True}, headers=auth(token)
    )
    assert resp.status_code == 200, resp.text
    answer = query_of((await browser.authorize(prompt="none")).headers["location"])
    assert answer["error"] == "unauthorized"
    assert answer["error_description"] == "user is blocked"
    # Nor does the refresh token the session's code gave go on working: blocking revoked it,
    # in the words the SDKs look for.
    refreshed = await env.token(
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}, browser.client
    )
    assert refreshed.status_code == 403
    assert refreshed.json()["error"] == "invalid_grant"
    assert "invalid refresh token" in refreshed.json()["error_description"]


async def test_a_deleted_users_session_is_no_session(env, browser):
    await env.tenant(mfa_policy="never")
    user = await env.user()
    await browser.authorize()
    await browser.login(EMAIL, PASSWORD)
    await browser.tokens()
    token = await mgmt_token(env)
    resp = await env.http.delete(f"/api/v2/users/{user.user_id}", headers=auth(token))
    assert resp.status_code == 204, resp.text
    answer = query_of((await browser.authorize(prompt="none")).headers["location"])
    assert answer["error"] == "login_required"


async def test_the_login_client_cannot_be_used_at_the_token_endpoint(env):
    enrolled = await env.enrolled(await env.client())
    resp = await env.token(
        {
            "grant_type": "http://auth0.com/oauth/grant-type/mfa-otp",
            "client_id": "twofold-hosted-login",
            "mfa_token": "x" * 43,
            "otp": env.code(enrolled.secret),
        }
    )
    assert resp.status_code == 401
    assert resp.json()["error"] == "invalid_client"


async def test_a_session_started_for_one_app_signs_in_to_another_with_its_own_code(env, browser):
    await env.tenant(mfa_policy="never")
    await env.user()
    await browser.authorize()
    await browser.login(EMAIL, PASSWORD)
    first = await browser.tokens()
    other = Browser(env, await app_client(env))
    await other.authorize(prompt="none")
    second = await other.tokens()
    _, a = await env.decode(first["id_token"])
    _, b = await env.decode(second["id_token"])
    assert a["sid"] == b["sid"]
    assert (a["aud"], b["aud"]) == (browser.client.client_id, other.client.client_id)
    # Each app's code is its own: the first app cannot redeem the second's.
    await other.authorize(prompt="none")
    code = other.answer()["code"]
    resp = await browser.exchange(code)
    assert resp.status_code == 403
    assert resp.json()["error"] == "invalid_grant"


async def test_an_unknown_factor_in_the_link_is_a_message_not_a_crash(env, browser):
    enrolled = await env.enrolled(await env.client())
    await browser.authorize()
    await browser.login(enrolled.email, enrolled.password)
    url, _ = await browser.page("/u/mfa")
    resp = await browser.get(url + "&factor=bogus")
    assert resp.status_code == 200
    assert "Choose one of the methods shown." in resp.text

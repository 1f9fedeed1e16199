"""auth0-spa-js (pinned in sdk/package.json) in a static page on https://app.example.test
against Twofold's hosted login on https://auth.twofold.test, in Debian's Chromium: the redirect
login with PKCE, a silent token through the hidden iframe after a reload (and its refusal when
the browser blocks third-party cookies), refresh tokens that rotate, the popup, max_age, a
step-up to multi-factor and the logout. Screenshots of each page: test-output/browser/<test>/."""

from __future__ import annotations

import base64
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, Playwright, Request, expect

from e2e._otp import current_step
from e2e._server import User

from . import _account as account
from . import _hosted as hosted
from . import _spa as spa
from ._fixtures import AuthSite
from ._sites import MULTI_FACTOR_ACR, launch
from ._static import SpaSite
from .conftest import CHROMIUM, CHROMIUM_ARGS

pytestmark = [pytest.mark.e2e, pytest.mark.browser]
Shots = hosted.Shots


@pytest.fixture(scope="module")
def app(auth_site: AuthSite, spa_site: SpaSite) -> spa.Spa:
    client = auth_site.server.spa_client(
        "Example SPA",
        callbacks=[spa_site.url],
        logout_urls=[spa_site.url],
        web_origins=[spa_site.origin],
    )
    return spa.Spa(site=spa_site, auth=auth_site, client=client)


@pytest.fixture
def to_twofold(page: Page) -> list[Request]:
    """Every request the browser sends to Twofold, from any tab or frame."""
    return hosted.record_requests(page)


def authorizes(seen: list[Request]) -> list[Request]:
    return [r for r in seen if urlsplit(r.url).path == "/authorize"]


query = hosted.query


def log_in(app: spa.Spa, page: Page, email: str, password: str, shots: Shots) -> None:
    """From the app: "Log in", the login page, back in the app as that user."""
    app.open(page)
    shots("app-signed-out", page)
    page.click("#login")
    hosted.login_page(page, shots)
    page.fill("#username", email)
    page.fill("#password", password)
    page.click("#login-submit")
    spa.ready(page)
    spa.signed_in_as(page, email)
    shots("app-signed-in", page)


def test_redirect_login_with_pkce_then_get_user(
    app: spa.Spa, page: Page, shots: Shots, to_twofold: list[Request]
) -> None:
    alice = app.auth.users["alice"]
    app.configure()
    assert app.open(page) is None
    expect(page.locator("#status")).to_have_text("Signed out")
    shots("app-signed-out")

    page.click("#login")
    state = hosted.login_page(page, shots)
    sent = query(authorizes(to_twofold)[0])
    assert sent["client_id"] == app.client.client_id
    assert sent["redirect_uri"] == app.site.url
    assert sent["response_type"] == "code"
    assert sent["response_mode"] == "query"
    assert sent["code_challenge_method"] == "S256"
    assert len(base64.urlsafe_b64decode(sent["code_challenge"] + "=")) == 32
    assert sent["state"]
    assert sent["nonce"]
    assert set(sent["scope"].split()) >= {"openid", "profile", "email"}
    assert state, "the login page names its transaction"

    page.fill("#username", alice.email)
    page.fill("#password", alice.password)
    page.click("#login-submit")
    spa.ready(page)
    found = spa.signed_in_as(page, alice.email)
    assert found["sub"] == alice.user_id
    shots("app-signed-in")
    claims = spa.claims(page)
    assert claims["iss"] == f"{app.auth.server.issuer}"
    assert claims["aud"] == app.client.client_id
    assert claims["nonce"] == sent["nonce"]
    assert "pwd" in claims["amr"]
    assert claims["sid"]
    # The code was redeemed with the verifier whose S256 hash the app sent.
    assert "code" not in urlsplit(page.url).query


def test_silent_token_through_the_iframe_after_a_reload(
    app: spa.Spa, page: Page, shots: Shots, to_twofold: list[Request]
) -> None:
    bob = app.auth.users["bob"]
    app.configure()
    log_in(app, page, bob.email, bob.password, shots)
    before = len(authorizes(to_twofold))

    # The tokens were in memory only: after a reload the SDK asks Twofold in a hidden iframe,
    # where Twofold's session cookie is a third-party cookie.
    page.reload()
    restored = spa.ready(page)
    assert restored is not None
    assert restored["email"] == bob.email
    answer = spa.token(page, cacheMode="off")
    assert answer.get("access_token"), answer
    assert answer["id_token"]
    silent = [query(r) for r in authorizes(to_twofold)[before:] if r.frame != page.main_frame]
    assert silent, "no /authorize request came from an iframe"
    assert all(q["prompt"] == "none" and q["response_mode"] == "web_message" for q in silent)
    expect(page.locator("#error")).to_be_empty()
    shots("after-reload")


def test_blocked_third_party_cookies_mean_login_required(
    app: spa.Spa,
    playwright: Playwright,
    browser_home: Path,
    tmp_path: Path,
    shots: Shots,
) -> None:
    carol = app.auth.users["carol"]
    app.configure()
    blocked = launch(
        playwright,
        chromium=CHROMIUM,
        args=CHROMIUM_ARGS,
        home=browser_home,
        profile=tmp_path / "blocked-profile",
        block_third_party_cookies=True,
    )
    try:
        page = blocked.new_page()
        # The redirect login is first-party all the way: it works.
        log_in(app, page, carol.email, carol.password, shots)
        page.reload()
        assert spa.ready(page) is None, "the session came back without Twofold's cookie"
        answer = spa.token(page, cacheMode="off")
        assert answer["error"] == "login_required", answer
        shots("login-required", page)
    finally:
        blocked.close()


def test_refresh_tokens_rotate(
    app: spa.Spa, page: Page, shots: Shots, to_twofold: list[Request]
) -> None:
    alice = app.auth.users["alice"]
    app.configure(useRefreshTokens=True, cacheLocation="localstorage")
    refreshes: list[Request] = []
    page.on(
        "request",
        lambda r: (
            refreshes.append(r)
            if r.url.endswith("/oauth/token") and "refresh_token" in (r.post_data or "")
            else None
        ),
    )
    log_in(app, page, alice.email, alice.password, shots)
    assert "offline_access" in query(authorizes(to_twofold)[0])["scope"].split()
    first = stored_refresh_token(page)

    renewed = spa.token(page, cacheMode="off")
    assert renewed.get("access_token"), renewed
    second = stored_refresh_token(page)
    assert second != first, "the refresh token did not rotate"
    assert len(refreshes) == 1
    assert refreshes[0].all_headers()["origin"] == app.site.origin

    again = spa.token(page, cacheMode="off")
    assert again.get("access_token"), again
    assert stored_refresh_token(page) not in (first, second)
    shots("refreshed")

    # The first refresh token was used: sending it again is refused.
    with app.auth.http() as http:
        reused = http.post(
            "/oauth/token",
            data={
                "grant_type": "refresh_token",
                "client_id": app.client.client_id,
                "refresh_token": first,
            },
        )
    assert reused.status_code in (400, 403), reused.text
    assert reused.json()["error"] == "invalid_grant"


def stored_refresh_token(page: Page) -> str:
    """The refresh token auth0-spa-js keeps in localStorage (cacheLocation: localstorage)."""
    found = page.evaluate(
        """() => Object.keys(localStorage)
            .filter(k => k.startsWith('@@auth0spajs@@') && !k.endsWith('@@user@@'))
            .map(k => JSON.parse(localStorage.getItem(k)).body)
            .map(body => body && body.refresh_token)
            .filter(Boolean)"""
    )
    assert isinstance(found, list)
    assert len(found) == 1, found
    return str(found[0])


def test_login_with_popup(app: spa.Spa, page: Page, shots: Shots) -> None:
    bob = app.auth.users["bob"]
    app.configure()
    app.open(page)
    with page.expect_popup() as opened:
        page.click("#popup")
    popup = opened.value
    hosted.sign_in(popup, bob, shots, "popup-login")
    popup.wait_for_event("close")
    spa.signed_in_as(page, bob.email)
    assert urlsplit(page.url).path == "/"
    shots("app-signed-in")


def test_max_age_asks_for_the_password_again(
    app: spa.Spa, page: Page, shots: Shots, to_twofold: list[Request]
) -> None:
    carol = app.auth.users["carol"]
    max_age = 3
    app.configure(authorization={"max_age": max_age})
    log_in(app, page, carol.email, carol.password, shots)
    signed_in_at = spa.claims(page)["auth_time"]
    assert abs(signed_in_at - time.time()) < 30
    assert query(authorizes(to_twofold)[0])["max_age"] == str(max_age)

    time.sleep(max_age + 1.5)
    answer = spa.token(page, cacheMode="off")
    assert answer["error"] == "login_required", answer
    spa.start_login(page)
    hosted.sign_in(page, carol, shots, "login-again")
    spa.ready(page)
    spa.signed_in_as(page, carol.email)
    assert spa.claims(page)["auth_time"] > signed_in_at


def test_step_up_shows_only_the_mfa_page(
    app: spa.Spa, page: Page, shots: Shots, to_twofold: list[Request], fresh_user: User
) -> None:
    alice = fresh_user
    device = hosted.Totp(account.give_totp(app.auth, alice), last_step=current_step() - 1)
    app.configure()
    log_in(app, page, alice.email, alice.password, shots)
    first = spa.claims(page)
    assert "mfa" not in first["amr"]
    assert first.get("acr") != MULTI_FACTOR_ACR

    pages: list[str] = []
    page.on("framenavigated", lambda frame: pages.append(frame.url))
    spa.start_login(page, acr_values=MULTI_FACTOR_ACR)
    hosted.mfa_page(page, shots, "step-up")
    hosted.give_code(page, device.code())
    spa.ready(page)
    spa.signed_in_as(page, alice.email)
    stepped = spa.claims(page)
    assert stepped["acr"] == MULTI_FACTOR_ACR
    assert "mfa" in stepped["amr"]
    assert stepped["sid"] == first["sid"]
    assert stepped["auth_time"] == first["auth_time"], "the password was not asked again"
    assert not [url for url in pages if hosted.hosted_page(hosted.LOGIN).match(url)]
    asked = [query(r).get("acr_values") for r in authorizes(to_twofold)]
    assert MULTI_FACTOR_ACR in asked, asked
    shots("stepped-up")


def test_logout_through_v2_logout(app: spa.Spa, page: Page, shots: Shots) -> None:
    bob = app.auth.users["bob"]
    app.configure()
    log_in(app, page, bob.email, bob.password, shots)
    logout = spa.log_out(app, page)
    assert logout["client_id"] == app.client.client_id
    assert logout["returnTo"] == app.site.url
    shots("logged-out")
    # Twofold's session ended too: the next login asks for the password.
    page.click("#login")
    hosted.login_page(page, shots, "login-after-logout")

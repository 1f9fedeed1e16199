"""The hosted login's second factor, with the tenant asking for one on every sign-in, through
auth0-spa-js on https://app.example.test: a first sign-in enrols an authenticator app (the QR
code and its key) and shows a recovery code; later sign-ins take a TOTP code, the recovery
code (and show its replacement) or a passkey made on the account page or on the enrolment
page (Chromium's virtual authenticator, through CDP, RP ID auth.twofold.test), after the
password or alone; "remember this browser" skips the factor until the Management API forgets
remembered browsers.
Screenshots of every page: test-output/browser/<test>/."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from playwright.sync_api import Page, expect

from e2e._otp import wrong_code
from e2e._server import User

from . import _account as account
from . import _hosted as hosted
from . import _spa as spa
from ._fixtures import AuthSite
from ._static import SpaSite

pytestmark = [pytest.mark.e2e, pytest.mark.browser]
Shots = hosted.Shots
FORGET_SCOPES = "update:users"


@pytest.fixture(scope="module")
def tenant_settings() -> tuple[str, ...]:
    return ("--mfa-policy", "always", "--enable", "otp", "--enable", "passkey")


@pytest.fixture(scope="module")
def app(auth_site: AuthSite, spa_site: SpaSite) -> spa.Spa:
    client = auth_site.server.spa_client(
        "Example SPA (MFA)",
        callbacks=[spa_site.url],
        logout_urls=[spa_site.url],
        web_origins=[spa_site.origin],
    )
    return spa.Spa(site=spa_site, auth=auth_site, client=client)


def start(app: spa.Spa, page: Page, user: User, shots: Shots, name: str = "login") -> None:
    """From the app (opened fresh): "Log in" and the password."""
    app.configure()
    app.open(page)
    page.click("#login")
    hosted.sign_in(page, user, shots, name)


def back_in_the_app(page: Page, user: User, shots: Shots, name: str) -> dict[str, Any]:
    spa.ready(page)
    spa.signed_in_as(page, user.email)
    shots(name, page)
    return spa.claims(page)


def enrol_totp(app: spa.Spa, page: Page, user: User, shots: Shots) -> tuple[hosted.Totp, str]:
    start(app, page, user, shots)
    device = hosted.enroll_totp(page, shots)
    recovery = hosted.new_recovery_code(page, shots)
    claims = back_in_the_app(page, user, shots, "enrolled")
    assert "mfa" in claims["amr"]
    return device, recovery


def test_first_sign_in_enrols_an_app_then_totp_and_recovery_code_sign_in(
    app: spa.Spa, page: Page, shots: Shots, fresh_user: User
) -> None:
    user = fresh_user
    device, recovery = enrol_totp(app, page, user, shots)
    spa.log_out(app, page)

    start(app, page, user, shots, "login-totp")
    hosted.mfa_page(page, shots)
    hosted.give_code(page, wrong_code(device.secret))
    expect(page.locator("#error")).to_be_visible()
    assert page.locator("#error").get_attribute("role") == "alert"
    hosted.mfa_page(page, shots, "wrong-code")
    hosted.give_code(page, device.code())
    claims = back_in_the_app(page, user, shots, "signed-in-with-totp")
    assert "mfa" in claims["amr"]
    spa.log_out(app, page)

    start(app, page, user, shots, "login-recovery")
    hosted.mfa_page(page, shots)
    hosted.choose_factor(page, "recovery-code", shots)
    hosted.give_code(page, recovery)
    replacement = hosted.new_recovery_code(page, shots, "new-recovery-code")
    assert replacement != recovery
    back_in_the_app(page, user, shots, "signed-in-with-recovery-code")
    spa.log_out(app, page)

    # The used code is spent.
    start(app, page, user, shots, "login-old-recovery")
    hosted.mfa_page(page, shots)
    hosted.choose_factor(page, "recovery-code", shots)
    hosted.give_code(page, recovery)
    expect(page.locator("#error")).to_be_visible()
    hosted.mfa_page(page, shots, "old-recovery-code-refused")


def test_a_passkey_from_the_account_page_then_on_the_hosted_pages(
    app: spa.Spa, page: Page, shots: Shots, fresh_user: User
) -> None:
    """The passkey is made where a person makes one, on Twofold's account page (same host,
    same RP ID), then proves the second factor after the password, and alone on the login
    page (a first factor that satisfies MFA)."""
    user = fresh_user
    authenticator = account.virtual_authenticator(page)
    page.goto(f"{app.auth.server.base_url}/account")
    account.sign_in_with_password(page, user)
    expect(page.locator("#account")).to_be_visible()
    account.add(page, "Passkey")
    # The account page's token came from the password alone: with a factor now and the
    # tenant asking for one, the page asks to sign in again rather than list it.
    expect(page.locator("#signin")).to_be_visible()
    shots("account-page-passkey-added", page)
    (credential,) = account.credentials(authenticator)
    assert credential["rpId"] == "auth.twofold.test"

    start(app, page, user, shots, "login-password")
    hosted.mfa_page(page, shots)
    hosted.use_passkey(page, shots)
    claims = back_in_the_app(page, user, shots, "signed-in-password-and-passkey")
    assert "pwd" in claims["amr"]
    assert "mfa" in claims["amr"]
    spa.log_out(app, page)

    app.open(page)
    page.click("#login")
    hosted.login_page(page, shots, "login-passkey")
    page.click("#passkey-button")
    claims = back_in_the_app(page, user, shots, "signed-in-with-passkey-alone")
    assert "mfa" in claims["amr"]
    assert "pwd" not in claims["amr"]
    assert set(claims["amr"]) & {"hwk", "swk"}
    assert account.credentials(authenticator)[0]["signCount"] >= 2


def test_remember_this_browser_until_the_management_api_forgets_it(
    app: spa.Spa, page: Page, shots: Shots, fresh_user: User
) -> None:
    user = fresh_user
    device, _ = enrol_totp(app, page, user, shots)
    spa.log_out(app, page)

    start(app, page, user, shots, "login-remember")
    hosted.mfa_page(page, shots)
    hosted.give_code(page, device.code(), remember=True)
    back_in_the_app(page, user, shots, "remembered")
    spa.log_out(app, page)

    # The password alone now: this browser is remembered.
    start(app, page, user, shots, "login-remembered")
    back_in_the_app(page, user, shots, "no-mfa-asked")
    spa.log_out(app, page)

    forget_remembered_browsers(app.auth, user)
    start(app, page, user, shots, "login-forgotten")
    hosted.mfa_page(page, shots, "mfa-asked-again")


def forget_remembered_browsers(auth: AuthSite, user: User) -> None:
    """POST /api/v2/users/{id}/multifactor/actions/invalidate-remember-browser, as a back
    office would, with a client_credentials token for the Management API."""
    management = f"{auth.server.issuer}api/v2/"
    made = auth.server.create_client(
        "back office",
        "--grant-types",
        "client_credentials",
        "--audience",
        management,
        "--scope",
        FORGET_SCOPES,
    )
    with auth.http() as http:
        token = http.post(
            "/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": made.client_id,
                "client_secret": made.client_secret,
                "audience": management,
            },
        )
        assert token.status_code == 200, token.text
        path = f"/api/v2/users/{quote(user.user_id, safe='')}"
        forgot = http.post(
            f"{path}/multifactor/actions/invalidate-remember-browser",
            headers={"Authorization": f"Bearer {token.json()['access_token']}"},
        )
    assert forgot.status_code == 204, forgot.text


def test_first_sign_in_enrols_a_passkey_on_the_hosted_page(
    app: spa.Spa, page: Page, shots: Shots, fresh_user: User
) -> None:
    """The enrolment page offers a passkey instead of an authenticator app (Chromium's virtual
    authenticator makes it); the next sign-in proves the second factor with it."""
    user = fresh_user
    authenticator = account.virtual_authenticator(page)
    start(app, page, user, shots)
    hosted.arrive(page, hosted.hosted_page(hosted.ENROLL), "the MFA enrolment page")
    shots("enroll-offers-passkey", page)
    page.click("#passkey-enroll")
    claims = back_in_the_app(page, user, shots, "enrolled-passkey")
    assert "mfa" in claims["amr"]
    assert set(claims["amr"]) & {"hwk", "swk"}
    (credential,) = account.credentials(authenticator)
    assert credential["rpId"] == "auth.twofold.test"
    spa.log_out(app, page)

    start(app, page, user, shots, "login-after-passkey-enrolment")
    hosted.mfa_page(page, shots)
    hosted.use_passkey(page, shots)
    claims = back_in_the_app(page, user, shots, "signed-in-with-the-enrolled-passkey")
    assert "mfa" in claims["amr"]

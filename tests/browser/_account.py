"""What a person does on the account page, step by step, in Playwright's words; and seeding a
user's first factor over HTTPS before the browser starts."""

from __future__ import annotations

from typing import Any, Protocol
from urllib.parse import quote

import httpx
from playwright.sync_api import CDPSession, Page, expect

from e2e._otp import code_for_step, current_step
from e2e._server import TwofoldServer, User

from .conftest import SEED_GRANTS

# A CTAP2 platform authenticator with user verification, as a phone or laptop has.
VIRTUAL_AUTHENTICATOR = {
    "protocol": "ctap2",
    "transport": "internal",
    "hasResidentKey": True,
    "hasUserVerification": True,
    "isUserVerified": True,
    "automaticPresenceSimulation": True,
}


class Served(Protocol):
    """A running server and an HTTPS client for it (the account page's site, or the hosted
    login's)."""

    @property
    def server(self) -> TwofoldServer: ...

    def http(self) -> httpx.Client: ...


def give_totp(site: Served, user: User) -> str:
    """A confirmed TOTP factor for `user` through the My Account API (the password alone, as a
    user with no factor yet); its secret. Confirmed with the previous step's code, so the
    current step is left for the sign-in."""
    client = site.server.create_client("browser seeding", "--grant-types", SEED_GRANTS)
    login = {"username": user.email, "password": user.password, "grant_type": "password"}
    login.update(client_id=client.client_id, client_secret=client.client_secret)
    login["audience"] = f"{site.server.issuer}me/"
    with site.http() as http:
        token = http.post("/oauth/token", data=login).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        started = http.post(
            "/me/v1/authentication-methods", json={"type": "totp"}, headers=headers
        ).json()
        secret = str(started["manual_input_code"])
        confirmed = http.post(
            f"/me/v1/authentication-methods/{quote(started['id'], safe='')}/verify",
            json={
                "auth_session": started["auth_session"],
                "otp_code": code_for_step(secret, current_step() - 1),
            },
            headers=headers,
        )
        assert confirmed.status_code == 201, confirmed.text
    return secret


def totp_now(secret: str) -> str:
    return code_for_step(secret, current_step())


def virtual_authenticator(page: Page) -> CDPSession:
    """The CDP virtual authenticator, answering this page's WebAuthn ceremonies."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable", {"enableUI": False})
    made = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": VIRTUAL_AUTHENTICATOR})
    cdp.authenticator_id = made["authenticatorId"]  # type: ignore[attr-defined]
    return cdp


def credentials(cdp: CDPSession) -> list[dict[str, Any]]:
    found = cdp.send(
        "WebAuthn.getCredentials",
        {"authenticatorId": cdp.authenticator_id},  # type: ignore[attr-defined]
    )
    return list(found["credentials"])


def sign_in_with_password(page: Page, user: User) -> None:
    page.fill("#username", user.email)
    page.fill("#password", user.password)
    page.click("#password-form button[type=submit]")


def give_code(page: Page, code: str) -> None:
    expect(page.locator("#factor-code")).to_be_visible()
    page.fill("#factor-code-input", code)
    page.click("#factor-code button[type=submit]")


def signed_in(page: Page) -> None:
    expect(page.locator("#account")).to_be_visible()
    expect(page.locator("#signin")).to_be_hidden()
    expect(page.locator("#methods > li").first).to_be_visible()


def add(page: Page, label: str) -> None:
    page.locator("#add button", has_text=label).click()


def method(page: Page, text: str) -> Any:
    return page.locator("#methods > li", has_text=text)

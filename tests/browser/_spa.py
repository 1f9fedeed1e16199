"""The single-page app (sdk/spa/) as a test drives it: configure auth0-spa-js, open the app,
start a login, read the user, the ID token's claims and a silent token. Calls go through
`window.app` (sdk/spa/spa.js), whose answers are plain JSON, a refusal as {error, …}."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from playwright.sync_api import Page, expect

from e2e._server import Client

from ._fixtures import AuthSite
from ._hosted import app_page, arrive, query
from ._static import SpaSite

# The scope auth0-spa-js asks for by default (offline_access joins with refresh tokens).
SPA_SCOPE = "openid profile email"


@dataclass(frozen=True)
class Spa:
    site: SpaSite
    auth: AuthSite
    client: Client

    def configure(self, *, authorization: dict[str, Any] | None = None, **options: Any) -> None:
        """auth0-spa-js's options for the next page load: this client, the app's own URL as
        redirect_uri, and `options` (useRefreshTokens, cacheLocation, …)."""
        params: dict[str, Any] = {"redirect_uri": self.site.url, "scope": SPA_SCOPE}
        params.update(authorization or {})
        self.site.config = {
            "domain": self.auth.server.domain,
            "clientId": self.client.client_id,
            "authorizationParams": params,
            **options,
        }

    def open(self, page: Page) -> dict[str, Any] | None:
        """The app, started (a callback on the URL handled); the user it has, if any."""
        page.goto(self.site.url)
        return ready(page)

    @property
    def logout_params(self) -> dict[str, Any]:
        return {"logoutParams": {"returnTo": self.site.url}}


def log_out(app: Spa, page: Page) -> dict[str, str]:
    """logout() back to the app (through Twofold's /v2/logout); that request's parameters."""
    with (
        page.expect_request(lambda r: urlsplit(r.url).path == "/v2/logout") as sent,
        page.expect_navigation(url=app_page()),
    ):
        page.evaluate("options => { app.logout(options); }", app.logout_params)
    assert ready(page) is None, "still signed in after logging out"
    return query(sent.value)


def ready(page: Page) -> dict[str, Any] | None:
    arrive(page, app_page(), "the app")
    user: dict[str, Any] | None = page.evaluate("app.ready")
    expect(page.locator("#status")).not_to_have_text("Starting…")
    return user


def start_login(page: Page, **authorization: Any) -> None:
    """loginWithRedirect with these extra authorization params; the page navigates away."""
    page.evaluate("options => { app.login(options); }", {"authorizationParams": authorization})


def user(page: Page) -> dict[str, Any] | None:
    found: dict[str, Any] | None = page.evaluate("app.render()")
    return found


def claims(page: Page) -> dict[str, Any]:
    found: dict[str, Any] | None = page.evaluate("app.claims()")
    assert found is not None, "no ID token"
    return found


def token(page: Page, **options: Any) -> dict[str, Any]:
    """getTokenSilently({detailedResponse: true, ...options}): the tokens, or {error, …}."""
    found: dict[str, Any] = page.evaluate("options => app.token(options)", options)
    return found


def signed_in_as(page: Page, email: str) -> dict[str, Any]:
    """The app shows this user, and getUser() says so."""
    expect(page.locator("#status")).to_have_text(f"Signed in as {email}")
    found = user(page)
    assert found is not None
    assert found["email"] == email, found
    return found

"""express-openid-connect (pinned in sdk/package.json) in a small HTTPS app on
https://app.example.test against Twofold's hosted login on https://auth.twofold.test, in
Debian's Chromium: its default configuration (response_type id_token, response_mode form_post)
and a `code` configuration sign in; attemptSilentLogin without a Twofold session comes back
signed out and quiet; logging out ends Twofold's session through /v2/logout (auth0Logout) and
through /oidc/logout (idpLogout: RP-initiated logout). Screenshots: test-output/browser/<test>/."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, Request, expect

from e2e._server import Client, User, free_port

from . import _hosted as hosted
from ._express import ExpressApp, running_express
from ._fixtures import AuthSite
from ._sites import APP_HOST

pytestmark = [pytest.mark.e2e, pytest.mark.browser]
Shots = hosted.Shots

# express-openid-connect's defaults (its README's minimal configuration), and the
# authorization code flow with the client's secret.
DEFAULT = "id_token"
CODE = "code"


def auth_options(kind: str, client: Client) -> dict[str, Any]:
    if kind == DEFAULT:
        return {"clientID": client.client_id}
    return {
        "clientID": client.client_id,
        "clientSecret": client.client_secret,
        "authorizationParams": {"response_type": "code"},
    }


@contextmanager
def express_app(auth: AuthSite, kind: str, **options: Any) -> Iterator[tuple[ExpressApp, Client]]:
    """The app in configuration `kind` (plus `options`), with a client registered for its
    callback and for its base URL as the place to return to after logout."""
    port = free_port()
    base = f"https://{APP_HOST}:{port}"
    client = auth.server.app_client(
        f"express {kind}", callbacks=[f"{base}/callback"], logout_urls=[base, f"{base}/"]
    )
    settings = {**auth_options(kind, client), **options}
    with running_express(auth.tls, auth.workdir, auth.server.issuer, port, **settings) as app:
        yield app, client


@pytest.fixture
def to_twofold(page: Page) -> list[Request]:
    return hosted.record_requests(page)


sent_to = hosted.sent_to


def log_in(app: ExpressApp, page: Page, user: User, shots: Shots) -> dict[str, Any]:
    """The protected page, which sends the browser to sign in first; its ID token claims."""
    page.goto(app.url("/profile"))
    hosted.sign_in(page, user, shots)
    hosted.arrive(page, hosted.app_page("/profile"), "the app's profile page")
    expect(page.locator("#status")).to_have_text("Signed in")
    shots("profile", page)
    claims: dict[str, Any] = json.loads(page.locator("#claims").inner_text())
    return claims


@pytest.mark.parametrize("kind", [DEFAULT, CODE])
def test_login(
    auth_site: AuthSite, page: Page, shots: Shots, to_twofold: list[Request], kind: str
) -> None:
    alice = auth_site.users["alice"]
    with express_app(auth_site, kind) as (app, client):
        claims = log_in(app, page, alice, shots)
        assert claims["sub"] == alice.user_id
        assert claims["email"] == alice.email
        assert claims["aud"] == client.client_id
        assert claims["iss"] == auth_site.server.issuer
        assert "pwd" in claims["amr"]
        (sent,) = sent_to(to_twofold, "/authorize")
        assert sent["client_id"] == client.client_id
        assert sent["redirect_uri"] == app.url("/callback")
        assert sent["response_type"] == kind
        assert sent["scope"] == "openid profile email"
        assert sent["nonce"]
        if kind == DEFAULT:
            assert sent["response_mode"] == "form_post"
        else:
            assert sent["code_challenge_method"] == "S256"
            assert "response_mode" not in sent

        page.goto(app.url("/"))
        expect(page.locator("#status")).to_have_text("Signed in")
        shown = json.loads(page.locator("#user").inner_text())
        assert shown["email"] == alice.email
        shots("home", page)


@pytest.mark.parametrize("kind", [DEFAULT, CODE])
def test_attempt_silent_login_without_a_session_is_quiet(
    auth_site: AuthSite, page: Page, shots: Shots, to_twofold: list[Request], kind: str
) -> None:
    with express_app(auth_site, kind, attemptSilentLogin=True) as (app, _):
        response = page.goto(app.url("/"))
        assert response is not None
        hosted.arrive(page, hosted.app_page("/"), "the app's home page")
        expect(page.locator("#status")).to_have_text("Signed out")
        assert response.status == 200
        assert page.locator("#error").count() == 0
        (silent,) = sent_to(to_twofold, "/authorize")
        assert silent["prompt"] == "none"
        # Twofold answered with an error, not a page: the browser never stayed on its host.
        assert urlsplit(page.url).hostname == APP_HOST
        shots("signed-out-quietly", page)
        # Tried once: the next page does not go to Twofold again.
        page.goto(app.url("/"))
        expect(page.locator("#status")).to_have_text("Signed out")
        assert len(sent_to(to_twofold, "/authorize")) == 1


@pytest.mark.parametrize(
    ("kind", "options", "endpoint"),
    [
        (DEFAULT, {"auth0Logout": True}, "/v2/logout"),
        (CODE, {"auth0Logout": True}, "/v2/logout"),
        (DEFAULT, {"idpLogout": True, "auth0Logout": False}, "/oidc/logout"),
        (CODE, {"idpLogout": True, "auth0Logout": False}, "/oidc/logout"),
    ],
)
def test_logout_ends_twofolds_session(
    auth_site: AuthSite,
    page: Page,
    shots: Shots,
    to_twofold: list[Request],
    kind: str,
    options: dict[str, Any],
    endpoint: str,
) -> None:
    bob = auth_site.users["bob"]
    with express_app(auth_site, kind, **options) as (app, client):
        log_in(app, page, bob, shots)
        page.click("#logout")
        hosted.arrive(page, hosted.app_page("/"), "the app after logging out")
        expect(page.locator("#status")).to_have_text("Signed out")
        shots("logged-out", page)
        (sent,) = sent_to(to_twofold, endpoint)
        if endpoint == "/v2/logout":
            assert sent["client_id"] == client.client_id
            assert sent["returnTo"].rstrip("/") == app.base_url
        else:
            assert sent["id_token_hint"]
            assert sent["post_logout_redirect_uri"].rstrip("/") == app.base_url

        # Twofold's session is over: the protected page asks for the password again.
        page.goto(app.url("/profile"))
        hosted.login_page(page, shots, "login-again")

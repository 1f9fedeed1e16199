"""auth0-server-python's ServerClient (pinned in uv.lock) against Twofold's hosted login, as a
server-side Python app on https://app.example.test uses it: start_interactive_login builds the
authorize URL from discovery, a person signs in (in Chromium; and a plain HTTP client following
the pages' forms, as a test client or a crawler would), complete_interactive_login redeems the
code, logout sends the browser through /v2/logout and Twofold's session is over."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import pytest
from auth0_server_python.auth_server.server_client import ServerClient
from auth0_server_python.auth_types import LogoutOptions, StartInteractiveLoginOptions
from playwright.sync_api import Page

from e2e._server import Client, Tls, User

from . import _hosted as hosted
from ._fixtures import AuthSite
from ._server_python import MemoryStateStore, MemoryTransactionStore, SdkLoop, forms_of, sdk_loop
from ._sites import APP_HOST
from ._static import SpaSite, serving_spa

pytestmark = [pytest.mark.e2e, pytest.mark.browser]
Shots = hosted.Shots
SCOPE = "openid profile email offline_access"
MAX_HOPS = 12


class App:
    """A server-side app: its URLs, its registered client and its ServerClient."""

    def __init__(self, auth: AuthSite, loop: SdkLoop, site: SpaSite) -> None:
        self.auth = auth
        self.loop = loop
        self.site = site
        self.base = f"https://{APP_HOST}:{site.port}"
        self.callback = f"{self.base}/callback"
        self.client: Client = auth.server.app_client(
            "auth0-server-python app", callbacks=[self.callback], logout_urls=[f"{self.base}/"]
        )
        self.sdk: ServerClient[Any] = ServerClient(
            domain=auth.server.domain,
            client_id=self.client.client_id,
            client_secret=self.client.client_secret,
            redirect_uri=self.callback,
            secret=secrets.token_urlsafe(32),
            transaction_store=MemoryTransactionStore(),
            state_store=MemoryStateStore(),
            authorization_params={"scope": SCOPE},
        )

    def start_login(self, **params: str) -> str:
        options = StartInteractiveLoginOptions(authorization_params=params or None)
        return self.loop.run(self.sdk.start_interactive_login(options))

    def complete_login(self, callback_url: str) -> dict[str, Any]:
        return self.loop.run(self.sdk.complete_interactive_login(callback_url))

    def user(self) -> dict[str, Any] | None:
        return self.loop.run(self.sdk.get_user())

    def logout(self) -> str:
        return self.loop.run(self.sdk.logout(LogoutOptions(return_to=f"{self.base}/")))


@pytest.fixture
def sdk_trusts_the_test_ca(sites_tls: Tls) -> Iterator[None]:
    """httpx (inside the SDK, trust_env) trusts the test CA through SSL_CERT_FILE."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SSL_CERT_FILE", str(sites_tls.ca_file))
        mp.delenv("SSL_CERT_DIR", raising=False)
        yield


@pytest.fixture
def app(auth_site: AuthSite, sdk_trusts_the_test_ca: None, sites_tls: Tls) -> Iterator[App]:
    """The app: a stand-in page on the app host (the test runs the SDK's callback itself)."""
    with sdk_loop() as loop, serving_spa(sites_tls, stand_in=True) as site:
        yield App(auth_site, loop, site)


def test_start_interactive_login_builds_the_authorize_url_from_discovery(app: App) -> None:
    url = app.start_login()
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}/" == app.auth.server.issuer
    assert parts.path == "/authorize"
    sent = {key: values[0] for key, values in parse_qs(parts.query).items()}
    assert sent["client_id"] == app.client.client_id
    assert sent["redirect_uri"] == app.callback
    assert sent["response_type"] == "code"
    assert sent["code_challenge_method"] == "S256"
    assert sent["scope"] == SCOPE
    assert sent["state"]


def test_login_in_the_browser_then_logout(app: App, page: Page, shots: Shots) -> None:
    alice = app.auth.users["alice"]
    page.goto(app.start_login())
    hosted.sign_in(page, alice, shots)
    hosted.arrive(page, hosted.app_page("/callback"), "the app's callback")
    done = app.complete_login(page.url)
    session = done["state_data"]
    assert session["user"]["sub"] == alice.user_id
    assert session["refresh_token"]
    assert session["id_token"]
    user = app.user()
    assert user is not None
    assert user["email"] == alice.email

    logout_url = app.logout()
    assert urlsplit(logout_url).path == "/v2/logout"
    assert app.user() is None
    page.goto(logout_url)
    hosted.arrive(page, hosted.app_page("/"), "the app after logging out")
    assert "/" in app.site.requests
    shots("logged-out", page)

    # Twofold's session ended with the app's: a new login asks for the password.
    page.goto(app.start_login())
    hosted.login_page(page, shots, "login-again")


def test_login_by_following_the_pages_forms(app: App) -> None:
    """No browser: an HTTP client with a cookie jar fills in /u/login's form and follows the
    redirects to the app's callback, whose URL the SDK completes."""
    bob = app.auth.users["bob"]
    with httpx.Client(verify=app.auth.tls.client_context(), timeout=10) as http:
        callback = follow_the_pages(http, app.start_login(), bob, app.callback)
    done = app.complete_login(callback)
    assert done["state_data"]["user"]["sub"] == bob.user_id
    user = app.user()
    assert user is not None
    assert user["email"] == bob.email


def follow_the_pages(http: httpx.Client, url: str, user: User, callback: str) -> str:
    """GET `url`, follow redirects, submit #login-form with the user's credentials, until a
    redirect to `callback`; that URL."""
    for _ in range(MAX_HOPS):
        if url.startswith(callback):
            return url
        response = http.get(url)
        if response.is_redirect:
            url = urljoin(url, response.headers["location"])
            continue
        assert response.status_code == 200, (response.status_code, url, response.text[:500])
        forms = forms_of(response.text)
        assert "login-form" in forms, f"no #login-form at {url}: {response.text[:500]}"
        action, method, fields = forms["login-form"]
        assert method == "post", method
        fields.update(username=user.email, password=user.password)
        posted = http.post(urljoin(url, action or url), data=fields)
        assert posted.is_redirect, (posted.status_code, posted.text[:500])
        url = urljoin(url, posted.headers["location"])
    raise AssertionError(f"no redirect to {callback} within {MAX_HOPS} steps (last: {url})")

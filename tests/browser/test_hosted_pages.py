"""The hosted pages when a person does not go straight through: two tabs signing in at once,
the back button after signing in; and what Twofold refuses with a page of its own rather than
a redirect: an unknown client, a redirect_uri, logout URL or web origin the client did not
register. Through auth0-spa-js on https://app.example.test. Screenshots of every page:
test-output/browser/<test>/."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from e2e._server import Client

from . import _hosted as hosted
from . import _spa as spa
from ._fixtures import AuthSite
from ._sites import APP_HOST, AUTH_HOST
from ._static import SpaSite

pytestmark = [pytest.mark.e2e, pytest.mark.browser]
Shots = hosted.Shots
ELSEWHERE = "https://elsewhere.example.test/"


@pytest.fixture(scope="module")
def app(auth_site: AuthSite, spa_site: SpaSite) -> spa.Spa:
    client = auth_site.server.spa_client(
        "Example SPA (pages)",
        callbacks=[spa_site.url],
        logout_urls=[spa_site.url],
        web_origins=[spa_site.origin],
    )
    return spa.Spa(site=spa_site, auth=auth_site, client=client)


@pytest.fixture(scope="module")
def originless(auth_site: AuthSite, spa_site: SpaSite) -> Client:
    """A client that registered the app's URL as a callback but not its origin."""
    return auth_site.server.spa_client("No web origin", callbacks=[spa_site.url])


def authorize_url(app: spa.Spa, client_id: str, **params: str) -> str:
    query = {
        "client_id": client_id,
        "redirect_uri": app.site.url,
        "response_type": "code",
        "scope": spa.SPA_SCOPE,
        "state": "s-123",
        "nonce": "n-123",
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        "code_challenge_method": "S256",
        **params,
    }
    return f"{app.auth.server.base_url}/authorize?{urlencode(query)}"


def test_two_tabs_signing_in_at_once_both_end_in_the_app(
    app: spa.Spa, page: Page, shots: Shots
) -> None:
    alice = app.auth.users["alice"]
    app.configure()
    first = page
    second = page.context.new_page()
    for tab in (first, second):
        app.open(tab)
        tab.click("#login")
    first_tx = hosted.login_page(first, shots, "first-tab-login")
    second_tx = hosted.login_page(second, shots, "second-tab-login")
    assert first_tx != second_tx

    hosted.sign_in(second, alice, shots, "second-tab-signs-in")
    spa.ready(second)
    spa.signed_in_as(second, alice.email)
    shots("second-tab-in-the-app", second)

    # The first tab's form is still on the screen: sending it finishes that sign-in too.
    first.fill("#username", alice.email)
    first.fill("#password", alice.password)
    first.click("#login-submit")
    spa.ready(first)
    spa.signed_in_as(first, alice.email)
    shots("first-tab-in-the-app", first)


def test_the_back_button_after_signing_in_recovers(app: spa.Spa, page: Page, shots: Shots) -> None:
    bob = app.auth.users["bob"]
    app.configure()
    app.open(page)
    page.click("#login")
    hosted.sign_in(page, bob, shots)
    spa.ready(page)
    spa.signed_in_as(page, bob.email)

    # Back to the login page of a sign-in that is over.
    response = page.go_back()
    assert response is None or response.status < 500
    page.wait_for_load_state()
    shots("after-back", page)
    host = urlsplit(page.url).hostname
    if host == APP_HOST:
        spa.ready(page)
        spa.signed_in_as(page, bob.email)
    else:
        assert host == AUTH_HOST, page.url
        expect(page.locator("#error")).to_be_visible()

    # Whatever the page said, the next login needs no password: the session is there.
    app.open(page)
    page.click("#login")
    spa.ready(page)
    spa.signed_in_as(page, bob.email)
    shots("signed-in-again", page)


def test_an_unknown_client_is_refused_with_a_page(app: spa.Spa, page: Page, shots: Shots) -> None:
    response = page.goto(authorize_url(app, "no-such-client"))
    message = hosted.refused(response, page, shots, "unknown-client")
    assert message


@pytest.mark.parametrize(
    "redirect_uri",
    [ELSEWHERE, "{app}callback", "{app}#fragment", "http://{host}/"],
)
def test_an_unregistered_redirect_uri_is_refused_with_a_page(
    app: spa.Spa, page: Page, shots: Shots, redirect_uri: str
) -> None:
    uri = redirect_uri.format(app=app.site.url, host=urlsplit(app.site.url).netloc)
    elsewhere: list[str] = []
    page.on(
        "request",
        lambda r: elsewhere.append(r.url) if urlsplit(r.url).hostname != AUTH_HOST else None,
    )
    response = page.goto(authorize_url(app, app.client.client_id, redirect_uri=uri))
    hosted.refused(response, page, shots, "unregistered-redirect-uri")
    assert elsewhere == [], elsewhere


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v2/logout", {"returnTo": ELSEWHERE}),
        ("/oidc/logout", {"post_logout_redirect_uri": ELSEWHERE}),
    ],
)
def test_an_unregistered_logout_url_is_refused_with_a_page(
    app: spa.Spa, page: Page, shots: Shots, path: str, params: dict[str, str]
) -> None:
    query = urlencode({"client_id": app.client.client_id, **params})
    url = f"{app.auth.server.base_url}{path}?{query}"
    response = page.goto(url)
    assert response is not None
    assert response.status == 400, response.status
    assert response.request.redirected_from is None
    assert urlsplit(page.url).hostname == AUTH_HOST
    assert page.locator("body").inner_text().strip()
    shots("unregistered-logout-url", page)


def test_web_message_to_an_unregistered_origin_is_refused_with_a_page(
    app: spa.Spa, originless: Client, page: Page, shots: Shots
) -> None:
    """A silent login answers by postMessage to the redirect_uri's origin: only to an origin
    the client registered."""
    url = authorize_url(app, originless.client_id, response_mode="web_message", prompt="none")
    response = page.goto(url)
    hosted.refused(response, page, shots, "unregistered-web-origin")


def test_an_unregistered_origin_cannot_read_the_token_endpoint(
    app: spa.Spa, originless: Client, context: BrowserContext
) -> None:
    """CORS: the app's scripts read Twofold's answers for a client that registered the app's
    origin, and not for one that did not. (A page of its own: the browser reports the blocked
    read as a console error.)"""
    app.configure()
    page = context.new_page()
    page.goto(app.site.url)
    send = """async ([url, clientId]) => {
        try {
            const r = await fetch(url, {method: 'POST', headers: {'Content-Type':
                'application/json'}, body: JSON.stringify({grant_type: 'authorization_code',
                client_id: clientId, code: 'nope', code_verifier: 'x'.repeat(43),
                redirect_uri: location.origin + '/'})});
            return {status: r.status, body: await r.json()};
        } catch (e) { return {blocked: String(e)}; }
    }"""
    token_url = f"{app.auth.server.base_url}/oauth/token"
    allowed: dict[str, Any] = page.evaluate(send, [token_url, app.client.client_id])
    assert allowed.get("status") in (400, 401, 403), allowed
    assert allowed["body"]["error"], allowed
    blocked: dict[str, Any] = page.evaluate(send, [token_url, originless.client_id])
    assert "blocked" in blocked, blocked

"""GET /v2/logout and GET /oidc/logout: back only to a registered logout URL, never elsewhere;
the browser's session ended only when the request proves it is about it."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from joserfc import jwt

from twofold.core.sessions import BrowserSession

from .support import ISSUER, assert_tokens, rsa_key

pytestmark = pytest.mark.anyio

BYE = "https://app.example.com/bye"
OTHER = "https://app.example.com/other?x=1"
EVIL = "https://evil.example/bye"


class FakeSessions:
    """The session module's side of logout, for one browser's session."""

    def __init__(self, session: BrowserSession | None) -> None:
        self.session = session
        self.ended: list[BrowserSession] = []

    async def current(self, cookie: str | None) -> BrowserSession | None:
        return self.session if cookie == "cookie-value" else None

    async def end(self, session: BrowserSession) -> None:
        self.ended.append(session)


async def _get(env, path, cookie=False, **params):
    headers = {"Cookie": "twofold_session=cookie-value"} if cookie else {}
    return await env.http.get(f"{path}?{urlencode(params)}", headers=headers)


def _refused(resp):
    assert resp.status_code == 400, resp.text
    assert resp.headers["content-type"].startswith("text/plain")
    assert "location" not in resp.headers
    assert resp.headers["cache-control"] == "no-store"


def _redirected(resp, url):
    assert resp.status_code == 302, resp.text
    assert resp.headers["location"] == url


@pytest.fixture
async def app(env):
    return await env.client(logout_urls=[BYE, OTHER])


async def _id_token(env, client):
    await env.tenant(mfa_policy="never")
    user = await env.user()
    body = assert_tokens(await env.password(client, scope="openid"))
    return user, body["id_token"]


# ----- /v2/logout


async def test_v2_returns_to_a_registered_url(env, app):
    _redirected(await _get(env, "/v2/logout", client_id=app.client_id, returnTo=OTHER), OTHER)


async def test_v2_without_return_to_uses_the_first_logout_url(env, app):
    _redirected(await _get(env, "/v2/logout", client_id=app.client_id, federated=""), BYE)


async def test_v2_without_client_answers_ok(env):
    resp = await _get(env, "/v2/logout")
    assert resp.status_code == 200
    assert resp.text == "OK"


@pytest.mark.parametrize(
    "return_to",
    [EVIL, BYE + "/", BYE + "?x=1", "https://APP.example.com/bye", "//evil.example", OTHER[:-2]],
)
async def test_v2_never_redirects_to_an_unregistered_url(env, app, return_to):
    _refused(await _get(env, "/v2/logout", client_id=app.client_id, returnTo=return_to))


async def test_v2_return_to_needs_a_client(env, app):
    _refused(await _get(env, "/v2/logout", returnTo=BYE))
    _refused(await _get(env, "/v2/logout", client_id="unknown", returnTo=BYE))


async def test_v2_does_not_use_another_clients_logout_urls(env, app):
    other = await env.client()
    _refused(await _get(env, "/v2/logout", client_id=other.client_id, returnTo=BYE))


async def test_v2_ends_the_browsers_session(env, app):
    sessions = FakeSessions(BrowserSession("sid-1", "auth0|x"))
    env.services.deps.sessions = sessions

    resp = await _get(env, "/v2/logout", cookie=True, client_id=app.client_id)

    _redirected(resp, BYE)
    assert sessions.ended == [sessions.session]
    assert 'twofold_session=""' in resp.headers["set-cookie"]
    assert "Max-Age=0" in resp.headers["set-cookie"]


async def test_v2_refused_ends_nothing(env, app):
    sessions = FakeSessions(BrowserSession("sid-1", "auth0|x"))
    env.services.deps.sessions = sessions
    _refused(await _get(env, "/v2/logout", cookie=True, client_id=app.client_id, returnTo=EVIL))
    assert sessions.ended == []


# ----- /oidc/logout


async def test_oidc_with_id_token_hint_redirects_with_state(env, app):
    _, hint = await _id_token(env, app)
    resp = await _get(
        env, "/oidc/logout", id_token_hint=hint, post_logout_redirect_uri=OTHER, state="a b&c"
    )
    _redirected(resp, OTHER + "&state=a+b%26c")


async def test_oidc_accepts_an_expired_hint(env, app):
    _, hint = await _id_token(env, app)
    env.clock.advance(10 * 86_400)
    resp = await _get(env, "/oidc/logout", id_token_hint=hint, post_logout_redirect_uri=BYE)
    _redirected(resp, BYE)


async def test_oidc_with_client_id_alone(env, app):
    resp = await _get(
        env, "/oidc/logout", client_id=app.client_id, post_logout_redirect_uri=BYE, state="s"
    )
    _redirected(resp, BYE + "?state=s")


async def test_oidc_refuses_an_unregistered_uri(env, app):
    _, hint = await _id_token(env, app)
    _refused(await _get(env, "/oidc/logout", id_token_hint=hint, post_logout_redirect_uri=EVIL))
    _refused(await _get(env, "/oidc/logout", post_logout_redirect_uri=BYE))


async def test_oidc_client_id_must_match_the_hint(env, app):
    other = await env.client(logout_urls=[EVIL])
    _, hint = await _id_token(env, app)
    resp = await _get(
        env,
        "/oidc/logout",
        id_token_hint=hint,
        client_id=other.client_id,
        post_logout_redirect_uri=EVIL,
    )
    _refused(resp)


async def test_oidc_logout_hint_must_match_the_hints_sid(env, app):
    _, hint = await _id_token(env, app)
    _refused(await _get(env, "/oidc/logout", id_token_hint=hint, logout_hint="some-sid"))


def _foreign_token(env, client_id, iss):
    now = int(env.clock.now())
    key = rsa_key()
    claims = {"iss": iss, "sub": "auth0|x", "aud": client_id, "iat": now, "exp": now + 60}
    return jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key, algorithms=["RS256"])


@pytest.mark.parametrize("iss", [ISSUER, "https://other.example/"])
async def test_oidc_refuses_a_hint_we_did_not_sign(env, app, iss):
    hint = _foreign_token(env, app.client_id, iss)
    _refused(await _get(env, "/oidc/logout", id_token_hint=hint, post_logout_redirect_uri=BYE))


async def test_oidc_refuses_an_access_token_as_hint(env, app):
    await _id_token(env, app)
    body = assert_tokens(await env.password(app, scope="openid"))
    resp = await _get(
        env, "/oidc/logout", id_token_hint=body["access_token"], post_logout_redirect_uri=BYE
    )
    _refused(resp)


async def test_oidc_ends_the_session_of_the_hints_user(env, app):
    user, hint = await _id_token(env, app)
    sessions = FakeSessions(BrowserSession("sid-1", user.user_id))
    env.services.deps.sessions = sessions

    resp = await _get(env, "/oidc/logout", cookie=True, id_token_hint=hint)

    _redirected(resp, BYE)
    assert sessions.ended == [sessions.session]


async def test_oidc_refuses_a_hint_about_another_user(env, app):
    _, hint = await _id_token(env, app)
    sessions = FakeSessions(BrowserSession("sid-1", "auth0|someone-else"))
    env.services.deps.sessions = sessions
    _refused(await _get(env, "/oidc/logout", cookie=True, id_token_hint=hint))
    assert sessions.ended == []


async def test_oidc_with_a_session_needs_a_hint(env, app):
    sessions = FakeSessions(BrowserSession("sid-1", "auth0|x"))
    env.services.deps.sessions = sessions
    _refused(await _get(env, "/oidc/logout", cookie=True, client_id=app.client_id))
    _refused(await _get(env, "/oidc/logout", cookie=True, logout_hint="sid-2"))
    assert sessions.ended == []

    resp = await _get(env, "/oidc/logout", cookie=True, logout_hint="sid-1")
    assert resp.status_code == 200
    assert sessions.ended == [sessions.session]


async def test_a_parameter_twice_is_refused(env, app):
    resp = await env.http.get(
        f"/v2/logout?client_id={app.client_id}&returnTo={BYE}&returnTo={EVIL}"
    )
    _refused(resp)

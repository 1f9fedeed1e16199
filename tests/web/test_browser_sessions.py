"""The SSO session and remembered browsers as the running services build them: logout ends a
real session (and clears its cookie with the attributes it is set with), the Management API's
invalidate-remember-browser forgets remembered browsers, and the lifetimes come from settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from twofold.core.login.remembered import remembered_browsers
from twofold.core.login.sso import SsoSessions

from .management_support import auth, mgmt_token
from .support import make_settings

pytestmark = pytest.mark.anyio

BYE = "https://app.example.com/bye"
FORGET = "/api/v2/users/{}/multifactor/actions/invalidate-remember-browser"


def _cookie_header(cookie: str) -> dict[str, str]:
    return {"Cookie": f"twofold_session={cookie}"}


def _attributes(set_cookie: str) -> set[str]:
    return {part.strip().lower() for part in set_cookie.split(";")[1:]}


async def test_the_services_keep_sessions_on_the_state_store(env: Any) -> None:
    sessions = env.services.deps.sessions
    assert isinstance(sessions, SsoSessions)
    assert (sessions.lifetimes.idle, sessions.lifetimes.absolute) == (3 * 86_400, 7 * 86_400)

    cookie, session = await sessions.start("auth0|u1", int(env.clock.now()), ("pwd",))
    # Another node: a second SsoSessions over the same state store finds it.
    node = SsoSessions(env.services.state, env.clock, idle=3600, absolute=7200)
    assert await node.current(cookie) == session


async def test_v2_logout_ends_the_real_session(env: Any) -> None:
    app = await env.client(logout_urls=[BYE])
    sessions = env.services.deps.sessions
    cookie, _ = await sessions.start("auth0|u1", int(env.clock.now()), ("pwd",))
    elsewhere, other = await sessions.start("auth0|u1", int(env.clock.now()), ("pwd",))

    resp = await env.http.get(
        "/v2/logout", params={"client_id": app.client_id}, headers=_cookie_header(cookie)
    )

    assert resp.status_code == 302, resp.text
    assert resp.headers["location"] == BYE
    set_cookie = resp.headers["set-cookie"]
    assert set_cookie.startswith('twofold_session="";')
    assert {"max-age=0", "path=/", "secure", "httponly", "samesite=none"} <= _attributes(set_cookie)
    assert await sessions.current(cookie) is None
    assert await sessions.current(elsewhere) == other  # the user's other browser


async def test_oidc_logout_ends_the_real_session_its_hint_names(env: Any) -> None:
    app = await env.client(logout_urls=[BYE])
    sessions = env.services.deps.sessions
    cookie, session = await sessions.start("auth0|u1", int(env.clock.now()), ("pwd",))
    params = {"client_id": app.client_id}

    wrong = await env.http.get(
        "/oidc/logout",
        params={**params, "logout_hint": "sid-of-another"},
        headers=_cookie_header(cookie),
    )
    assert wrong.status_code == 400
    assert await sessions.current(cookie) == session

    resp = await env.http.get(
        "/oidc/logout",
        params={**params, "logout_hint": session.sid},
        headers=_cookie_header(cookie),
    )
    assert resp.status_code == 302, resp.text
    assert await sessions.current(cookie) is None
    # Its cookie again: nothing left to end, nothing cleared.
    again = await env.http.get("/v2/logout", headers=_cookie_header(cookie))
    assert again.status_code == 200
    assert "set-cookie" not in again.headers


async def test_invalidating_remembered_browsers_through_the_management_api(env: Any) -> None:
    user = await env.user()
    users = env.services.deps.storage.users
    remembered = remembered_browsers(env.services.deps)
    cookie = await remembered.remember(user.user_id)
    assert await remembered.recognised(cookie, await users.get(user.user_id)) is True

    env.clock.advance(5)
    resp = await env.http.post(FORGET.format(user.user_id), headers=auth(await mgmt_token(env)))
    assert resp.status_code == 204, resp.text

    assert await remembered.recognised(cookie, await users.get(user.user_id)) is False
    env.clock.advance(1)
    fresh = await remembered.remember(user.user_id)
    assert await remembered.recognised(fresh, await users.get(user.user_id)) is True


# ----- a development server on plain http, with its own lifetimes


@pytest.fixture
async def plain_http(tmp_path: Any, clock: Any) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    from twofold.app import build_app, create_services

    settings = make_settings(tmp_path).model_copy(
        update={
            "domain": "http://twofold.test",
            "session_idle_lifetime": 600,
            "session_absolute_lifetime": 3600,
            "remember_browser_idle": 1200,
            "remember_browser_lifetime": 2400,
        }
    )
    services = await create_services(settings, clock=clock)
    try:
        transport = httpx.ASGITransport(app=build_app(services))
        async with httpx.AsyncClient(transport=transport, base_url="http://twofold.test") as http:
            yield http, services
    finally:
        await services.close()


async def test_over_plain_http_the_cookie_is_cleared_without_secure(
    plain_http: tuple[httpx.AsyncClient, Any], clock: Any
) -> None:
    http, services = plain_http
    sessions = services.deps.sessions
    assert (sessions.lifetimes.idle, sessions.lifetimes.absolute) == (600, 3600)
    remembered = remembered_browsers(services.deps)
    assert (remembered.lifetimes.idle, remembered.lifetimes.absolute) == (1200, 2400)
    cookie, _ = await sessions.start("auth0|u1", int(clock.now()), ("pwd",))

    resp = await http.get("/v2/logout", headers=_cookie_header(cookie))

    assert resp.status_code == 200
    attributes = _attributes(resp.headers["set-cookie"])
    assert {"max-age=0", "path=/", "httponly", "samesite=lax"} <= attributes
    assert "secure" not in attributes
    assert await sessions.current(cookie) is None

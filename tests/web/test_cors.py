"""CORS on /oauth/token, /oauth/revoke and /userinfo: only registered web origins, and for a
request naming its client, only that client's."""

from __future__ import annotations

import pytest

from .support import assert_tokens

pytestmark = pytest.mark.anyio

APP = "https://app.example.com"
OTHER_APP = "https://other.example.com"
EVIL = "https://evil.example"
PATHS = ["/oauth/token", "/oauth/revoke", "/userinfo"]


async def _preflight(env, path, origin):
    return await env.http.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "auth0-client, content-type",
        },
    )


@pytest.fixture
async def spa(env):
    await env.tenant(mfa_policy="never")
    await env.user()
    await env.client(web_origins=[OTHER_APP])
    return await env.client(auth_method="none", web_origins=[APP + "/"])


@pytest.mark.parametrize("path", PATHS)
async def test_preflight_from_a_registered_origin(env, spa, path):
    resp = await _preflight(env, path, APP)

    assert resp.status_code == 204
    assert resp.headers["access-control-allow-origin"] == APP
    assert "POST" in resp.headers["access-control-allow-methods"]
    allowed = {h.strip().lower() for h in resp.headers["access-control-allow-headers"].split(",")}
    assert {"auth0-client", "content-type", "authorization"} <= allowed
    assert "access-control-allow-credentials" not in resp.headers
    assert "Origin" in resp.headers["vary"]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("origin", [EVIL, "null", APP + ".evil.example", "http://app.example.com"])
async def test_preflight_from_an_unregistered_origin_gets_no_allow_header(env, spa, path, origin):
    resp = await _preflight(env, path, origin)
    assert "access-control-allow-origin" not in resp.headers


async def test_token_answer_readable_by_the_clients_own_origin_only(env, spa):
    params = {"grant_type": "password", "username": "u@example.com", "password": "correct horse"}

    own = await env.token(params, spa, json=True, headers={"Origin": APP, "Auth0-Client": "e30="})
    foreign = await env.token(params, spa, json=True, headers={"Origin": OTHER_APP})
    evil = await env.token(params, spa, json=True, headers={"Origin": EVIL})

    assert_tokens(own)
    assert own.headers["access-control-allow-origin"] == APP
    # Registered, but by another client: that client's pages may not read this one's tokens.
    assert "access-control-allow-origin" not in foreign.headers
    assert "access-control-allow-origin" not in evil.headers
    assert all(r.headers.get("access-control-allow-origin") != "*" for r in (own, foreign, evil))


async def test_errors_for_the_named_client_are_readable_by_its_origin(env, spa):
    resp = await env.token(
        {"grant_type": "refresh_token", "refresh_token": "x"}, spa, headers={"Origin": APP}
    )
    assert resp.status_code == 403
    assert resp.headers["access-control-allow-origin"] == APP


async def test_revoke_answer_for_the_clients_origin(env, spa):
    data = {**spa.post(), "token": "unknown"}
    own = await env.http.post("/oauth/revoke", data=data, headers={"Origin": APP})
    foreign = await env.http.post("/oauth/revoke", data=data, headers={"Origin": OTHER_APP})
    assert own.status_code == foreign.status_code == 200
    assert own.headers["access-control-allow-origin"] == APP
    assert "access-control-allow-origin" not in foreign.headers


async def test_userinfo_readable_by_the_tokens_client_origin(env, spa):
    token = assert_tokens(await env.password(spa, scope="openid"))["access_token"]
    auth = {"Authorization": f"Bearer {token}"}

    own = await env.http.get("/userinfo", headers={**auth, "Origin": APP})
    foreign = await env.http.get("/userinfo", headers={**auth, "Origin": OTHER_APP})
    bad_token = await env.http.get(
        "/userinfo", headers={"Authorization": "Bearer x", "Origin": APP}
    )
    bad_token_evil = await env.http.get(
        "/userinfo", headers={"Authorization": "Bearer x", "Origin": EVIL}
    )

    assert own.headers["access-control-allow-origin"] == APP
    assert "access-control-allow-origin" not in foreign.headers
    # No client is named: an origin some client registered may read the error.
    assert bad_token.status_code == 401
    assert bad_token.headers["access-control-allow-origin"] == APP
    assert "access-control-allow-origin" not in bad_token_evil.headers


async def test_other_paths_have_no_cors(env, spa):
    resp = await env.http.get("/.well-known/jwks.json", headers={"Origin": APP})
    assert "access-control-allow-origin" not in resp.headers
    resp = await _preflight(env, "/mfa/associate", APP)
    assert "access-control-allow-origin" not in resp.headers


async def test_an_origin_removed_from_the_client_is_refused(env, spa):
    await env.admin.update_client(spa.client_id, web_origins=[])
    resp = await _preflight(env, "/oauth/token", APP)
    assert "access-control-allow-origin" not in resp.headers

"""Who may call /api/v2/: client_credentials tokens for the Management API only, each call
checking its Auth0 scope, within a per-client budget per minute."""

from __future__ import annotations

import pytest

from .management_support import MGMT, assert_mgmt_error, auth, mgmt_token
from .support import (
    API,
    GRANT_CC,
    MFA_AUDIENCE,
    assert_error,
    assert_tokens,
)

pytestmark = pytest.mark.anyio


async def test_management_api_is_built_in_with_auth0_scopes(env):
    client = await env.client(grant_types=[GRANT_CC], api_grants={MGMT: ("read:users",)})

    resp = await env.token({"grant_type": GRANT_CC, "audience": MGMT}, client)

    body = assert_tokens(resp)
    assert body["scope"] == "read:users"
    _, claims = await env.decode(body["access_token"])
    assert claims["aud"] == MGMT
    assert claims["gty"] == "client-credentials"
    listed = await env.http.get("/api/v2/users", headers=auth(body["access_token"]))
    assert listed.status_code == 200, listed.text


async def test_unknown_management_scope_is_refused_when_granting(env):
    from twofold.core.admin import AdminError

    with pytest.raises(AdminError):
        await env.client(grant_types=[GRANT_CC], api_grants={MGMT: ("read:everything",)})
    with pytest.raises(AdminError):
        await env.admin.create_api(MGMT, scopes=("x",))


async def test_client_not_granted_the_management_api_gets_no_token(env):
    await env.api()
    client = await env.client(grant_types=[GRANT_CC], api_grants={API: ("read:x",)})

    resp = await env.token({"grant_type": GRANT_CC, "audience": MGMT}, client)

    assert_error(resp, 403, "access_denied")


async def test_missing_scope_is_403_naming_the_expected_ones(env):
    token = await mgmt_token(env, ("read:users",))

    resp = await env.http.delete("/api/v2/users/auth0|abc", headers=auth(token))

    assert_mgmt_error(
        resp, 403, "insufficient_scope", "Insufficient scope, expected any of: delete:users"
    )
    assert resp.json()["error"] == "Forbidden"


@pytest.mark.parametrize(
    "header", [None, "Bearer", "Basic abc", "Bearer not-a-jwt", "Bearer a.b.c"]
)
async def test_bad_token_is_401(env, header):
    headers = {"Authorization": header} if header else {}

    resp = await env.http.get("/api/v2/users", headers=headers)

    assert_mgmt_error(resp, 401, "invalid_token")


async def test_user_token_cannot_call_management_api(env):
    client = await env.client()
    await env.user()
    await env.tenant(mfa_policy="never")

    # No user token is minted for the Management API...
    refused = await env.password(client, audience=MGMT)
    assert_error(refused, 403, "access_denied")
    # ...and a user token for another audience is not accepted there.
    await env.api()
    user_token = assert_tokens(await env.password(client, audience=API))["access_token"]
    resp = await env.http.get("/api/v2/users", headers=auth(user_token))
    assert_mgmt_error(resp, 401, "invalid_token")


async def test_mfa_api_token_cannot_call_management_api(env):
    client = await env.client()
    enrolled = await env.enrolled(client)
    mfa_api = await env.mfa_api_token(client, enrolled, "read:authenticators")

    resp = await env.http.get("/api/v2/users", headers=auth(mfa_api["access_token"]))

    assert_mgmt_error(resp, 401, "invalid_token")


async def test_management_token_cannot_be_used_on_mfa_api_nor_as_mfa_token(env):
    token = await mgmt_token(env)
    client = await env.client()

    listed = await env.list_authenticators(token)
    assert_error(listed, 401, "invalid_token")
    grant = await env.otp_grant(client, token, "123456")
    assert grant.status_code in (400, 401, 403), grant.text
    assert grant.json()["error"] in ("invalid_grant", "invalid_token"), grant.text
    assert "access_token" not in grant.json()


async def test_token_of_a_client_with_another_audience_claim_is_refused(env):
    # A token for the MFA audience minted by client_credentials is not a Management token.
    await env.api()
    client = await env.client(grant_types=[GRANT_CC], api_grants={API: ("read:x",)})
    other = assert_tokens(await env.token({"grant_type": GRANT_CC, "audience": API}, client))

    resp = await env.http.get("/api/v2/users", headers=auth(other["access_token"]))

    assert_mgmt_error(resp, 401, "invalid_token")
    assert MFA_AUDIENCE != MGMT


async def test_rate_limit_headers_and_429(env, services):
    services.deps.policy = type(services.deps.policy)(management_requests_per_minute=3)
    token = await mgmt_token(env, ("read:users",))

    seen = []
    for _ in range(3):
        resp = await env.http.get("/api/v2/users", headers=auth(token))
        assert resp.status_code == 200, resp.text
        seen.append(int(resp.headers["x-ratelimit-remaining"]))
    assert seen == [2, 1, 0]
    assert resp.headers["x-ratelimit-limit"] == "3"
    reset = int(resp.headers["x-ratelimit-reset"])
    assert reset > env.clock.now()

    over = await env.http.get("/api/v2/users", headers=auth(token))
    assert_mgmt_error(over, 429, "too_many_requests")
    assert over.headers["x-ratelimit-remaining"] == "0"
    assert int(over.headers["retry-after"]) >= 1

    env.clock.set(reset)
    again = await env.http.get("/api/v2/users", headers=auth(token))
    assert again.status_code == 200, again.text


async def test_rate_limit_is_per_client(env, services):
    services.deps.policy = type(services.deps.policy)(management_requests_per_minute=1)
    first = await mgmt_token(env, ("read:users",))
    second = await mgmt_token(env, ("read:users",))

    assert (await env.http.get("/api/v2/users", headers=auth(first))).status_code == 200
    assert (await env.http.get("/api/v2/users", headers=auth(first))).status_code == 429
    assert (await env.http.get("/api/v2/users", headers=auth(second))).status_code == 200


async def test_deleted_client_token_stops_working(env):
    token = await mgmt_token(env, ("read:users",))
    client_id = (await env.decode(token))[1]["azp"]

    await env.admin.delete_client(client_id)

    resp = await env.http.get("/api/v2/users", headers=auth(token))
    assert_mgmt_error(resp, 401, "invalid_token")


async def test_clients_create_scope_narrows_the_grant(env):
    grants = await env.admin.all_scopes_of([MGMT])
    narrowed = await env.admin.narrow_scopes(grants, ["read:users", "read:logs"])
    client = await env.client(grant_types=[GRANT_CC], api_grants=narrowed)

    body = assert_tokens(await env.token({"grant_type": GRANT_CC, "audience": MGMT}, client))

    assert body["scope"].split() == ["read:users", "read:logs"]
    resp = await env.http.delete("/api/v2/users/auth0|x", headers=auth(body["access_token"]))
    assert_mgmt_error(resp, 403, "insufficient_scope")


async def test_management_audience_without_trailing_slash(env):
    client = await env.client(
        grant_types=[GRANT_CC], api_grants={MGMT.rstrip("/"): ("read:users",)}
    )

    for audience in (MGMT, MGMT.rstrip("/")):
        body = assert_tokens(
            await env.token({"grant_type": GRANT_CC, "audience": audience}, client)
        )
        assert body["scope"] == "read:users"
        resp = await env.http.get("/api/v2/users", headers=auth(body["access_token"]))
        assert resp.status_code == 200, resp.text


async def test_scope_is_checked_before_the_body_is_read(env):
    token = await mgmt_token(env, ("read:users",))

    resp = await env.http.post(
        "/api/v2/users",
        content=b"{not json",
        headers={**auth(token), "Content-Type": "application/json"},
    )

    assert_mgmt_error(resp, 403, "insufficient_scope")


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/api/v2/no-such-resource", 404, "not_found"),
        ("POST", "/api/v2/users/auth0|x/multifactor/actions/no-such-action", 404, "not_found"),
        # The id holds a slash once decoded, so no route matches it.
        ("GET", "/api/v2/users/auth0%7Cx%2Fy", 404, "not_found"),
        ("DELETE", "/api/v2/users", 405, "method_not_allowed"),
        ("PUT", "/api/v2/users/auth0|x", 405, "method_not_allowed"),
    ],
)
async def test_unrouted_requests_answer_the_management_shape(env, method, path, status, code):
    token = await mgmt_token(env)

    resp = await env.http.request(method, path, headers=auth(token))

    assert_mgmt_error(resp, status, code)


async def test_unrouted_requests_elsewhere_keep_the_oauth_shape(env):
    assert_error(await env.http.get("/api/v3/users"), 404, "not_found")
    assert_error(await env.http.get("/api/v2"), 404, "not_found")

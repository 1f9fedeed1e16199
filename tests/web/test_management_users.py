"""/api/v2/users, /users/{id}, /users-by-email: Auth0's shapes, paging, search, errors."""

from __future__ import annotations

import re

import pytest

from .management_support import assert_mgmt_error, auth, mgmt_token
from .support import GRANT_REFRESH, REALM, assert_error, assert_tokens

pytestmark = pytest.mark.anyio

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


async def _create(env, token, email="new@example.com", **extra):
    body = {"connection": REALM, "email": email, "password": "a long password", **extra}
    return await env.http.post("/api/v2/users", json=body, headers=auth(token))


async def test_create_user_shape(env):
    token = await mgmt_token(env)

    resp = await _create(
        env,
        token,
        email="New@Example.com",
        email_verified=True,
        user_metadata={"theme": "dark"},
        app_metadata={"plan": "pro"},
    )

    assert resp.status_code == 201, resp.text
    user = resp.json()
    assert re.fullmatch(r"auth0\|[0-9a-f]{24}", user["user_id"]), user
    assert user["email"] == "new@example.com"
    assert user["email_verified"] is True
    assert user["blocked"] is False
    assert ISO.match(user["created_at"]), user
    assert ISO.match(user["updated_at"]), user
    assert user["identities"] == [
        {
            "connection": REALM,
            "provider": "auth0",
            "user_id": user["user_id"].split("|", 1)[1],
            "isSocial": False,
        }
    ]
    assert user["user_metadata"] == {"theme": "dark"}
    assert user["app_metadata"] == {"plan": "pro"}
    assert "password" not in resp.text

    fetched = await env.http.get(f"/api/v2/users/{user['user_id']}", headers=auth(token))
    assert fetched.status_code == 200
    assert fetched.json() == user


async def test_created_user_can_log_in(env):
    token = await mgmt_token(env)
    await env.tenant(mfa_policy="never")
    client = await env.client()
    assert (await _create(env, token, user_id="custom-1")).status_code == 201

    resp = await env.password(client, username="new@example.com", password="a long password")

    assert_tokens(resp)
    got = await env.http.get("/api/v2/users/auth0|custom-1", headers=auth(token))
    assert got.json()["email"] == "new@example.com"


async def test_duplicate_email_is_409(env):
    token = await mgmt_token(env)
    assert (await _create(env, token)).status_code == 201

    resp = await _create(env, token, email="NEW@example.com")

    assert_mgmt_error(resp, 409, "auth0_idp_error", "The user already exists.")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "a@b.c", "password": "a long password"}, "connection"),
        ({"connection": REALM, "password": "a long password"}, "email"),
        ({"connection": REALM, "email": "a@b.c"}, "password"),
        ({"connection": REALM, "email": 7, "password": "a long password"}, "email"),
        ({"connection": REALM, "email": "nope", "password": "a long password"}, "email"),
        ({"connection": REALM, "email": "a@b.c", "password": "x" * 9, "blocked": "yes"}, "blocked"),
        (
            {"connection": REALM, "email": "a@b.c", "password": "x" * 9, "user_metadata": []},
            "user_metadata",
        ),
        ({"connection": REALM, "email": "a@b.c", "password": "x" * 9, "bogus": 1}, "bogus"),
        ({"connection": REALM, "email": "a@b.c", "password": "x" * 9, "user_id": "a|b"}, "user_id"),
    ],
)
async def test_bad_body_is_400_naming_the_field(env, body, field):
    token = await mgmt_token(env)

    resp = await env.http.post("/api/v2/users", json=body, headers=auth(token))

    err = assert_mgmt_error(resp, 400, "invalid_body")
    assert field in err["message"], err


@pytest.mark.parametrize("raw", [b"[1,2", b"[]", b'"x"', b"\xff"])
async def test_malformed_json_is_400(env, raw):
    token = await mgmt_token(env)

    resp = await env.http.post(
        "/api/v2/users",
        content=raw,
        headers={**auth(token), "Content-Type": "application/json"},
    )

    assert_mgmt_error(resp, 400, "invalid_body")


async def test_weak_password_is_400(env):
    token = await mgmt_token(env)

    resp = await _create(env, token, password="short")

    assert_mgmt_error(resp, 400, "invalid_body")


async def test_list_page_totals_sort_and_search(env):
    token = await mgmt_token(env)
    for i in range(5):
        assert (await _create(env, token, email=f"u{i}@example.com")).status_code == 201
        env.clock.advance(1)

    bare = await env.http.get("/api/v2/users", headers=auth(token))
    assert [u["email"] for u in bare.json()] == [f"u{i}@example.com" for i in range(5)]

    page = await env.http.get(
        "/api/v2/users",
        params={"page": 1, "per_page": 2, "include_totals": "true", "sort": "email:-1"},
        headers=auth(token),
    )
    body = page.json()
    assert {k: body[k] for k in ("start", "limit", "length", "total")} == {
        "start": 2,
        "limit": 2,
        "length": 2,
        "total": 5,
    }
    assert [u["email"] for u in body["users"]] == ["u2@example.com", "u1@example.com"]

    found = await env.http.get(
        "/api/v2/users",
        params={"q": 'email:"U3@example.com"', "include_totals": "true"},
        headers=auth(token),
    )
    assert found.json()["total"] == 1
    user_id = found.json()["users"][0]["user_id"]
    by_id = await env.http.get(
        "/api/v2/users", params={"q": f'user_id:"{user_id}"'}, headers=auth(token)
    )
    assert [u["email"] for u in by_id.json()] == ["u3@example.com"]
    both = await env.http.get(
        "/api/v2/users",
        params={"q": f'user_id:"{user_id}" AND email:"u4@example.com"'},
        headers=auth(token),
    )
    assert both.json() == []


@pytest.mark.parametrize(
    "params",
    [
        {"page": "-1"},
        {"page": "x"},
        {"per_page": "0"},
        {"per_page": "101"},
        {"include_totals": "maybe"},
        {"sort": "password:1"},
        {"sort": "email"},
        {"q": "name:bob"},
        {"q": 'email:"a" OR email:"b"'},
        {"page": "20", "per_page": "100"},
    ],
)
async def test_bad_query_is_400(env, params):
    token = await mgmt_token(env)

    resp = await env.http.get("/api/v2/users", params=params, headers=auth(token))

    assert_mgmt_error(resp, 400, "invalid_query_string")


async def test_users_by_email(env):
    token = await mgmt_token(env)
    await _create(env, token, email="found@example.com")

    resp = await env.http.get(
        "/api/v2/users-by-email", params={"email": "Found@Example.com"}, headers=auth(token)
    )

    assert [u["email"] for u in resp.json()] == ["found@example.com"]
    none = await env.http.get(
        "/api/v2/users-by-email", params={"email": "x@example.com"}, headers=auth(token)
    )
    assert none.json() == []
    missing = await env.http.get("/api/v2/users-by-email", headers=auth(token))
    assert_mgmt_error(missing, 400, "invalid_query_string")


async def test_unknown_user_is_404(env):
    token = await mgmt_token(env)

    for method in ("GET", "PATCH", "DELETE"):
        resp = await env.http.request(
            method,
            "/api/v2/users/auth0|nobody",
            headers=auth(token),
            json={} if method == "PATCH" else None,
        )
        assert_mgmt_error(resp, 404, "inexistent_user")


async def test_patch_metadata_merges_and_null_deletes(env):
    token = await mgmt_token(env)
    user = (await _create(env, token, user_metadata={"a": 1, "b": {"x": 1}, "c": 3})).json()
    env.clock.advance(10)

    resp = await env.http.patch(
        f"/api/v2/users/{user['user_id']}",
        json={"user_metadata": {"b": {"y": 2}, "c": None, "d": 4}, "name": "Neo"},
        headers=auth(token),
    )

    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["user_metadata"] == {"a": 1, "b": {"x": 1, "y": 2}, "d": 4}
    assert body["name"] == "Neo"
    assert body["updated_at"] > body["created_at"]


async def test_patch_with_app_metadata_scope_only_changes_metadata(env):
    token = await mgmt_token(env)
    user = (await _create(env, token)).json()
    narrow = await mgmt_token(env, ("update:users_app_metadata",))
    url = f"/api/v2/users/{user['user_id']}"

    ok = await env.http.patch(url, json={"app_metadata": {"k": 1}}, headers=auth(narrow))
    assert ok.status_code == 200, ok.text
    refused = await env.http.patch(url, json={"blocked": True}, headers=auth(narrow))
    assert_mgmt_error(refused, 403, "insufficient_scope")


async def test_patch_email_conflict_and_password(env):
    token = await mgmt_token(env)
    await env.tenant(mfa_policy="never")
    client = await env.client()
    await _create(env, token, email="taken@example.com")
    user = (await _create(env, token)).json()
    url = f"/api/v2/users/{user['user_id']}"

    taken = await env.http.patch(url, json={"email": "taken@example.com"}, headers=auth(token))
    assert_mgmt_error(taken, 409, "auth0_idp_error")
    bad = await env.http.patch(url, json={"email_verified": "yes"}, headers=auth(token))
    assert_mgmt_error(bad, 400, "invalid_body")

    changed = await env.http.patch(
        url,
        json={"password": "another long one", "email": "moved@example.com"},
        headers=auth(token),
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["email_verified"] is False
    old = await env.password(client, username="moved@example.com", password="a long password")
    assert_error(old, 403, "invalid_grant")
    assert_tokens(
        await env.password(client, username="moved@example.com", password="another long one")
    )


async def test_blocked_user_cannot_log_in_and_loses_sessions(env):
    token = await mgmt_token(env)
    await env.tenant(mfa_policy="never")
    client = await env.client()
    user = (await _create(env, token)).json()
    login = {"username": "new@example.com", "password": "a long password"}
    refresh = assert_tokens(await env.password(client, **login, scope="openid offline_access"))[
        "refresh_token"
    ]
    url = f"/api/v2/users/{user['user_id']}"

    blocked = await env.http.patch(url, json={"blocked": True}, headers=auth(token))
    assert blocked.json()["blocked"] is True

    assert_error(await env.password(client, **login), 401, "unauthorized", "user is blocked")
    # A wrong password still says only that.
    wrong = await env.password(client, username="new@example.com", password="wrong password")
    assert_error(wrong, 403, "invalid_grant")
    assert_error(
        await env.token({"grant_type": GRANT_REFRESH, "refresh_token": refresh}, client),
        403,
        "invalid_grant",
    )

    await env.http.patch(url, json={"blocked": False}, headers=auth(token))
    assert_tokens(await env.password(client, **login))


async def test_blocked_enrolled_user_cannot_pass_mfa(env):
    client = await env.client()
    enrolled = await env.enrolled(client)
    mfa_token = await env.mfa_token(client)
    token = await mgmt_token(env)
    await env.http.patch(
        f"/api/v2/users/{enrolled.user.user_id}", json={"blocked": True}, headers=auth(token)
    )

    resp = await env.otp_grant(client, mfa_token, env.code(enrolled.secret))

    assert_error(resp, 401, "unauthorized", "user is blocked")


async def test_delete_user_revokes_refresh_tokens(env):
    token = await mgmt_token(env)
    await env.tenant(mfa_policy="never")
    client = await env.client()
    user = (await _create(env, token)).json()
    tokens = assert_tokens(
        await env.password(
            client,
            username="new@example.com",
            password="a long password",
            scope="openid offline_access",
        )
    )

    resp = await env.http.delete(f"/api/v2/users/{user['user_id']}", headers=auth(token))

    assert resp.status_code == 204
    assert resp.content == b""
    gone = await env.http.get(f"/api/v2/users/{user['user_id']}", headers=auth(token))
    assert_mgmt_error(gone, 404, "inexistent_user")
    refreshed = await env.token(
        {"grant_type": GRANT_REFRESH, "refresh_token": tokens["refresh_token"]}, client
    )
    assert_error(refreshed, 403, "invalid_grant")
    # The same email may be used again.
    assert (await _create(env, token)).status_code == 201


@pytest.mark.parametrize(
    ("method", "path", "scope"),
    [
        ("GET", "/api/v2/users", "read:users"),
        ("POST", "/api/v2/users", "create:users"),
        ("GET", "/api/v2/users/auth0|x", "read:users"),
        ("PATCH", "/api/v2/users/auth0|x", "update:users"),
        ("DELETE", "/api/v2/users/auth0|x", "delete:users"),
        ("GET", "/api/v2/users-by-email?email=a@b.c", "read:users"),
    ],
)
async def test_each_users_endpoint_checks_its_scope(env, method, path, scope):
    others = tuple(
        s for s in ("read:users", "create:users", "update:users", "delete:users") if s != scope
    )
    token = await mgmt_token(env, (*others, "read:logs"))

    resp = await env.http.request(
        method, path, headers=auth(token), json={"x": 1} if method in ("POST", "PATCH") else None
    )

    err = assert_mgmt_error(resp, 403, "insufficient_scope")
    assert scope in err["message"]


@pytest.mark.parametrize("field", ["email", "name", "connection", "username"])
async def test_control_characters_are_400_not_500(env, field):
    token = await mgmt_token(env)
    body = {"connection": REALM, "email": "nul@example.com", "password": "a long password"}
    body[field] = "a\x00b@example.com" if field == "email" else "a\x00b"

    resp = await env.http.post("/api/v2/users", json=body, headers=auth(token))

    err = assert_mgmt_error(resp, 400, "invalid_body")
    assert field in err["message"]


async def test_nul_in_path_and_query_finds_nothing(env):
    token = await mgmt_token(env)

    got = await env.http.get("/api/v2/users/auth0%7Ca%00b", headers=auth(token))
    assert_mgmt_error(got, 404, "inexistent_user")
    found = await env.http.get("/api/v2/users", params={"q": 'email:"a\x00b"'}, headers=auth(token))
    assert found.json() == []


async def test_blocked_user_gets_no_challenge_and_cannot_enrol(env):
    client = await env.client()
    enrolled = await env.enrolled(client)
    mfa_token = await env.mfa_token(client)
    fresh = await env.user("fresh@example.com")
    fresh_token = await env.mfa_token(client, username="fresh@example.com")
    token = await mgmt_token(env)
    for user_id in (enrolled.user.user_id, fresh.user_id):
        await env.http.patch(
            f"/api/v2/users/{user_id}", json={"blocked": True}, headers=auth(token)
        )

    challenged = await env.challenge(client, mfa_token)
    assert_error(challenged, 401, "unauthorized", "user is blocked")
    associated = await env.associate(fresh_token)
    assert_error(associated, 401, "unauthorized", "user is blocked")

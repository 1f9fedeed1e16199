"""`fields` and `include_fields` on the Management API's user reads (GET /users, /users/{id},
/users-by-email), as on Auth0: keep the listed properties, or leave them out."""

from __future__ import annotations

import pytest

from .management_support import assert_mgmt_error, auth, mgmt_token

pytestmark = pytest.mark.anyio

EVERY_FIELD = {
    "user_id",
    "email",
    "email_verified",
    "name",
    "nickname",
    "created_at",
    "updated_at",
    "identities",
    "user_metadata",
    "app_metadata",
    "blocked",
}


@pytest.fixture
async def token(env):
    return await mgmt_token(env)


@pytest.fixture
async def user(env):
    return await env.user("ann@example.com")


async def _get(env, token, user, **params):
    resp = await env.http.get(f"/api/v2/users/{user.user_id}", params=params, headers=auth(token))
    assert resp.status_code == 200, resp.text
    return resp.json()


async def test_without_fields_every_property_is_there(env, token, user):
    assert set(await _get(env, token, user)) == EVERY_FIELD
    assert set(await _get(env, token, user, fields="", include_fields="false")) == EVERY_FIELD


async def test_fields_keeps_only_the_listed_properties(env, token, user):
    got = await _get(env, token, user, fields="user_id,email", include_fields="true")

    assert got == {"user_id": user.user_id, "email": "ann@example.com"}
    # include_fields defaults to true; blanks around names are ignored.
    assert await _get(env, token, user, fields=" email , ,blocked ") == {
        "email": "ann@example.com",
        "blocked": False,
    }


async def test_include_fields_false_leaves_the_listed_properties_out(env, token, user):
    got = await _get(env, token, user, fields="identities,app_metadata", include_fields="false")

    assert set(got) == EVERY_FIELD - {"identities", "app_metadata"}
    assert got["user_id"] == user.user_id


async def test_names_that_are_no_user_property_select_nothing(env, token, user):
    assert await _get(env, token, user, fields="email,nope") == {"email": "ann@example.com"}
    # A stored column that the API never shows stays hidden whatever is asked for.
    assert await _get(env, token, user, fields="password_hash,realm,password") == {}


async def test_list_and_page_apply_the_projection_to_each_user(env, token, user):
    await env.user("bob@example.com")

    bare = await env.http.get(
        "/api/v2/users", params={"fields": "email", "sort": "email:1"}, headers=auth(token)
    )
    page = await env.http.get(
        "/api/v2/users",
        params={"fields": "email,user_metadata", "include_fields": "false", "per_page": "1"},
        headers=auth(token),
    )
    totals = await env.http.get(
        "/api/v2/users",
        params={"fields": "user_id", "include_totals": "true", "per_page": "1", "sort": "email:1"},
        headers=auth(token),
    )

    assert bare.json() == [{"email": "ann@example.com"}, {"email": "bob@example.com"}]
    [first] = page.json()
    assert set(first) == EVERY_FIELD - {"email", "user_metadata"}
    assert totals.json() == {
        "start": 0,
        "limit": 1,
        "length": 1,
        "total": 2,
        "users": [{"user_id": user.user_id}],
    }


async def test_users_by_email_applies_the_projection(env, token, user):
    resp = await env.http.get(
        "/api/v2/users-by-email",
        params={"email": "ann@example.com", "fields": "user_id,email_verified"},
        headers=auth(token),
    )

    assert resp.json() == [{"user_id": user.user_id, "email_verified": True}]


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/v2/users", {}),
        ("/api/v2/users-by-email", {"email": "ann@example.com"}),
        ("/api/v2/users/{id}", {}),
    ],
)
async def test_bad_include_fields_is_400(env, token, user, path, params):
    resp = await env.http.get(
        path.format(id=user.user_id),
        params={**params, "fields": "email", "include_fields": "perhaps"},
        headers=auth(token),
    )

    body = assert_mgmt_error(resp, 400, "invalid_query_string")
    assert "include_fields" in body["message"]


async def test_fields_does_not_widen_a_token_scope(env, user):
    writer = await mgmt_token(env, ("update:users",))

    resp = await env.http.get(
        f"/api/v2/users/{user.user_id}", params={"fields": "email"}, headers=auth(writer)
    )

    assert_mgmt_error(resp, 403, "insufficient_scope")

"""/api/v2/logs, /logs/{id}, /users/{id}/logs: the audit trail with Auth0's event type codes."""

from __future__ import annotations

import pytest

from .management_support import ALL_SCOPES, assert_mgmt_error, auth, mgmt_token
from .support import EMAIL, wrong_code

pytestmark = pytest.mark.anyio


async def _activity(env):
    """A failed password, an mfa_required, a failed and a good OTP for one user."""
    client = await env.client(name="Portal")
    enrolled = await env.enrolled(client)
    await env.password(client, password="wrong password")
    mfa_token = await env.mfa_token(client)
    await env.otp_grant(client, mfa_token, wrong_code(env.code(enrolled.secret)))
    return client, enrolled


async def test_logs_newest_first_with_auth0_shape(env):
    client, enrolled = await _activity(env)
    token = await mgmt_token(env)

    resp = await env.http.get("/api/v2/logs", headers=auth(token))

    items = resp.json()
    assert resp.status_code == 200, resp.text
    types = [i["type"] for i in items]
    assert types[0] == "gd_auth_failed"
    assert {"fp", "mfar", "gd_auth_succeed", "gd_auth_failed"} <= set(types)
    first = items[0]
    assert first["user_id"] == enrolled.user.user_id
    assert first["user_name"] == EMAIL
    assert first["client_id"] == client.client_id
    assert first["client_name"] == "Portal"
    assert first["date"].endswith("Z")
    assert first["log_id"].isdigit()
    ids = [int(i["log_id"]) for i in items]
    assert ids == sorted(ids, reverse=True)


async def test_filter_by_type_and_user_and_page(env):
    _, enrolled = await _activity(env)
    token = await mgmt_token(env)

    failed = await env.http.get(
        "/api/v2/logs", params={"q": 'type:"fp"', "include_totals": "true"}, headers=auth(token)
    )
    body = failed.json()
    assert body["total"] == 1
    assert [i["type"] for i in body["logs"]] == ["fp"]

    mine = await env.http.get(
        f"/api/v2/users/{enrolled.user.user_id}/logs",
        params={"per_page": 2, "page": 0, "include_totals": "true"},
        headers=auth(token),
    )
    page = mine.json()
    assert page["length"] == 2
    assert page["total"] >= 4
    assert all(i["user_id"] == enrolled.user.user_id for i in page["logs"])
    combined = await env.http.get(
        "/api/v2/logs",
        params={"q": f'type:mfar AND user_id:"{enrolled.user.user_id}"'},
        headers=auth(token),
    )
    assert {i["type"] for i in combined.json()} == {"mfar"}


async def test_checkpoint_paging_and_get_one(env):
    await _activity(env)
    token = await mgmt_token(env)
    everything = (await env.http.get("/api/v2/logs", headers=auth(token))).json()
    oldest_first = [i["log_id"] for i in reversed(everything)]

    first = await env.http.get("/api/v2/logs", params={"from": "", "take": 2}, headers=auth(token))
    assert [i["log_id"] for i in first.json()] == oldest_first[:2]
    after = await env.http.get(
        "/api/v2/logs", params={"from": oldest_first[1], "take": 100}, headers=auth(token)
    )
    assert [i["log_id"] for i in after.json()] == oldest_first[2:]

    one = await env.http.get(f"/api/v2/logs/{oldest_first[0]}", headers=auth(token))
    assert one.json() == everything[-1]
    for missing in ("999999", "abc", "0"):
        resp = await env.http.get(f"/api/v2/logs/{missing}", headers=auth(token))
        assert_mgmt_error(resp, 404, "inexistent_log")


async def test_sort_by_date_either_way(env):
    _, enrolled = await _activity(env)
    token = await mgmt_token(env)
    newest = [i["log_id"] for i in (await env.http.get("/api/v2/logs", headers=auth(token))).json()]

    async def ids(path, **params):
        resp = await env.http.get(path, params=params, headers=auth(token))
        assert resp.status_code == 200, resp.text
        return [i["log_id"] for i in resp.json()]

    assert await ids("/api/v2/logs", sort="date:-1") == newest
    assert await ids("/api/v2/logs", sort="date:1") == newest[::-1]
    assert await ids("/api/v2/logs", sort="date:1", page=1, per_page=2) == newest[::-1][2:4]
    mine = await ids(f"/api/v2/users/{enrolled.user.user_id}/logs", sort="date:1")
    assert mine == sorted(mine, key=int)
    assert len(mine) >= 4


async def test_fields_keep_or_leave_out_log_properties(env):
    await _activity(env)
    token = await mgmt_token(env)

    async def logs(**params):
        resp = await env.http.get("/api/v2/logs", params=params, headers=auth(token))
        assert resp.status_code == 200, resp.text
        return resp.json()

    kept = await logs(fields="log_id,type", include_fields="true", include_totals="true")
    assert kept["total"] == len(kept["logs"])
    assert all(set(i) == {"log_id", "type"} for i in kept["logs"]), kept
    left_out = await logs(fields="details,ip,user_agent", include_fields="false")
    assert left_out
    assert all(i.keys().isdisjoint({"details", "ip", "user_agent"}) for i in left_out)
    assert all("log_id" in i and "type" in i for i in left_out)
    checkpoint = await logs(**{"from": "", "take": "2", "fields": "log_id"})
    assert [set(i) for i in checkpoint] == [{"log_id"}, {"log_id"}]


@pytest.mark.parametrize(
    "params",
    [
        {"q": "ip:1.2.3.4"},
        {"from": "x"},
        {"take": "0"},
        {"take": "101"},
        {"per_page": "-1"},
        {"sort": "type:1"},
        {"sort": "date"},
        {"include_fields": "sometimes"},
    ],
)
async def test_bad_log_query_is_400(env, params):
    token = await mgmt_token(env)

    resp = await env.http.get("/api/v2/logs", params=params, headers=auth(token))

    assert_mgmt_error(resp, 400, "invalid_query_string")


async def test_user_logs_of_unknown_user_is_404(env):
    token = await mgmt_token(env)

    resp = await env.http.get("/api/v2/users/auth0|nobody/logs", headers=auth(token))

    assert_mgmt_error(resp, 404, "inexistent_user")


@pytest.mark.parametrize(
    ("path", "missing"),
    [
        ("/api/v2/logs", ("read:logs",)),
        ("/api/v2/logs/1", ("read:logs",)),
        ("/api/v2/users/auth0|x/logs", ("read:logs", "read:logs_users")),
    ],
)
async def test_logs_check_their_scope(env, path, missing):
    token = await mgmt_token(env, tuple(s for s in ALL_SCOPES if s not in missing))

    resp = await env.http.get(path, headers=auth(token))

    assert_mgmt_error(resp, 403, "insufficient_scope")


async def test_changes_through_the_api_are_logged_as_sapi(env):
    token = await mgmt_token(env)
    created = await env.http.post(
        "/api/v2/users",
        json={
            "connection": "Username-Password-Authentication",
            "email": "s@example.com",
            "password": "a long password",
        },
        headers=auth(token),
    )
    user_id = created.json()["user_id"]
    await env.http.patch(f"/api/v2/users/{user_id}", json={"blocked": True}, headers=auth(token))
    await env.http.get(f"/api/v2/users/{user_id}", headers=auth(token))

    resp = await env.http.get("/api/v2/logs", params={"q": 'type:"sapi"'}, headers=auth(token))

    operations = [(i["details"]["operation"], i["user_id"]) for i in resp.json()]
    assert operations == [
        ("PATCH /api/v2/users/{user_id}", user_id),
        ("POST /api/v2/users", user_id),
    ]
    assert all(i["description"] == "Success API Operation" for i in resp.json())

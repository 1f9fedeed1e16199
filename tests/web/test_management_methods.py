"""/api/v2/users/{id}/authentication-methods, /authenticators, /enrollments, /guardian/*,
/recovery-code-regeneration: one store with the MFA API, the same ids, the same rules."""

from __future__ import annotations

import base64
from urllib.parse import quote

import pytest

from .management_support import assert_mgmt_error, auth, mgmt_token
from .support import (
    INVALID_RECOVERY,
    RECOVERY_RE,
    TOTP_ID_RE,
    assert_error,
    assert_tokens,
    totp,
)

pytestmark = pytest.mark.anyio

SECRET = base64.b32encode(b"0123456789abcdefghij").decode()


def _url(user_id: str, rest: str = "") -> str:
    return f"/api/v2/users/{quote(user_id, safe='')}/authentication-methods{rest}"


async def _import_totp(env, token, user_id, secret=SECRET, **extra):
    return await env.http.post(
        _url(user_id), json={"type": "totp", "totp_secret": secret, **extra}, headers=auth(token)
    )


async def test_imported_totp_is_confirmed_and_logs_in(env):
    token = await mgmt_token(env)
    client = await env.client()
    user = await env.user()

    resp = await _import_totp(env, token, user.user_id, name="Phone app")

    assert resp.status_code == 201, resp.text
    method = resp.json()
    assert TOTP_ID_RE.match(method["id"]), method
    assert method["type"] == "totp"
    assert method["confirmed"] is True
    assert method["name"] == "Phone app"
    assert "totp_secret" not in method
    mfa_token = await env.mfa_token(client)
    body = assert_tokens(await env.otp_grant(client, mfa_token, totp(SECRET, env.clock.now())))
    assert body["access_token"]


async def test_ids_are_shared_with_the_mfa_api(env):
    token = await mgmt_token(env)
    client = await env.client()
    enrolled = await env.enrolled(client)
    mfa_api = await env.mfa_api_token(client, enrolled, "read:authenticators remove:authenticators")
    listed_mfa = (await env.list_authenticators(mfa_api["access_token"])).json()

    resp = await env.http.get(
        _url(enrolled.user.user_id), params={"include_totals": "true"}, headers=auth(token)
    )

    body = resp.json()
    assert body["start"] == 0
    assert body["total"] == 2
    assert {m["id"] for m in body["authenticators"]} == {a["id"] for a in listed_mfa}
    assert {m["type"] for m in body["authenticators"]} == {"totp", "recovery-code"}
    totp_id = next(m["id"] for m in body["authenticators"] if m["type"] == "totp")
    one = await env.http.get(_url(enrolled.user.user_id, f"/{quote(totp_id)}"), headers=auth(token))
    assert one.json()["id"] == totp_id

    deleted = await env.http.delete(
        _url(enrolled.user.user_id, f"/{quote(totp_id)}"), headers=auth(token)
    )
    assert deleted.status_code == 204
    # Same rule as the MFA API: no factor left, no recovery code either.
    assert (await env.list_authenticators(mfa_api["access_token"])).status_code in (200, 403)
    after = await env.http.get(_url(enrolled.user.user_id), headers=auth(token))
    assert after.json() == []


async def test_phone_and_email_import_encrypted_and_listed(env, services):
    await env.tenant(enabled_factors=["otp", "sms", "voice", "email", "recovery-code"])
    token = await mgmt_token(env)
    user = await env.user()

    phone = await env.http.post(
        _url(user.user_id),
        json={"type": "phone", "phone_number": "+1 (415) 555-0100"},
        headers=auth(token),
    )
    mail = await env.http.post(
        _url(user.user_id),
        json={"type": "email", "email": "Other@Example.com"},
        headers=auth(token),
    )

    assert phone.status_code == 201, phone.text
    p = phone.json()
    assert p["type"] == "phone"
    assert p["phone_number"] == "+14155550100"
    assert p["preferred_authentication_method"] == "sms"
    assert [m["type"] for m in p["authentication_methods"]] == ["sms", "voice"]
    voice_id = p["authentication_methods"][1]["id"]
    assert mail.json()["email"] == "other@example.com"
    # Either row of the pair finds the method.
    got = await env.http.get(_url(user.user_id, f"/{quote(voice_id)}"), headers=auth(token))
    assert got.json()["id"] == p["id"]
    # At rest only ciphertext.
    from sqlalchemy import text

    async with services.database.read_connection() as conn:
        cells = (await conn.execute(text("SELECT target_enc FROM authenticators"))).all()
    assert cells
    assert all("4155550100" not in c[0] and "other@" not in c[0] for c in cells)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "webauthn-roaming"}, "type"),
        ({}, "type"),
        ({"type": "totp"}, "totp_secret"),
        ({"type": "totp", "totp_secret": "not base32!"}, "totp_secret"),
        ({"type": "totp", "totp_secret": "AAAA"}, "totp_secret"),
        ({"type": "phone"}, "phone_number"),
        ({"type": "phone", "phone_number": "12"}, "phone"),
        (
            {
                "type": "phone",
                "phone_number": "+14155550100",
                "preferred_authentication_method": "fax",
            },
            "preferred_authentication_method",
        ),
        ({"type": "email", "email": "nope"}, "email"),
        ({"type": "email", "email": "a@b.co", "extra": 1}, "extra"),
    ],
)
async def test_bad_method_body_is_400(env, body, field):
    await env.tenant(enabled_factors=["otp", "sms", "email", "recovery-code"])
    token = await mgmt_token(env)
    user = await env.user()

    resp = await env.http.post(_url(user.user_id), json=body, headers=auth(token))

    err = assert_mgmt_error(resp, 400, "invalid_body")
    assert field.lower() in err["message"].lower(), err


async def test_per_kind_cap_applies(env, services):
    services.deps.policy = type(services.deps.policy)(max_authenticators_per_kind=1)
    token = await mgmt_token(env)
    user = await env.user()
    assert (await _import_totp(env, token, user.user_id)).status_code == 201

    resp = await _import_totp(env, token, user.user_id)

    assert_mgmt_error(resp, 400, "too_many_authentication_methods")


async def test_unknown_user_and_method_are_404(env):
    token = await mgmt_token(env)
    user = await env.user()

    assert_mgmt_error(
        await env.http.get(_url("auth0|nobody"), headers=auth(token)), 404, "inexistent_user"
    )
    for method in ("GET", "PATCH", "DELETE"):
        resp = await env.http.request(
            method,
            _url(user.user_id, "/totp|dev_nope"),
            headers=auth(token),
            json={} if method == "PATCH" else None,
        )
        assert_mgmt_error(resp, 404, "inexistent_authentication_method")


async def test_patch_renames(env):
    token = await mgmt_token(env)
    user = await env.user()
    method = (await _import_totp(env, token, user.user_id)).json()
    url = _url(user.user_id, f"/{quote(method['id'])}")

    resp = await env.http.patch(url, json={"name": "Work phone"}, headers=auth(token))

    assert resp.json()["name"] == "Work phone"
    assert (await env.http.get(url, headers=auth(token))).json()["name"] == "Work phone"
    bad = await env.http.patch(url, json={"name": 3}, headers=auth(token))
    assert_mgmt_error(bad, 400, "invalid_body")


async def test_put_replaces_all_and_delete_all(env):
    token = await mgmt_token(env)
    client = await env.client()
    enrolled = await env.enrolled(client)
    uid = enrolled.user.user_id
    other = base64.b32encode(b"abcdefghij0123456789").decode()

    put = await env.http.put(
        _url(uid), json=[{"type": "totp", "totp_secret": other}], headers=auth(token)
    )

    assert put.status_code == 200, put.text
    listed = (await env.http.get(_url(uid), headers=auth(token))).json()
    assert [m["id"] for m in listed] == [put.json()[0]["id"]]
    mfa_token = await env.mfa_token(client)
    old = await env.otp_grant(client, mfa_token, env.code(enrolled.secret))
    assert_error(old, 403, "invalid_grant")
    env.next_step()
    assert_tokens(await env.otp_grant(client, mfa_token, totp(other, env.clock.now())))
    # A bad item changes nothing.
    refused = await env.http.put(
        _url(uid), json=[{"type": "totp", "totp_secret": other}, {"type": "x"}], headers=auth(token)
    )
    assert_mgmt_error(refused, 400, "invalid_body")
    assert len((await env.http.get(_url(uid), headers=auth(token))).json()) == 1
    not_array = await env.http.put(_url(uid), json={"type": "totp"}, headers=auth(token))
    assert_mgmt_error(not_array, 400, "invalid_body")

    gone = await env.http.delete(_url(uid), headers=auth(token))
    assert gone.status_code == 204
    assert (await env.http.get(_url(uid), headers=auth(token))).json() == []


async def test_delete_authenticators_resets_mfa(env):
    token = await mgmt_token(env)
    client = await env.client()
    enrolled = await env.enrolled(client)

    resp = await env.http.delete(
        f"/api/v2/users/{enrolled.user.user_id}/authenticators", headers=auth(token)
    )

    assert resp.status_code == 204
    # The user enrols afresh at the next login.
    required = await env.mfa_required(client)
    assert "enroll" in required["mfa_requirements"], required


async def test_enrollments_and_guardian_enrollment(env):
    token = await mgmt_token(env)
    client = await env.client()
    enrolled = await env.enrolled(client)

    resp = await env.http.get(
        f"/api/v2/users/{enrolled.user.user_id}/enrollments", headers=auth(token)
    )

    items = resp.json()
    assert len(items) == 1
    item = items[0]
    assert TOTP_ID_RE.match(item["id"])
    assert item["status"] == "confirmed"
    assert item["auth_method"] == "authenticator"
    got = await env.http.get(
        f"/api/v2/guardian/enrollments/{quote(item['id'])}", headers=auth(token)
    )
    assert got.json() == item
    deleted = await env.http.delete(
        f"/api/v2/guardian/enrollments/{quote(item['id'])}", headers=auth(token)
    )
    assert deleted.status_code == 204
    missing = await env.http.get(
        f"/api/v2/guardian/enrollments/{quote(item['id'])}", headers=auth(token)
    )
    assert_mgmt_error(missing, 404, "inexistent_enrollment")


async def test_guardian_factors(env):
    token = await mgmt_token(env)

    listed = (await env.http.get("/api/v2/guardian/factors", headers=auth(token))).json()
    state = {f["name"]: f["enabled"] for f in listed}
    assert state["otp"] is True
    assert state["sms"] is False
    assert set(state) >= {"sms", "push-notification", "email", "otp", "recovery-code", "duo"}

    on = await env.http.put(
        "/api/v2/guardian/factors/sms", json={"enabled": True}, headers=auth(token)
    )
    assert on.json() == {"enabled": True}
    assert "sms" in (await env.admin.tenant()).enabled_factors
    refused = await env.http.put(
        "/api/v2/guardian/factors/duo", json={"enabled": True}, headers=auth(token)
    )
    assert_mgmt_error(refused, 400, "invalid_body")
    unknown = await env.http.put(
        "/api/v2/guardian/factors/nope", json={"enabled": True}, headers=auth(token)
    )
    assert_mgmt_error(unknown, 404, "inexistent_factor")
    bad = await env.http.put(
        "/api/v2/guardian/factors/otp", json={"enabled": "no"}, headers=auth(token)
    )
    assert_mgmt_error(bad, 400, "invalid_body")


async def test_recovery_code_regeneration_invalidates_the_old_one(env):
    token = await mgmt_token(env)
    client = await env.client()
    enrolled = await env.enrolled(client)

    resp = await env.http.post(
        f"/api/v2/users/{enrolled.user.user_id}/recovery-code-regeneration", headers=auth(token)
    )

    assert resp.status_code == 200, resp.text
    fresh = resp.json()["recovery_code"]
    assert RECOVERY_RE.match(fresh)
    mfa_token = await env.mfa_token(client)
    assert_error(
        await env.recovery_grant(client, mfa_token, enrolled.recovery_code),
        403,
        "invalid_grant",
        INVALID_RECOVERY,
    )
    assert_tokens(await env.recovery_grant(client, mfa_token, fresh))


async def test_recovery_code_needs_an_enrollment(env):
    token = await mgmt_token(env)
    user = await env.user()

    resp = await env.http.post(
        f"/api/v2/users/{user.user_id}/recovery-code-regeneration", headers=auth(token)
    )

    assert_mgmt_error(resp, 400, "no_enrollment")


async def test_imported_totp_gets_a_recovery_code_once_regenerated(env):
    token = await mgmt_token(env)
    client = await env.client()
    user = await env.user()
    await _import_totp(env, token, user.user_id)

    code = (
        await env.http.post(
            f"/api/v2/users/{user.user_id}/recovery-code-regeneration", headers=auth(token)
        )
    ).json()["recovery_code"]

    mfa_token = await env.mfa_token(client)
    assert_tokens(await env.recovery_grant(client, mfa_token, code))


M = "/api/v2/users/auth0|x/authentication-methods"


@pytest.mark.parametrize(
    ("method", "path", "scope"),
    [
        ("GET", M, "read:authentication_methods"),
        ("POST", M, "create:authentication_methods"),
        ("PUT", M, "update:authentication_methods"),
        ("DELETE", M, "delete:authentication_methods"),
        ("GET", M + "/totp|dev_x", "read:authentication_methods"),
        ("PATCH", M + "/totp|dev_x", "update:authentication_methods"),
        ("DELETE", M + "/totp|dev_x", "delete:authentication_methods"),
        ("DELETE", "/api/v2/users/auth0|x/authenticators", "delete:guardian_enrollments"),
        ("GET", "/api/v2/users/auth0|x/enrollments", "read:users"),
        ("GET", "/api/v2/guardian/enrollments/totp|dev_x", "read:guardian_enrollments"),
        ("DELETE", "/api/v2/guardian/enrollments/totp|dev_x", "delete:guardian_enrollments"),
        ("GET", "/api/v2/guardian/factors", "read:guardian_factors"),
        ("PUT", "/api/v2/guardian/factors/otp", "update:guardian_factors"),
        ("POST", "/api/v2/users/auth0|x/recovery-code-regeneration", "update:users"),
    ],
)
async def test_each_method_endpoint_checks_its_scope(env, method, path, scope):
    from .management_support import ALL_SCOPES

    token = await mgmt_token(env, tuple(s for s in ALL_SCOPES if s != scope))

    resp = await env.http.request(
        method,
        path,
        headers=auth(token),
        json={} if method in ("POST", "PATCH", "PUT") else None,
    )

    err = assert_mgmt_error(resp, 403, "insufficient_scope")
    assert scope in err["message"]


async def test_read_users_client_cannot_delete_methods(env):
    token = await mgmt_token(env, ("read:users", "read:authentication_methods"))
    user = await env.user()

    for method, path in (
        ("DELETE", _url(user.user_id)),
        ("DELETE", f"/api/v2/users/{user.user_id}"),
        ("DELETE", f"/api/v2/users/{user.user_id}/authenticators"),
        ("POST", _url(user.user_id)),
    ):
        resp = await env.http.request(method, path, headers=auth(token), json=None)
        assert_mgmt_error(resp, 403, "insufficient_scope")

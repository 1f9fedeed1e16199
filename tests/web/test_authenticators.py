"""GET /mfa/authenticators and DELETE /mfa/authenticators/{id}, and the MFA-API access token
that DELETE needs."""

from __future__ import annotations

import pytest

from .support import (
    EXPIRED,
    ISSUER,
    MFA_AUDIENCE,
    RECOVERY_ID_RE,
    TOTP_ID_RE,
    assert_error,
    assert_no_store,
    assert_tokens,
    audiences,
)

pytestmark = pytest.mark.anyio

ENTRY_KEYS = {"id", "authenticator_type", "active", "type", "created_at"}
OPTIONAL_KEYS = {"last_auth"}  # SDK models allow it


def _keys_ok(entry):
    return ENTRY_KEYS <= set(entry) <= ENTRY_KEYS | OPTIONAL_KEYS


def _by_type(listed):
    out = {}
    for entry in listed:
        out.setdefault(entry["authenticator_type"], []).append(entry)
    return out


# ----------------------------------------------------------------------------- list


async def test_list_for_a_new_user_is_empty(env):
    client = await env.client()
    await env.user()

    resp = await env.list_authenticators(await env.mfa_token(client))

    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    assert_no_store(resp)
    assert resp.json() == []


async def test_list_after_enrolment(env):
    client = await env.client()
    await env.enrolled(client)

    resp = await env.list_authenticators(await env.mfa_token(client))

    assert resp.status_code == 200, resp.text
    listed = resp.json()
    assert isinstance(listed, list)
    assert len(listed) == 2, listed
    kinds = _by_type(listed)
    (otp,) = kinds["otp"]
    (rc,) = kinds["recovery-code"]
    assert _keys_ok(otp), otp
    assert TOTP_ID_RE.match(otp["id"]), otp
    assert otp["active"] is True
    assert otp["type"] == "otp"
    assert "name" not in otp
    assert "oob_channel" not in otp
    assert RECOVERY_ID_RE.match(rc["id"]), rc
    assert rc["active"] is True
    assert rc["type"] == "recovery-code"
    assert _keys_ok(rc), rc
    assert "oob_channel" not in rc
    assert otp["created_at"] is not None


async def test_list_shows_pending_enrolment_inactive(env):
    client = await env.client()
    await env.user()
    mfa_token = await env.mfa_token(client)
    await env.associate_otp(mfa_token)

    listed = (await env.list_authenticators(mfa_token)).json()

    (otp,) = _by_type(listed)["otp"]
    assert otp["active"] is False
    assert TOTP_ID_RE.match(otp["id"]), otp
    assert _keys_ok(otp), otp


async def test_list_without_recovery_codes(env):
    await env.tenant(recovery_codes_enabled=False)
    client = await env.client()
    await env.enrolled(client)

    listed = (await env.list_authenticators(await env.mfa_token(client))).json()

    assert [a["authenticator_type"] for a in listed] == ["otp"]


async def test_list_is_per_user(env):
    client = await env.client()
    await env.enrolled(client, "alice@example.com", "alice pass")
    await env.enrolled(client, "bob@example.com", "bob pass")

    alice = (
        await env.list_authenticators(
            await env.mfa_token(client, username="alice@example.com", password="alice pass")
        )
    ).json()
    bob = (
        await env.list_authenticators(
            await env.mfa_token(client, username="bob@example.com", password="bob pass")
        )
    ).json()

    assert len(alice) == len(bob) == 2
    assert not {a["id"] for a in alice} & {b["id"] for b in bob}


async def test_list_does_not_consume_the_mfa_token(env):
    client = await env.client()
    enrolled = await env.enrolled(client)
    mfa_token = await env.mfa_token(client)
    for _ in range(3):
        assert (await env.list_authenticators(mfa_token)).status_code == 200

    assert_tokens(await env.otp_grant(client, mfa_token, env.code(enrolled.secret)))


async def test_list_with_read_scope_access_token(env):
    client = await env.client()
    enrolled = await env.enrolled(client)
    access = await env.mfa_api_token(client, enrolled, "read:authenticators")

    resp = await env.list_authenticators(access["access_token"])

    assert resp.status_code == 200, resp.text
    assert sorted(a["authenticator_type"] for a in resp.json()) == ["otp", "recovery-code"]


async def test_list_with_access_token_lacking_read_scope(env):
    client = await env.client()
    enrolled = await env.enrolled(client)
    access = await env.mfa_api_token(client, enrolled, "remove:authenticators")

    resp = await env.list_authenticators(access["access_token"])

    assert_error(resp, 403, "insufficient_scope")


async def test_list_without_bearer(env):
    resp = await env.list_authenticators(None)

    assert_error(resp, 401, "invalid_token")
    assert_no_store(resp)


async def test_list_with_garbage_bearer(env):
    assert_error(await env.list_authenticators("garbage"), 401, "invalid_token")


async def test_list_with_consumed_mfa_token(env):
    client = await env.client()
    enrolled = await env.enrolled(client)
    mfa_token = await env.mfa_token(client)
    assert_tokens(await env.otp_grant(client, mfa_token, env.code(enrolled.secret)))

    assert_error(await env.list_authenticators(mfa_token), 401, "invalid_token")


async def test_list_with_expired_mfa_token(env):
    client = await env.client()
    await env.enrolled(client)
    mfa_token = await env.mfa_token(client)
    env.clock.advance(601)

    assert_error(await env.list_authenticators(mfa_token), 403, "expired_token", EXPIRED)


async def test_list_ignores_a_json_content_type(env):
    # SDKs send Content-Type: application/json on GET with no body.
    client = await env.client()
    await env.enrolled(client)
    mfa_token = await env.mfa_token(client)

    resp = await env.http.get(
        "/mfa/authenticators",
        headers={"Authorization": f"Bearer {mfa_token}", "Content-Type": "application/json"},
    )

    assert resp.status_code == 200, resp.text
    assert len(resp.json()) == 2


# ----------------------------------------------------------------------------- MFA-API token


async def test_mfa_api_access_token_shape(env):
    client = await env.client()
    enrolled = await env.enrolled(client)

    body = await env.mfa_api_token(client, enrolled, "remove:authenticators read:authenticators")

    assert body["expires_in"] == 600
    assert set(body["scope"].split()) == {"remove:authenticators", "read:authenticators"}
    assert "refresh_token" not in body
    _, claims = await env.decode(body["access_token"])
    assert claims["iss"] == ISSUER
    assert audiences(claims) == [MFA_AUDIENCE]
    assert claims["sub"] == enrolled.user.user_id
    assert claims["exp"] - claims["iat"] == 600
    assert claims["amr"] == ["mfa"]


async def test_mfa_api_password_grant_needs_mfa(env):
    client = await env.client()
    await env.enrolled(client)

    body = await env.mfa_required(client, audience=MFA_AUDIENCE, scope="remove:authenticators")

    assert "challenge" in body["mfa_requirements"]


# ----------------------------------------------------------------------------- delete


async def _ids(env, bearer):
    return _by_type((await env.list_authenticators(bearer)).json())


async def test_delete_authenticator(env):
    client = await env.client()
    enrolled = await env.enrolled(client)
    access = (
        await env.mfa_api_token(client, enrolled, "read:authenticators remove:authenticators")
    )["access_token"]
    (otp,) = (await _ids(env, access))["otp"]

    resp = await env.delete_authenticator(access, otp["id"])

    assert resp.status_code == 204, resp.text
    assert resp.content == b""
    assert_no_store(resp)
    remaining = await _ids(env, access)
    assert "otp" not in remaining, remaining


async def test_delete_with_unencoded_pipe(env):
    client = await env.client()
    enrolled = await env.enrolled(client)
    access = (
        await env.mfa_api_token(client, enrolled, "read:authenticators remove:authenticators")
    )["access_token"]
    (otp,) = (await _ids(env, access))["otp"]

    resp = await env.http.delete(
        f"/mfa/authenticators/{otp['id']}", headers={"Authorization": f"Bearer {access}"}
    )

    assert resp.status_code == 204, resp.text


async def test_deleted_totp_no_longer_verifies(env):
    client = await env.client()
    enrolled = await env.enrolled(client)
    access = (
        await env.mfa_api_token(client, enrolled, "read:authenticators remove:authenticators")
    )["access_token"]
    (otp,) = (await _ids(env, access))["otp"]
    assert (await env.delete_authenticator(access, otp["id"])).status_code == 204
    mfa_token = await env.mfa_token(client)

    resp = await env.otp_grant(client, mfa_token, env.code(enrolled.secret))

    assert resp.status_code in (400, 403), resp.text
    assert resp.json()["error"] in ("invalid_grant", "association_required"), resp.text


async def test_delete_twice_is_not_found(env):
    client = await env.client()
    enrolled = await env.enrolled(client)
    access = (
        await env.mfa_api_token(client, enrolled, "read:authenticators remove:authenticators")
    )["access_token"]
    (otp,) = (await _ids(env, access))["otp"]
    assert (await env.delete_authenticator(access, otp["id"])).status_code == 204

    resp = await env.delete_authenticator(access, otp["id"])

    assert_error(resp, 404, "not_found")


@pytest.mark.parametrize("authenticator_id", ["totp|dev_AAAAAAAAAAAAAAAA", "nonsense", "%00"])
async def test_delete_unknown_id(env, authenticator_id):
    client = await env.client()
    enrolled = await env.enrolled(client)
    access = (await env.mfa_api_token(client, enrolled, "remove:authenticators"))["access_token"]

    resp = await env.delete_authenticator(access, authenticator_id)

    assert_error(resp, 404, "not_found")


async def test_delete_another_users_authenticator(env):
    client = await env.client()
    alice = await env.enrolled(client, "alice@example.com", "alice pass")
    await env.enrolled(client, "bob@example.com", "bob pass")
    bob_token = await env.mfa_token(client, username="bob@example.com", password="bob pass")
    (bobs_otp,) = (await _ids(env, bob_token))["otp"]
    access = (await env.mfa_api_token(client, alice, "remove:authenticators"))["access_token"]

    resp = await env.delete_authenticator(access, bobs_otp["id"])

    assert_error(resp, 404, "not_found")
    (still,) = (await _ids(env, bob_token))["otp"]
    assert still["id"] == bobs_otp["id"]


async def test_delete_with_mfa_token(env):
    client = await env.client()
    await env.enrolled(client)
    mfa_token = await env.mfa_token(client)
    (otp,) = (await _ids(env, mfa_token))["otp"]

    resp = await env.delete_authenticator(mfa_token, otp["id"])

    assert_error(resp, 403, "insufficient_scope")
    assert_no_store(resp)
    (still,) = (await _ids(env, mfa_token))["otp"]
    assert still["active"] is True


async def test_delete_without_remove_scope(env):
    client = await env.client()
    enrolled = await env.enrolled(client)
    access = (await env.mfa_api_token(client, enrolled, "read:authenticators enroll"))[
        "access_token"
    ]
    (otp,) = (await _ids(env, access))["otp"]

    resp = await env.delete_authenticator(access, otp["id"])

    assert_error(resp, 403, "insufficient_scope")


async def test_delete_without_bearer(env):
    resp = await env.delete_authenticator(None, "totp|dev_AAAAAAAAAAAAAAAA")

    assert_error(resp, 401, "invalid_token")


async def test_delete_with_ordinary_access_token(env):
    await env.tenant(mfa_policy="never")
    client = await env.client()
    await env.user()
    access = assert_tokens(await env.password(client, scope="openid"))["access_token"]

    resp = await env.delete_authenticator(access, "totp|dev_AAAAAAAAAAAAAAAA")

    assert resp.status_code in (401, 403), resp.text
    assert resp.json()["error"] in ("invalid_token", "insufficient_scope")

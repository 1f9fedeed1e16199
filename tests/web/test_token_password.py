"""Password and password-realm grants: credentials, audience, mfa_required, direct tokens."""

from __future__ import annotations

import pytest

from .support import (
    API,
    EMAIL,
    GRANT_PASSWORD,
    GRANT_PASSWORD_REALM,
    ISSUER,
    MFA_REQUIRED,
    PASSWORD,
    REALM,
    WRONG_CREDENTIALS,
    assert_error,
    assert_no_store,
    assert_tokens,
    audiences,
)

pytestmark = pytest.mark.anyio


# ----------------------------------------------------------------------------- policy never


async def test_policy_never_issues_tokens_directly(env):
    await env.tenant(mfa_policy="never")
    await env.api()
    client = await env.client()
    user = await env.user()

    resp = await env.password(client, audience=API, scope="read:x")

    body = assert_tokens(resp)
    assert_no_store(resp)
    assert "id_token" not in body
    assert "refresh_token" not in body
    assert "read:x" in body["scope"].split()
    header, claims = await env.decode(body["access_token"])
    assert header["alg"] == "RS256"
    assert claims["iss"] == ISSUER
    assert claims["sub"] == user.user_id
    assert API in audiences(claims)
    assert claims["exp"] - claims["iat"] == body["expires_in"]
    assert claims["iat"] == int(env.clock.now())
    assert "mfa" not in claims.get("amr", [])


async def test_requested_scopes_are_granted_exactly(env):
    await env.tenant(mfa_policy="never")
    await env.api()
    client = await env.client()
    await env.user()

    body = assert_tokens(await env.password(client, audience=API, scope="openid profile read:x"))

    assert set(body["scope"].split()) == {"openid", "profile", "read:x"}


async def test_openid_scope_yields_a_verifiable_id_token(env):
    await env.tenant(mfa_policy="never")
    client = await env.client()
    user = await env.user()

    body = assert_tokens(await env.password(client, scope="openid profile email"))

    assert isinstance(body.get("id_token"), str), body
    header, claims = await env.decode(body["id_token"])
    assert header["alg"] == "RS256"
    assert claims["iss"] == ISSUER
    assert claims["sub"] == user.user_id
    assert client.client_id in audiences(claims)
    assert claims["exp"] > env.clock.now()


async def test_offline_access_yields_refresh_token(env):
    await env.tenant(mfa_policy="never")
    client = await env.client()
    await env.user()

    body = assert_tokens(await env.password(client, scope="openid offline_access"))

    assert isinstance(body.get("refresh_token"), str), body
    assert body["refresh_token"]


async def test_offline_access_without_refresh_grant_yields_no_refresh_token(env):
    await env.tenant(mfa_policy="never")
    client = await env.client(grant_types=["password"])
    await env.user()

    body = assert_tokens(await env.password(client, scope="openid offline_access"))

    assert "refresh_token" not in body


async def test_json_body_is_accepted(env):
    await env.tenant(mfa_policy="never")
    client = await env.client()
    await env.user()

    resp = await env.token(
        {"grant_type": GRANT_PASSWORD, "username": EMAIL, "password": PASSWORD, "scope": "openid"},
        client,
        json=True,
    )

    body = assert_tokens(resp)
    assert "id_token" in body


# ----------------------------------------------------------------------------- bad credentials


async def test_wrong_password(env):
    client = await env.client()
    await env.user()

    resp = await env.password(client, password="wrong horse")

    assert_error(resp, 403, "invalid_grant", WRONG_CREDENTIALS)
    assert_no_store(resp)
    assert "www-authenticate" not in resp.headers


async def test_unknown_user_gets_the_same_answer(env):
    client = await env.client()
    await env.user()

    resp = await env.password(client, username="nobody@example.com")

    assert_error(resp, 403, "invalid_grant", WRONG_CREDENTIALS)


async def test_wrong_password_under_policy_never(env):
    await env.tenant(mfa_policy="never")
    client = await env.client()
    await env.user()

    assert_error(
        await env.password(client, password="Correct horse"),
        403,
        "invalid_grant",
        WRONG_CREDENTIALS,
    )


async def test_unknown_audience(env):
    client = await env.client()
    await env.user()

    resp = await env.password(client, audience="https://nope.example.com")

    assert_error(resp, 403, "access_denied", "Service not found: https://nope.example.com")


@pytest.mark.parametrize("missing", ["username", "password"])
async def test_missing_parameter(env, missing):
    client = await env.client()
    await env.user()
    params = {"grant_type": GRANT_PASSWORD, "username": EMAIL, "password": PASSWORD}
    del params[missing]

    resp = await env.token(params, client)

    assert_error(resp, 400, "invalid_request", f"Missing required parameter: {missing}")


# ----------------------------------------------------------------------------- realms


async def test_password_realm_grant(env):
    await env.tenant(mfa_policy="never")
    client = await env.client()
    user = await env.user(realm="corp")

    resp = await env.token(
        {
            "grant_type": GRANT_PASSWORD_REALM,
            "username": EMAIL,
            "password": PASSWORD,
            "realm": "corp",
        },
        client,
    )

    body = assert_tokens(resp)
    _, claims = await env.decode(body["access_token"])
    assert claims["sub"] == user.user_id


async def test_password_realm_wrong_realm(env):
    await env.tenant(mfa_policy="never")
    client = await env.client()
    await env.user(realm="corp")

    resp = await env.token(
        {
            "grant_type": GRANT_PASSWORD_REALM,
            "username": EMAIL,
            "password": PASSWORD,
            "realm": REALM,
        },
        client,
    )

    assert_error(resp, 403, "invalid_grant", WRONG_CREDENTIALS)


async def test_password_grant_with_realm_behaves_as_password_realm(env):
    await env.tenant(mfa_policy="never")
    client = await env.client()
    await env.user()
    corp_user = await env.user("c@example.com", "corp pass", realm="corp")

    resp = await env.password(client, username="c@example.com", password="corp pass", realm="corp")

    body = assert_tokens(resp)
    _, claims = await env.decode(body["access_token"])
    assert claims["sub"] == corp_user.user_id


async def test_password_grant_with_realm_only_searches_that_realm(env):
    await env.tenant(mfa_policy="never")
    client = await env.client()
    await env.user()
    await env.user("c@example.com", "corp pass", realm="corp")

    resp = await env.password(client, realm="corp")

    assert_error(resp, 403, "invalid_grant", WRONG_CREDENTIALS)


async def test_password_grant_without_realm_uses_the_default_realm(env):
    await env.tenant(mfa_policy="never")
    client = await env.client()
    await env.user("c@example.com", "corp pass", realm="corp")

    resp = await env.password(client, username="c@example.com", password="corp pass")

    assert_error(resp, 403, "invalid_grant", WRONG_CREDENTIALS)


async def test_password_realm_requires_realm(env):
    client = await env.client()
    await env.user()

    resp = await env.token(
        {"grant_type": GRANT_PASSWORD_REALM, "username": EMAIL, "password": PASSWORD}, client
    )

    assert_error(resp, 400, "invalid_request", "Missing required parameter: realm")


# ----------------------------------------------------------------------------- mfa_required


async def test_mfa_required_for_user_without_authenticators(env):
    client = await env.client()
    await env.user()

    resp = await env.password(client)

    assert resp.status_code == 403, resp.text
    assert_no_store(resp)
    assert "www-authenticate" not in resp.headers
    body = resp.json()
    assert set(body) == {"error", "error_description", "mfa_token", "mfa_requirements"}
    assert body["error"] == "mfa_required"
    assert body["error_description"] == MFA_REQUIRED
    assert isinstance(body["mfa_token"], str)
    assert body["mfa_token"]
    assert body["mfa_requirements"] == {"enroll": [{"type": "otp"}]}


async def test_mfa_required_lists_challenges_for_enrolled_user(env):
    client = await env.client()
    await env.enrolled(client)

    body = await env.mfa_required(client)

    reqs = body["mfa_requirements"]
    assert set(reqs) == {"challenge"}, reqs
    assert sorted(reqs["challenge"], key=lambda r: r["type"]) == [
        {"type": "otp"},
        {"type": "recovery-code"},
    ]


async def test_mfa_required_without_recovery_codes(env):
    await env.tenant(recovery_codes_enabled=False)
    client = await env.client()
    await env.enrolled(client)

    body = await env.mfa_required(client)

    assert body["mfa_requirements"] == {"challenge": [{"type": "otp"}]}


async def test_mfa_required_json_body(env):
    client = await env.client()
    await env.user()

    resp = await env.token(
        {"grant_type": GRANT_PASSWORD, "username": EMAIL, "password": PASSWORD}, client, json=True
    )

    body = assert_error(resp, 403, "mfa_required", MFA_REQUIRED)
    assert body["mfa_token"]


async def test_each_password_grant_gets_a_new_mfa_token(env):
    client = await env.client()
    await env.user()

    first = await env.mfa_token(client)
    second = await env.mfa_token(client)

    assert first != second


async def test_wrong_password_never_reveals_mfa(env):
    client = await env.client()
    await env.enrolled(client)

    resp = await env.password(client, password="nope")

    body = assert_error(resp, 403, "invalid_grant", WRONG_CREDENTIALS)
    assert "mfa_token" not in body


async def test_login_with_username(env):
    await env.tenant(mfa_policy="never")
    client = await env.client()
    user = await env.user(username="alice")

    body = assert_tokens(await env.password(client, username="alice"))

    _, claims = await env.decode(body["access_token"])
    assert claims["sub"] == user.user_id


async def test_email_is_case_insensitive(env):
    await env.tenant(mfa_policy="never")
    client = await env.client()
    await env.user()

    assert_tokens(await env.password(client, username="U@Example.COM"))

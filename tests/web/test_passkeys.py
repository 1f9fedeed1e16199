"""Native passkey login through the real app: /passkey/register → token (signup),
/passkey/challenge → token (login), the tokens' amr, refresh, and the MFA API's view.

The authenticator is the software one of webauthn_authenticator.py: real authenticator data and
signatures, verified by the server with py_webauthn.
"""

from __future__ import annotations

import pytest

from .passkey_support import (
    GRANT_WEBAUTHN,
    RP_ID,
    authenticator,
    challenge,
    exchange,
    login,
    passkey_client,
    register,
    signup,
)
from .support import GRANT_REFRESH, Harness, assert_error, assert_tokens

pytestmark = pytest.mark.anyio


async def test_register_answers_creation_options(env: Harness) -> None:
    client = await passkey_client(env)
    body = await register(env, client)
    options = body["authn_params_public_key"]
    assert isinstance(body["auth_session"], str)
    assert len(body["auth_session"]) >= 40
    assert options["rp"] == {"id": RP_ID, "name": "Twofold"}
    assert options["user"]["name"] == "new@example.com"
    assert options["user"]["displayName"] == "New User"
    assert options["authenticatorSelection"]["residentKey"] == "required"
    assert options["authenticatorSelection"]["userVerification"] == "required"
    assert {"type": "public-key", "alg": -7} in options["pubKeyCredParams"]
    assert isinstance(options["challenge"], str)
    assert len(options["challenge"]) >= 43


async def test_challenge_answers_request_options(env: Harness) -> None:
    client = await passkey_client(env)
    body = await challenge(env, client)
    options = body["authn_params_public_key"]
    assert options["rpId"] == RP_ID
    assert options["userVerification"] == "required"
    assert options.get("allowCredentials", []) == []
    assert body["auth_session"]


@pytest.mark.parametrize("fmt", ["none", "packed"])
async def test_signup_then_login(env: Harness, fmt: str) -> None:
    client = await passkey_client(env)
    auth = authenticator()
    started = await register(env, client)
    credential = auth.create(started["authn_params_public_key"], fmt=fmt)  # type: ignore[arg-type]
    tokens = assert_tokens(
        await exchange(env, client, started["auth_session"], credential, scope="openid")
    )
    _, claims = await env.decode(tokens["id_token"])
    assert claims["amr"] == ["hwk", "user", "mfa"]
    user_id = claims["sub"]
    user = await env.services.deps.storage.users.get(user_id)
    assert user.email == "new@example.com"
    assert user.name == "New User"
    assert user.password_hash == ""

    again = assert_tokens(await login(env, client, auth))
    _, claims = await env.decode(again["id_token"])
    assert claims["sub"] == user_id
    assert claims["amr"] == ["hwk", "user", "mfa"]
    _, access = await env.decode(again["access_token"])
    assert access["amr"] == ["hwk", "user", "mfa"]
    assert access["gty"] == "passkey"


async def test_synced_passkey_is_software_held_and_counter_zero_works(env: Harness) -> None:
    client = await passkey_client(env)
    auth = authenticator(backup_eligible=True, backed_up=True, counter_step=0)
    tokens = assert_tokens(await signup(env, client, auth))
    _, claims = await env.decode(tokens["id_token"])
    assert claims["amr"] == ["swk", "user", "mfa"]
    stored = await env.services.deps.storage.passkeys.list_for_user(claims["sub"])
    assert [(c.backup_eligible, c.backed_up, c.sign_count) for c in stored] == [(True, True, 0)]
    assert stored[0].transports == ("hybrid", "internal")
    for _ in range(2):
        assert_tokens(await login(env, client, auth))


async def test_login_moves_the_stored_counter(env: Harness) -> None:
    client = await passkey_client(env)
    auth = authenticator()
    tokens = assert_tokens(await signup(env, client, auth))
    _, claims = await env.decode(tokens["id_token"])
    assert_tokens(await login(env, client, auth))
    assert_tokens(await login(env, client, auth))
    stored = await env.services.deps.storage.passkeys.list_for_user(claims["sub"])
    assert stored[0].sign_count == 3


async def test_refresh_after_passkey_login_keeps_mfa(env: Harness) -> None:
    client = await passkey_client(env)
    auth = authenticator()
    assert_tokens(await signup(env, client, auth))
    tokens = assert_tokens(await login(env, client, auth))
    assert tokens["refresh_token"]
    refreshed = assert_tokens(
        await env.token(
            {"grant_type": GRANT_REFRESH, "refresh_token": tokens["refresh_token"]}, client
        )
    )
    _, access = await env.decode(refreshed["access_token"])
    assert "mfa" in access["amr"]


async def test_form_body_with_authn_response_as_json_text(env: Harness) -> None:
    import json

    client = await passkey_client(env)
    auth = authenticator()
    started = await register(env, client)
    credential = auth.create(started["authn_params_public_key"])
    resp = await env.token(
        {
            "grant_type": GRANT_WEBAUTHN,
            "auth_session": started["auth_session"],
            "authn_response": json.dumps(credential),
        },
        client,
    )
    assert_tokens(resp)


async def test_mfa_api_does_not_list_passkeys(env: Harness) -> None:
    client = await passkey_client(env)
    auth = authenticator()
    tokens = assert_tokens(await signup(env, client, auth))
    _, claims = await env.decode(tokens["id_token"])
    listed = await env.services.deps.storage.authenticators.list_for_user(claims["sub"])
    assert [a.kind for a in listed] == ["passkey"]
    from twofold.core.mfa.enrolled import for_user, is_enrolled

    assert await for_user(env.services.deps, claims["sub"]) == []
    # Not listed, but held: it counts as a factor, so a password alone adds none beside it.
    assert await is_enrolled(env.services.deps, claims["sub"])


async def test_signup_with_a_taken_email_is_refused(env: Harness) -> None:
    client = await passkey_client(env)
    await env.user("taken@example.com")
    resp = await signup(env, client, authenticator(), email="taken@example.com")
    assert_error(resp, 403, "invalid_grant", "Invalid sign up")


async def test_register_needs_a_known_client_allowed_the_grant(env: Harness) -> None:
    other = await env.client()
    resp = await env.http.post(
        "/passkey/register",
        json={"client_id": other.client_id, "user_profile": {"email": "a@example.com"}},
    )
    assert_error(resp, 403, "unauthorized_client")
    resp = await env.http.post("/passkey/challenge", json={"client_id": "nope"})
    assert_error(resp, 401, "invalid_client")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"user_profile": {"email": "a@example.com"}},
        {"CLIENT": 1},
    ],
)
async def test_register_bad_bodies_are_oauth_errors(env: Harness, body: dict[str, object]) -> None:
    resp = await env.http.post("/passkey/register", json=body)
    assert_error(resp, 400, "invalid_request")


async def test_register_profile_is_validated(env: Harness) -> None:
    client = await passkey_client(env)
    for profile in (None, "x", {"name": "n"}, {"email": "not-an-email"}, {"email": 5}):
        body = {"client_id": client.client_id, "user_profile": profile}
        resp = await env.http.post("/passkey/register", json=body)
        assert_error(resp, 400, "invalid_request")


async def test_signup_stores_the_user_metadata_of_register(env: Harness) -> None:
    """@auth0/auth0-auth-js sends `userMetadata` as the body's `user_metadata`; Auth0 stores it
    on the user the signup creates."""
    client = await passkey_client(env)
    metadata = {f"k{i}": f"v{i}" for i in range(10)}
    started = await register(env, client, "meta@example.com", user_metadata=metadata)
    credential = authenticator().create(started["authn_params_public_key"])
    tokens = assert_tokens(await exchange(env, client, started["auth_session"], credential))
    _, claims = await env.decode(tokens["access_token"])
    user = await env.services.deps.storage.users.get(claims["sub"])
    assert user.user_metadata == metadata


@pytest.mark.parametrize(
    "metadata",
    [
        "plan=pro",
        ["pro"],
        {"plan": 1},
        {"plan": {"tier": "pro"}},
        {"": "pro"},
        {"plan": "x" * 256},
        {f"k{i}": "v" for i in range(11)},
    ],
)
async def test_register_user_metadata_is_validated(env: Harness, metadata: object) -> None:
    client = await passkey_client(env)
    body = {
        "client_id": client.client_id,
        "user_profile": {"email": "meta@example.com"},
        "user_metadata": metadata,
    }
    resp = await env.http.post("/passkey/register", json=body)
    assert_error(resp, 400, "invalid_request", "Invalid parameter: user_metadata")


@pytest.mark.parametrize("bad", ["not json", "[1]", "{", "null"])
async def test_malformed_authn_response_is_a_client_error(env: Harness, bad: str) -> None:
    client = await passkey_client(env)
    started = await challenge(env, client)
    resp = await env.token(
        {
            "grant_type": GRANT_WEBAUTHN,
            "auth_session": started["auth_session"],
            "authn_response": bad,
        },
        client,
    )
    assert resp.status_code in (400, 403), resp.text
    assert resp.json()["error"] in ("invalid_request", "invalid_grant")


async def test_garbage_credential_fields_are_refused_not_500(env: Harness) -> None:
    client = await passkey_client(env)
    auth = authenticator()
    assert_tokens(await signup(env, client, auth))
    started = await challenge(env, client)
    credential = auth.get(started["authn_params_public_key"])
    credential["response"]["authenticatorData"] = "AAAA"
    credential["response"]["signature"] = "!!"
    resp = await exchange(env, client, started["auth_session"], credential)
    assert_error(resp, 403, "invalid_grant")

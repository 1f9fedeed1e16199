"""Attacks on native passkey login. Every response is built by the software authenticator
(real authenticator data and P-256 signatures) and checked by the server's py_webauthn: each
test changes one thing an attacker controls and expects the refusal."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from web.passkey_support import (
    authenticator,
    challenge,
    exchange,
    login,
    passkey_client,
    register,
    signup,
)
from web.support import (
    ALREADY_ENROLLED,
    GRANT_OTP,
    MFA_AUDIENCE,
    Harness,
    assert_error,
    assert_tokens,
)

pytestmark = pytest.mark.anyio


async def _user_with_passkey(env: Harness, **kw: Any) -> tuple[Any, Any, str]:
    client = await passkey_client(env)
    auth = authenticator(**kw)
    tokens = assert_tokens(await signup(env, client, auth))
    _, claims = await env.decode(tokens["id_token"])
    return client, auth, str(claims["sub"])


async def _twenty_at_once(
    env: Harness, client: Any, auth_session: str, credential: dict[str, Any]
) -> list[int]:
    """The same webauthn grant sent 20 times at once; the statuses."""
    statuses: list[int] = []

    async def attempt() -> None:
        resp = await exchange(env, client, auth_session, credential)
        statuses.append(resp.status_code)

    async with anyio.create_task_group() as tg:
        for _ in range(20):
            tg.start_soon(attempt)
    return statuses


async def _events(env: Harness, user_id: str | None, *types: str) -> list[Any]:
    return list(await env.services.deps.storage.audit.query(user_id=user_id, types=types))


async def test_replayed_response_is_refused(env: Harness) -> None:
    client, auth, _ = await _user_with_passkey(env)
    started = await challenge(env, client)
    credential = auth.get(started["authn_params_public_key"])
    assert_tokens(await exchange(env, client, started["auth_session"], credential))
    resp = await exchange(env, client, started["auth_session"], credential)
    assert_error(resp, 403, "invalid_grant")


async def test_replayed_signup_creates_nothing_more(env: Harness) -> None:
    client = await passkey_client(env)
    auth = authenticator()
    started = await register(env, client)
    credential = auth.create(started["authn_params_public_key"])
    assert_tokens(await exchange(env, client, started["auth_session"], credential))
    assert_error(
        await exchange(env, client, started["auth_session"], credential), 403, "invalid_grant"
    )


async def test_response_for_another_auth_session_is_refused(env: Harness) -> None:
    client, auth, _ = await _user_with_passkey(env)
    first = await challenge(env, client)
    second = await challenge(env, client)
    credential = auth.get(first["authn_params_public_key"])
    assert_error(
        await exchange(env, client, second["auth_session"], credential), 403, "invalid_grant"
    )
    # The refused try spent the second session, not the first.
    assert_tokens(await exchange(env, client, first["auth_session"], credential))


async def test_auth_session_of_another_client_is_refused(env: Harness) -> None:
    client, auth, _ = await _user_with_passkey(env)
    other = await passkey_client(env)
    started = await challenge(env, client)
    credential = auth.get(started["authn_params_public_key"])
    assert_error(
        await exchange(env, other, started["auth_session"], credential), 403, "invalid_grant"
    )


async def test_wrong_origin_is_refused(env: Harness) -> None:
    client, auth, user_id = await _user_with_passkey(env)
    resp = await login(env, client, auth, origin="https://evil.example")
    assert_error(resp, 403, "invalid_grant")
    assert await _events(env, user_id, "f")


async def test_wrong_origin_at_signup_creates_no_user(env: Harness) -> None:
    client = await passkey_client(env)
    started = await register(env, client, "x@example.com")
    credential = authenticator().create(
        started["authn_params_public_key"], origin="https://evil.example"
    )
    assert_error(
        await exchange(env, client, started["auth_session"], credential), 403, "invalid_grant"
    )
    deps = env.services.deps
    assert (
        await deps.storage.users.find_by_login("Username-Password-Authentication", "x@example.com")
        is None
    )


async def test_wrong_rp_id_is_refused(env: Harness) -> None:
    client, auth, _ = await _user_with_passkey(env)
    assert_error(await login(env, client, auth, rp_id="evil.example"), 403, "invalid_grant")
    started = await register(env, client, "y@example.com")
    credential = authenticator().create(started["authn_params_public_key"], rp_id="evil.example")
    assert_error(
        await exchange(env, client, started["auth_session"], credential), 403, "invalid_grant"
    )


async def test_missing_user_verification_is_refused(env: Harness) -> None:
    client, auth, _ = await _user_with_passkey(env)
    assert_error(await login(env, client, auth, uv=False), 403, "invalid_grant")
    started = await register(env, client, "z@example.com")
    credential = authenticator().create(started["authn_params_public_key"], uv=False)
    assert_error(
        await exchange(env, client, started["auth_session"], credential), 403, "invalid_grant"
    )


async def test_cloned_authenticator_is_refused_and_audited(env: Harness) -> None:
    client, auth, user_id = await _user_with_passkey(env)
    assert_tokens(await login(env, client, auth))  # counter 2
    assert_tokens(await login(env, client, auth))  # counter 3
    # A clone made at counter 1 answers with a counter that goes back.
    assert_error(await login(env, client, auth, sign_count=2), 403, "invalid_grant")
    assert_error(await login(env, client, auth, sign_count=3), 403, "invalid_grant")
    clones = await _events(env, user_id, "passkey_clone_detected")
    assert len(clones) == 2
    stored = await env.services.deps.storage.passkeys.list_for_user(user_id)
    assert stored[0].sign_count == 3
    # The genuine authenticator carries on.
    assert_tokens(await login(env, client, auth, sign_count=4))


@pytest.mark.parametrize("counter_step", [1, 0], ids=["counter", "synced-no-counter"])
async def test_concurrent_requests_with_one_response_win_once(
    env: Harness, counter_step: int
) -> None:
    # Without a counter (synced passkeys report 0) the auth_session alone stops the replays.
    client, auth, _ = await _user_with_passkey(env, counter_step=counter_step)
    started = await challenge(env, client)
    credential = auth.get(started["authn_params_public_key"])
    statuses = await _twenty_at_once(env, client, started["auth_session"], credential)
    assert statuses.count(200) == 1, statuses
    assert all(s in (403, 429) for s in statuses if s != 200), statuses


async def test_concurrent_signups_with_one_response_create_one_user(env: Harness) -> None:
    client = await passkey_client(env)
    started = await register(env, client, "race@example.com")
    credential = authenticator().create(started["authn_params_public_key"])
    statuses = await _twenty_at_once(env, client, started["auth_session"], credential)
    assert statuses.count(200) == 1, statuses


async def test_failures_drain_the_users_bucket(env: Harness) -> None:
    client, auth, user_id = await _user_with_passkey(env)
    capacity = env.services.deps.policy.failed_attempts_capacity
    for _ in range(capacity):
        assert_error(await login(env, client, auth, uv=False), 403, "invalid_grant")
    # Even a good response is refused now, with nothing spent on it.
    assert_error(await login(env, client, auth), 429, "too_many_attempts")
    assert await _events(env, user_id, "gd_otp_rate_limit_exceed")


async def test_a_blocked_user_cannot_log_in_with_a_passkey(env: Harness) -> None:
    import dataclasses

    client, auth, user_id = await _user_with_passkey(env)
    storage = env.services.deps.storage
    user = await storage.users.get(user_id)
    await storage.users.update(dataclasses.replace(user, blocked=True))
    started = await challenge(env, client)
    credential = auth.get(started["authn_params_public_key"])
    resp = await exchange(env, client, started["auth_session"], credential)
    assert_error(resp, 401, "unauthorized", "user is blocked")


async def test_a_passkey_only_user_has_no_password_and_costs_a_guess_the_same(
    env: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, _, user_id = await _user_with_passkey(env)
    user = await env.services.deps.storage.users.get(user_id)
    hasher = env.services.deps.hasher
    dummies: list[str] = []
    dummy = hasher.verify_dummy

    async def counted(password: str) -> None:
        dummies.append(password)
        await dummy(password)

    monkeypatch.setattr(hasher, "verify_dummy", counted)
    password_client = await env.client()
    for guess in ("a wrong one", "anything at all"):
        resp = await env.password(password_client, username=user.email, password=guess)
        assert_error(resp, 403, "invalid_grant", "Wrong email or password.")
    # Each guess cost a full hash, as a wrong password of a user who has one does.
    assert dummies == ["a wrong one", "anything at all"]


async def test_public_client_is_refused(env: Harness) -> None:
    _, auth, _ = await _user_with_passkey(env)
    public = await passkey_client(env, auth_method="none")
    # Public clients may start a ceremony (as Auth0 allows) but not exchange it.
    started = await challenge(env, public)
    credential = auth.get(started["authn_params_public_key"])
    resp = await exchange(env, public, started["auth_session"], credential)
    assert_error(resp, 401, "invalid_client")


async def test_missing_client_secret_is_refused(env: Harness) -> None:
    client, auth, _ = await _user_with_passkey(env)
    started = await challenge(env, client)
    credential = auth.get(started["authn_params_public_key"])
    body = {
        "grant_type": "urn:okta:params:oauth:grant-type:webauthn",
        "client_id": client.client_id,
        "auth_session": started["auth_session"],
        "authn_response": credential,
    }
    assert_error(await env.http.post("/oauth/token", json=body), 401, "invalid_client")


async def test_passkey_session_is_no_mfa_token(env: Harness) -> None:
    client, _, _ = await _user_with_passkey(env)
    started = await challenge(env, client)
    resp = await env.token(
        {"grant_type": GRANT_OTP, "mfa_token": started["auth_session"], "otp": "123456"}, client
    )
    assert_error(resp, 403, "invalid_grant", "Malformed mfa_token")
    resp = await env.http.get(
        "/mfa/authenticators", headers={"Authorization": f"Bearer {started['auth_session']}"}
    )
    assert resp.status_code == 401, resp.text


async def test_login_session_cannot_complete_a_signup(env: Harness) -> None:
    client = await passkey_client(env)
    started = await challenge(env, client)
    # A registration response (attestation) presented on a login session.
    fake_options = {
        "challenge": started["authn_params_public_key"]["challenge"],
        "user": {"id": "AAAA"},
    }
    credential = authenticator().create(fake_options)
    resp = await exchange(env, client, started["auth_session"], credential)
    assert_error(resp, 403, "invalid_grant")
    assert (
        await env.services.deps.storage.users.find_by_login(
            "Username-Password-Authentication", "new@example.com"
        )
        is None
    )


async def test_register_session_cannot_log_in(env: Harness) -> None:
    client, auth, _ = await _user_with_passkey(env)
    started = await register(env, client, "someone@example.com")
    # An assertion by an existing passkey, over the register session's challenge.
    credential = auth.get({"challenge": started["authn_params_public_key"]["challenge"]})
    resp = await exchange(env, client, started["auth_session"], credential)
    assert_error(resp, 403, "invalid_grant")


async def test_a_password_alone_cannot_add_a_factor_beside_a_passkey(env: Harness) -> None:
    """A passkey user who was later given a password (an operator, the Management API): the
    password alone must not enrol the attacker's own OTP app, nor reach the MFA API, as with any
    other factor the user holds."""
    from twofold.core.management import users

    client, auth, user_id = await _user_with_passkey(env)
    await users.set_password(env.services.deps, user_id, "correct horse battery")
    mfa_token = await env.mfa_token(
        client, username="new@example.com", password="correct horse battery"
    )

    refused = await env.associate(mfa_token)
    assert_error(refused, 403, "access_denied", ALREADY_ENROLLED)
    from_password = await env.password(
        client,
        username="new@example.com",
        password="correct horse battery",
        audience=MFA_AUDIENCE,
        scope="enroll read:authenticators",
    )
    assert_error(from_password, 403, "mfa_required")

    # The passkey itself still signs in, and its MFA-level token may add the OTP app.
    tokens = assert_tokens(await login(env, client, auth))
    assert tokens["access_token"]


@pytest.mark.parametrize("path", ["/passkey/register", "/passkey/challenge"])
async def test_a_wrong_client_secret_is_refused_before_any_session(env: Harness, path: str) -> None:
    client = await passkey_client(env)
    body = {"client_id": client.client_id, "user_profile": {"email": "a@example.com"}}
    resp = await env.http.post(path, json={**body, "client_secret": "not-the-secret"})
    assert_error(resp, 401, "invalid_client")
    assert "auth_session" not in resp.text
    right = await env.http.post(path, json={**body, "client_secret": client.secret})
    assert right.status_code == 200, right.text

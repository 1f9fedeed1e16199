"""Attacks on the My Account API, and across it: what a token obtained one way can do through
another API, what one user's token can do to another user's methods, and what a replayed,
foreign or stale auth_session confirms (nothing)."""

from __future__ import annotations

import dataclasses
from typing import Any

import anyio
import pytest

from web.management_support import auth, mgmt_token
from web.my_account_support import (
    ME,
    Me,
    assert_problem,
    first_party,
    me_token,
    password_only_token,
    signed_in,
)
from web.passkey_support import authenticator, challenge, exchange, passkey_client, register
from web.support import Harness, assert_error, assert_tokens, wrong_code

pytestmark = pytest.mark.anyio
SECOND = "second@example.com"


def _policy(env: Harness, **changes: Any) -> None:
    deps = env.services.deps
    deps.policy = dataclasses.replace(deps.policy, **changes)


# ----------------------------------------------------------------------------- other tokens


async def test_tokens_of_other_apis_cannot_call_my_account(env: Harness) -> None:
    client, enrolled, _ = await signed_in(env)
    mfa_api = (await env.mfa_api_token(client, enrolled, "read:authenticators"))["access_token"]
    mfa_token = await env.mfa_token(client, username=enrolled.email)
    management = await mgmt_token(env)
    await env.api()
    await env.tenant(mfa_policy="never")
    other_api = assert_tokens(await env.password(client, audience="https://api.example.com"))
    id_token = assert_tokens(await env.password(client, scope="openid"))
    for token in (
        mfa_api,
        mfa_token,
        management,
        other_api.get("access_token"),
        id_token.get("id_token"),
    ):
        assert token
        assert_problem(await Me(env, token).list(), 401, number=3)
        assert_problem(await Me(env, token).enrol({"type": "totp"}), 401)


async def test_a_my_account_token_opens_no_other_api(env: Harness) -> None:
    client, enrolled, me = await signed_in(env)
    token = me.token
    assert token
    assert_error(await env.list_authenticators(token), 401, "invalid_token")
    assert_error(await env.associate(token), 401, "invalid_token")
    assert_error(await env.delete_authenticator(token, "totp|dev_x"), 401, "invalid_token")
    resp = await env.http.get("/api/v2/users", headers=auth(token))
    assert resp.status_code == 401, resp.text
    assert resp.json()["errorCode"] == "invalid_token"
    # Nor does it stand in for an mfa_token at the token endpoint.
    resp = await env.otp_grant(client, token, env.code(enrolled.secret))
    assert_error(resp, 403, "invalid_grant", "Malformed mfa_token")


async def test_an_mfa_token_for_the_my_account_api_is_no_my_account_token(env: Harness) -> None:
    client, enrolled, _ = await signed_in(env)
    mfa_token = await env.mfa_token(client, username=enrolled.email, audience=ME)
    assert_problem(await Me(env, mfa_token).list(), 401)
    # It can only be exchanged, with the factor, like any mfa_token.
    tokens = assert_tokens(await env.otp_grant(client, mfa_token, env.code(enrolled.secret)))
    assert (await Me(env, tokens["access_token"]).list()).status_code == 200


# ----------------------------------------------------------------------------- the password alone


async def test_the_password_alone_never_gets_a_token_once_mfa_is_required(env: Harness) -> None:
    client, enrolled, _ = await signed_in(env)
    for audience in (ME, ME.rstrip("/")):
        resp = await env.password(client, username=enrolled.email, audience=audience)
        body = assert_error(resp, 403, "mfa_required")
        assert "access_token" not in body
    # Not even where the tenant asks no MFA of other audiences.
    await env.tenant(mfa_policy="never")
    assert_error(
        await env.password(client, username=enrolled.email, audience=ME), 403, "mfa_required"
    )


async def test_a_password_only_token_is_refused_once_the_user_has_a_factor(
    env: Harness,
) -> None:
    client = await first_party(env)
    await env.user()
    me = Me(env, await password_only_token(env, client))
    assert (await me.list()).status_code == 200
    # A factor is enrolled elsewhere (the MFA API, with an mfa_token).
    mfa_token = await env.mfa_token(client)
    secret = (await env.associate_otp(mfa_token))["secret"]
    assert_tokens(await env.otp_grant(client, mfa_token, env.code(secret)))
    problem = assert_problem(await me.list(), 401)
    assert "log in again" in problem["detail"]
    assert_problem(await me.enrol({"type": "passkey"}), 401)


async def test_a_blocked_or_deleted_user_s_token_is_refused(env: Harness) -> None:
    _, enrolled, me = await signed_in(env)
    user = f"/api/v2/users/{enrolled.user.user_id}"
    headers = auth(await mgmt_token(env))
    assert (await env.http.patch(user, json={"blocked": True}, headers=headers)).is_success
    assert_problem(await me.list(), 401)
    assert (await env.http.patch(user, json={"blocked": False}, headers=headers)).is_success
    assert (await me.list()).status_code == 200
    assert (await env.http.delete(user, headers=headers)).status_code == 204
    assert_problem(await me.list(), 401)


# ----------------------------------------------------------------------------- other users


async def test_one_user_cannot_see_or_touch_another_users_methods(env: Harness) -> None:
    _, _, alice = await signed_in(env)
    _, _, bob = await signed_in(env, email=SECOND)
    bobs = await bob.methods()
    assert bobs
    for method in bobs:
        assert_problem(await alice.get(method["id"]), 404)
        assert_problem(await alice.update(method["id"], {"name": "mine"}), 404)
        assert_problem(await alice.delete(method["id"]), 404)
    assert await bob.methods() == bobs
    assert {m["id"] for m in await alice.methods()}.isdisjoint(m["id"] for m in bobs)


async def test_another_users_auth_session_confirms_nothing(env: Harness) -> None:
    _, _, alice = await signed_in(env)
    _, _, bob = await signed_in(env, email=SECOND)
    for kind in ("totp", "passkey", "recovery-code"):
        started = await bob.started({"type": kind})
        body = {"auth_session": started["auth_session"], "otp_code": "123456"}
        if kind == "passkey":
            body = {
                "auth_session": started["auth_session"],
                "authn_response": authenticator().create(started["authn_params_public_key"]),
            }
        assert_problem(await alice.verify(started["id"], body), 400, pointer="/auth_session")
    assert [m["confirmed"] for m in await bob.methods()] == [True, True, False]


# ----------------------------------------------------------------------------- auth_session


async def test_a_replayed_or_wrong_auth_session_is_refused(env: Harness) -> None:
    _, _, me = await signed_in(env)
    first = await me.started({"type": "totp"})
    second = await me.started({"type": "totp"})
    code = env.code(second["manual_input_code"])
    # Another enrolment's session, an unknown one, and an empty one.
    for session in (first["auth_session"], "x" * 43, "x" * 600):
        resp = await me.verify(second["id"], {"auth_session": session, "otp_code": code})
        assert_problem(resp, 400, pointer="/auth_session")
    await me.verified(second["id"], {"auth_session": second["auth_session"], "otp_code": code})
    env.next_step()
    again = env.code(second["manual_input_code"])
    resp = await me.verify(
        second["id"], {"auth_session": second["auth_session"], "otp_code": again}
    )
    assert_problem(resp, 400, pointer="/auth_session")
    # The older pending enrolment was replaced by the newer one: its session has nothing left.
    code = env.code(first["manual_input_code"])
    resp = await me.verify(first["id"], {"auth_session": first["auth_session"], "otp_code": code})
    assert_problem(resp, 400, pointer="/auth_session")


async def test_an_expired_auth_session_is_refused(env: Harness) -> None:
    client, enrolled, me = await signed_in(env)
    started = await me.started({"type": "totp"})
    env.clock.advance(601)
    # The enrolment lives as long as the token that started it could: a new token is too late.
    me = Me(env, await me_token(env, client, enrolled))
    code = env.code(started["manual_input_code"])
    resp = await me.verify(
        started["id"], {"auth_session": started["auth_session"], "otp_code": code}
    )
    assert_problem(resp, 400, pointer="/auth_session")


async def test_concurrent_verifications_confirm_once(env: Harness) -> None:
    _, _, me = await signed_in(env)
    started = await me.started({"type": "totp"})
    body = {
        "auth_session": started["auth_session"],
        "otp_code": env.code(started["manual_input_code"]),
    }
    statuses: list[int] = []

    async def one() -> None:
        statuses.append((await me.verify(started["id"], body)).status_code)

    async with anyio.create_task_group() as tg:
        for _ in range(5):
            tg.start_soon(one)
    assert sorted(statuses) == [201, 400, 400, 400, 400]


async def test_my_account_sessions_do_not_cross_into_the_passkey_grant(env: Harness) -> None:
    client = await passkey_client(env)
    enrolled = await env.enrolled(client)
    me = Me(env, await me_token(env, client, enrolled))
    started = await me.started({"type": "passkey"})
    auth = authenticator()
    credential = auth.create(started["authn_params_public_key"])
    # Adding a passkey is no signup or login at the token endpoint.
    resp = await exchange(env, client, started["auth_session"], credential)
    assert_error(resp, 403, "invalid_grant")
    # And a signup session from /passkey/register adds nothing to an account here.
    signup = await register(env, client)
    other = authenticator().create(signup["authn_params_public_key"])
    resp = await me.verify(
        started["id"], {"auth_session": signup["auth_session"], "authn_response": other}
    )
    assert_problem(resp, 400, pointer="/auth_session")
    login = await challenge(env, client)
    resp = await me.verify(
        started["id"], {"auth_session": login["auth_session"], "authn_response": other}
    )
    assert_problem(resp, 400, pointer="/auth_session")
    # The session itself still works once.
    await me.verified(
        started["id"], {"auth_session": started["auth_session"], "authn_response": credential}
    )


async def test_an_enrolment_code_confirms_nothing_at_the_token_endpoint(env: Harness) -> None:
    # A phone or email enrolment's auth_session is an oob_code bound to the My Account API.
    await env.tenant(
        enabled_factors={"otp", "email", "recovery-code"}, email_counts_as_factor=False
    )
    client, enrolled, me = await signed_in(env)
    deps = env.services.deps
    sent: list[Any] = []

    class Capture:
        async def send(self, message: Any) -> None:
            sent.append(message)

    deps.channels = {"email": Capture()}
    started = await me.started({"type": "email", "email": "x@example.com"})
    mfa_api = (await env.mfa_api_token(client, enrolled, "enroll"))["access_token"]
    params = {
        "grant_type": "http://auth0.com/oauth/grant-type/mfa-oob",
        "mfa_token": mfa_api,
        "oob_code": started["auth_session"],
        "binding_code": sent[-1].code,
    }
    resp = await env.token(params, client)
    assert_error(resp, 400, "invalid_request", "The oob_code doesn't match the mfa_token")
    method = await me.verified(
        started["id"], {"auth_session": started["auth_session"], "otp_code": sent[-1].code}
    )
    assert method["confirmed"] is True


# ----------------------------------------------------------------------------- limits


async def test_wrong_codes_drain_the_users_one_attempt_bucket(env: Harness) -> None:
    client, enrolled, me = await signed_in(env)
    started = await me.started({"type": "totp"})
    bad = wrong_code(env.code(started["manual_input_code"]), env.code(enrolled.secret))
    for _ in range(10):
        resp = await me.verify(
            started["id"], {"auth_session": started["auth_session"], "otp_code": bad}
        )
        assert_problem(resp, 400, pointer="/otp_code")
    resp = await me.verify(
        started["id"],
        {
            "auth_session": started["auth_session"],
            "otp_code": env.code(started["manual_input_code"]),
        },
    )
    assert_problem(resp, 429)
    # The same bucket the MFA grants draw on: the user's login is throttled too.
    mfa_token = await env.mfa_token(client, username=enrolled.email)
    assert_error(
        await env.otp_grant(client, mfa_token, env.code(enrolled.secret)), 429, "too_many_attempts"
    )


async def test_the_enrolment_cap_holds_across_apis(env: Harness) -> None:
    _policy(env, max_authenticators_per_kind=2)
    _, _, me = await signed_in(env)
    started = await me.started({"type": "totp"})
    await me.verified(
        started["id"],
        {
            "auth_session": started["auth_session"],
            "otp_code": env.code(started["manual_input_code"]),
        },
    )
    problem = assert_problem(await me.enrol({"type": "totp"}), 409)
    assert "most authenticators" in problem["detail"]
    for _ in range(2):
        added = await me.started({"type": "passkey"})
        credential = authenticator().create(added["authn_params_public_key"])
        await me.verified(
            added["id"], {"auth_session": added["auth_session"], "authn_response": credential}
        )
    assert_problem(await me.enrol({"type": "passkey"}), 409)


async def test_passkey_sessions_started_in_parallel_still_hit_the_cap(env: Harness) -> None:
    _policy(env, max_authenticators_per_kind=1)
    _, _, me = await signed_in(env)
    first = await me.started({"type": "passkey"})
    second = await me.started({"type": "passkey"})
    for started, status in ((first, 201), (second, 409)):
        credential = authenticator().create(started["authn_params_public_key"])
        resp = await me.verify(
            started["id"], {"auth_session": started["auth_session"], "authn_response": credential}
        )
        assert resp.status_code == status, resp.text


async def test_enrolments_draw_on_the_shared_allowance(env: Harness) -> None:
    _policy(env, associate_per_token=3)
    _, _, me = await signed_in(env)
    for _ in range(3):
        await me.started({"type": "totp"})
    resp = await me.enrol({"type": "totp"})
    assert_problem(resp, 429)
    assert int(resp.headers["retry-after"]) > 0


# ----------------------------------------------------------------------------- passkeys


@pytest.mark.parametrize(
    "tamper",
    [
        {"origin": "https://evil.example"},
        {"rp_id": "evil.example"},
        {"uv": False},
        {"up": False},
    ],
)
async def test_a_forged_attestation_is_refused_and_spends_the_session(
    env: Harness, tamper: dict[str, Any]
) -> None:
    _, _, me = await signed_in(env)
    started = await me.started({"type": "passkey"})
    auth = authenticator()
    bad = auth.create(started["authn_params_public_key"], **tamper)
    body = {"auth_session": started["auth_session"], "authn_response": bad}
    assert_problem(await me.verify(started["id"], body), 400, pointer="/authn_response")
    good = auth.create(started["authn_params_public_key"])
    body["authn_response"] = good
    assert_problem(await me.verify(started["id"], body), 400, pointer="/auth_session")
    assert [m["type"] for m in await me.methods()] == ["totp", "recovery-code"]


async def test_a_passkey_registered_to_someone_else_is_refused(env: Harness) -> None:
    _, _, alice = await signed_in(env)
    _, _, bob = await signed_in(env, email=SECOND)
    auth = authenticator()
    started = await alice.started({"type": "passkey"})
    await alice.verified(
        started["id"],
        {
            "auth_session": started["auth_session"],
            "authn_response": auth.create(started["authn_params_public_key"]),
        },
    )
    theirs = await bob.started({"type": "passkey"})
    same_credential = auth.create(theirs["authn_params_public_key"])
    resp = await bob.verify(
        theirs["id"], {"auth_session": theirs["auth_session"], "authn_response": same_credential}
    )
    assert_problem(resp, 409)
    assert [m["type"] for m in await bob.methods()] == ["totp", "recovery-code"]


@pytest.mark.parametrize(
    "bad", ["not an object", ["a"], {"id": "x"}, {"response": {"clientDataJSON": 7}}]
)
async def test_garbage_authn_responses_are_400_not_500(env: Harness, bad: Any) -> None:
    _, _, me = await signed_in(env)
    started = await me.started({"type": "passkey"})
    resp = await me.verify(
        started["id"], {"auth_session": started["auth_session"], "authn_response": bad}
    )
    assert_problem(resp, 400, pointer="/authn_response")


async def test_the_last_passkey_of_a_user_without_a_password_stays(env: Harness) -> None:
    client = await passkey_client(env)
    auth = authenticator()
    started = await register(env, client)
    signed_up = assert_tokens(
        await exchange(
            env,
            client,
            started["auth_session"],
            auth.create(started["authn_params_public_key"]),
            audience=ME,
        )
    )
    me = Me(env, signed_up["access_token"])
    (passkey,) = await me.methods()
    assert_problem(await me.delete(passkey["id"]), 409)
    assert [m["id"] for m in await me.methods()] == [passkey["id"]]

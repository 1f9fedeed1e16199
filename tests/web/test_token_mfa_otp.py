"""The mfa-otp grant: TOTP window and replay, enrolment confirmation, mfa_token life cycle,
the failed-attempt bucket, and what the issued tokens carry."""

from __future__ import annotations

import pytest

from .support import (
    API,
    EXPIRED,
    GRANT_OTP,
    INVALID_OTP,
    INVALID_RECOVERY,
    ISSUER,
    MALFORMED,
    OTHER_CLIENT,
    assert_error,
    assert_no_store,
    assert_tokens,
    audiences,
    wrong_code,
)

pytestmark = pytest.mark.anyio


# ----------------------------------------------------------------------------- happy path


async def test_enrolment_is_confirmed_by_the_first_code(env):
    client = await env.client()
    await env.user()
    mfa_token = await env.mfa_token(client)
    secret = (await env.associate_otp(mfa_token))["secret"]

    listed = (await env.list_authenticators(mfa_token)).json()
    assert [a["active"] for a in listed if a["authenticator_type"] == "otp"] == [False]

    resp = await env.otp_grant(client, mfa_token, env.code(secret))

    assert_tokens(resp)
    assert_no_store(resp)
    fresh = await env.mfa_token(client)
    listed = (await env.list_authenticators(fresh)).json()
    assert [a["active"] for a in listed if a["authenticator_type"] == "otp"] == [True]


async def test_a_failing_audit_trail_does_not_fail_the_grant(env, monkeypatch):
    # Audit rows are written inside the grant's unit of work and their failures swallowed:
    # the confirmation, the spent mfa_token and the taken attempt must all still commit
    # (PostgreSQL: tests/contract/test_audit_log.py).
    import sqlalchemy as sa

    from twofold.storage import audit as sql_audit

    broken = sa.insert(sa.table("no_such_table", sa.column("type"))).values(
        type=sa.bindparam("b_type")
    )
    monkeypatch.setattr(sql_audit, "_INSERT", broken)
    client = await env.client()
    await env.user()
    mfa_token = await env.mfa_token(client)
    secret = (await env.associate_otp(mfa_token))["secret"]

    assert_tokens(await env.otp_grant(client, mfa_token, env.code(secret)))

    again = await env.otp_grant(client, mfa_token, env.code(secret))
    assert_error(again, 403, "invalid_grant", MALFORMED)  # the mfa_token was spent
    listed = (await env.list_authenticators(await env.mfa_token(client))).json()
    assert [a["active"] for a in listed if a["authenticator_type"] == "otp"] == [True]


async def test_a_grant_whose_transaction_the_database_undoes_fails_and_spends_nothing(
    env, tmp_path
):
    # SQLite rolls a whole transaction back on some errors (disk full, I/O error; here a
    # trigger's RAISE(ROLLBACK) on the audit insert, which the trail swallows). The grant's
    # unit must then fail loudly, not answer 200 with the mfa_token and the code still unspent:
    # 503 temporarily_unavailable, as for any backend failure (the client may retry as is).
    import contextlib
    import sqlite3

    client = await env.client()
    enrolled = await env.enrolled(client)
    mfa_token = await env.mfa_token(client)
    code = env.code(enrolled.secret)
    with contextlib.closing(sqlite3.connect(tmp_path / "t.db")) as raw:
        raw.execute(
            "CREATE TRIGGER fail_audit BEFORE INSERT ON audit_events "
            "BEGIN SELECT RAISE(ROLLBACK, 'disk full, say'); END"
        )
        raw.commit()

    failed = await env.otp_grant(client, mfa_token, code)

    assert_error(failed, 503, "temporarily_unavailable")
    assert failed.headers["retry-after"] == "5"
    with contextlib.closing(sqlite3.connect(tmp_path / "t.db")) as raw:
        raw.execute("DROP TRIGGER fail_audit")
        raw.commit()
    # Nothing was committed: the same mfa_token and code work now, once.
    assert_tokens(await env.otp_grant(client, mfa_token, code))
    assert (await env.otp_grant(client, mfa_token, code)).status_code == 403


async def test_enrolled_user_verifies_with_current_code(env):
    client = await env.client()
    enrolled = await env.enrolled(client)
    mfa_token = await env.mfa_token(client)

    resp = await env.otp_grant(client, mfa_token, env.code(enrolled.secret))

    body = assert_tokens(resp)
    assert "recovery_code" not in body


async def test_json_body(env):
    client = await env.client()
    enrolled = await env.enrolled(client)
    mfa_token = await env.mfa_token(client)

    resp = await env.token(
        {"grant_type": GRANT_OTP, "mfa_token": mfa_token, "otp": env.code(enrolled.secret)},
        client,
        json=True,
    )

    assert_tokens(resp)


async def test_tokens_carry_password_time_audience_scope_and_amr(env):
    await env.api()
    await env.api("https://other.example.com", scopes=("read:y",))
    client = await env.client()
    enrolled = await env.enrolled(client)
    mfa_token = await env.mfa_token(
        client, audience=API, scope="openid profile offline_access read:x"
    )

    # The MFA grant asks for something else; the password-time request wins.
    resp = await env.otp_grant(
        client,
        mfa_token,
        env.code(enrolled.secret),
        audience="https://other.example.com",
        scope="openid read:y",
    )

    body = assert_tokens(resp)
    assert set(body["scope"].split()) == {"openid", "profile", "offline_access", "read:x"}
    assert isinstance(body.get("id_token"), str), body
    assert isinstance(body.get("refresh_token"), str), body

    header, claims = await env.decode(body["access_token"])
    assert header["alg"] == "RS256"
    assert claims["iss"] == ISSUER
    assert claims["sub"] == enrolled.user.user_id
    assert API in audiences(claims)
    assert "https://other.example.com" not in audiences(claims)
    assert claims["amr"] == ["mfa"]
    assert "read:y" not in str(claims.get("scope", ""))
    assert claims["exp"] - claims["iat"] == body["expires_in"]

    _, id_claims = await env.decode(body["id_token"])
    assert id_claims["iss"] == ISSUER
    assert id_claims["sub"] == enrolled.user.user_id
    assert client.client_id in audiences(id_claims)
    assert id_claims["amr"] == ["mfa"]


async def test_without_openid_there_is_no_id_token(env):
    await env.api()
    client = await env.client()
    enrolled = await env.enrolled(client)
    mfa_token = await env.mfa_token(client, audience=API, scope="read:x")

    body = assert_tokens(await env.otp_grant(client, mfa_token, env.code(enrolled.secret)))

    assert "id_token" not in body
    assert "refresh_token" not in body


# ----------------------------------------------------------------------------- TOTP window


async def test_wrong_code(env):
    client = await env.client()
    enrolled = await env.enrolled(client)
    mfa_token = await env.mfa_token(client)
    bad = wrong_code(env.code(enrolled.secret), env.code(enrolled.secret, -1))

    resp = await env.otp_grant(client, mfa_token, bad)

    assert_error(resp, 403, "invalid_grant", INVALID_OTP)
    assert_no_store(resp)
    assert "www-authenticate" not in resp.headers


async def test_wrong_code_does_not_consume_mfa_token(env):
    client = await env.client()
    enrolled = await env.enrolled(client)
    mfa_token = await env.mfa_token(client)
    bad = wrong_code(env.code(enrolled.secret), env.code(enrolled.secret, -1))

    assert_error(await env.otp_grant(client, mfa_token, bad), 403, "invalid_grant", INVALID_OTP)
    assert_tokens(await env.otp_grant(client, mfa_token, env.code(enrolled.secret)))


async def test_previous_step_is_accepted(env):
    client = await env.client()
    enrolled = await env.enrolled(client)
    env.next_step()  # the step before is still unused
    mfa_token = await env.mfa_token(client)

    assert_tokens(await env.otp_grant(client, mfa_token, env.code(enrolled.secret, -1)))


async def test_two_steps_back_is_rejected(env):
    client = await env.client()
    enrolled = await env.enrolled(client)
    env.next_step()
    env.next_step()  # two steps back is unused, not merely replayed
    mfa_token = await env.mfa_token(client)
    old = env.code(enrolled.secret, -2)
    assert old not in (env.code(enrolled.secret), env.code(enrolled.secret, -1))

    resp = await env.otp_grant(client, mfa_token, old)

    assert_error(resp, 403, "invalid_grant", INVALID_OTP)


async def test_next_step_is_rejected(env):
    # The current and the previous step only; a code from the future is not accepted.
    client = await env.client()
    enrolled = await env.enrolled(client)
    mfa_token = await env.mfa_token(client)
    future = env.code(enrolled.secret, +1)
    assert future not in (env.code(enrolled.secret), env.code(enrolled.secret, -1))

    resp = await env.otp_grant(client, mfa_token, future)

    assert_error(resp, 403, "invalid_grant", INVALID_OTP)


async def test_code_is_not_accepted_twice_even_with_new_mfa_token(env):
    client = await env.client()
    enrolled = await env.enrolled(client)
    code = env.code(enrolled.secret)
    assert_tokens(await env.otp_grant(client, await env.mfa_token(client), code))

    resp = await env.otp_grant(client, await env.mfa_token(client), code)

    assert_error(resp, 403, "invalid_grant", INVALID_OTP)


async def test_enrolment_code_cannot_be_replayed(env):
    client = await env.client()
    await env.user()
    mfa_token = await env.mfa_token(client)
    secret = (await env.associate_otp(mfa_token))["secret"]
    code = env.code(secret)
    assert_tokens(await env.otp_grant(client, mfa_token, code))

    resp = await env.otp_grant(client, await env.mfa_token(client), code)

    assert_error(resp, 403, "invalid_grant", INVALID_OTP)


async def test_previous_step_rejected_once_current_step_was_used(env):
    # The replay guard only moves forward (design: "last step accepted").
    client = await env.client()
    enrolled = await env.enrolled(client)
    env.next_step()  # the previous step is unused, but behind the accepted one
    assert_tokens(
        await env.otp_grant(client, await env.mfa_token(client), env.code(enrolled.secret))
    )

    resp = await env.otp_grant(client, await env.mfa_token(client), env.code(enrolled.secret, -1))

    assert_error(resp, 403, "invalid_grant", INVALID_OTP)


async def test_code_of_the_next_step_works_after_time_moves(env):
    client = await env.client()
    enrolled = await env.enrolled(client)
    assert_tokens(
        await env.otp_grant(client, await env.mfa_token(client), env.code(enrolled.secret))
    )
    env.next_step()

    resp = await env.otp_grant(client, await env.mfa_token(client), env.code(enrolled.secret))

    assert_tokens(resp)


@pytest.mark.parametrize("code", ["", "12345", "1234567", "abcdef", "12 345", "١٢٣٤٥٦"])
async def test_malformed_codes_are_invalid(env, code):
    client = await env.client()
    await env.enrolled(client)
    mfa_token = await env.mfa_token(client)

    resp = await env.otp_grant(client, mfa_token, code)

    if code == "":
        assert_error(resp, 400, "invalid_request", "Missing required parameter: otp")
    else:
        assert_error(resp, 403, "invalid_grant", INVALID_OTP)


# ----------------------------------------------------------------------------- parameters


@pytest.mark.parametrize("missing", ["mfa_token", "otp"])
async def test_missing_parameter(env, missing):
    client = await env.client()
    enrolled = await env.enrolled(client)
    params = {
        "grant_type": GRANT_OTP,
        "mfa_token": await env.mfa_token(client),
        "otp": env.code(enrolled.secret),
    }
    del params[missing]

    resp = await env.token(params, client)

    assert_error(resp, 400, "invalid_request", f"Missing required parameter: {missing}")


# ----------------------------------------------------------------------------- mfa_token


async def test_garbage_mfa_token(env):
    client = await env.client()
    enrolled = await env.enrolled(client)

    resp = await env.otp_grant(client, "not-a-token", env.code(enrolled.secret))

    assert_error(resp, 403, "invalid_grant", MALFORMED)


async def test_mfa_token_consumed_by_success(env):
    client = await env.client()
    enrolled = await env.enrolled(client)
    mfa_token = await env.mfa_token(client)
    assert_tokens(await env.otp_grant(client, mfa_token, env.code(enrolled.secret)))
    env.next_step()

    resp = await env.otp_grant(client, mfa_token, env.code(enrolled.secret))

    assert_error(resp, 403, "invalid_grant", MALFORMED)


async def test_mfa_token_expires_after_600_seconds(env):
    client = await env.client()
    enrolled = await env.enrolled(client)
    mfa_token = await env.mfa_token(client)
    env.clock.advance(601)

    resp = await env.otp_grant(client, mfa_token, env.code(enrolled.secret))

    assert_error(resp, 403, "expired_token", EXPIRED)


async def test_mfa_token_still_valid_at_599_seconds(env):
    client = await env.client()
    enrolled = await env.enrolled(client)
    mfa_token = await env.mfa_token(client)
    env.clock.advance(599)

    assert_tokens(await env.otp_grant(client, mfa_token, env.code(enrolled.secret)))


async def test_mfa_token_of_another_client(env):
    client = await env.client()
    other = await env.client()
    enrolled = await env.enrolled(client)
    mfa_token = await env.mfa_token(client)

    resp = await env.otp_grant(other, mfa_token, env.code(enrolled.secret))

    assert_error(resp, 400, "invalid_request", OTHER_CLIENT)
    # The refusal does not burn the code or the token for the right client.
    assert_tokens(await env.otp_grant(client, mfa_token, env.code(enrolled.secret)))


async def test_mfa_grant_not_allowed_for_client(env):
    client = await env.client()
    password_only = await env.client(grant_types=["password"])
    enrolled = await env.enrolled(client)
    mfa_token = await env.mfa_token(password_only)

    resp = await env.otp_grant(password_only, mfa_token, env.code(enrolled.secret))

    assert_error(
        resp, 403, "unauthorized_client", f"Grant type '{GRANT_OTP}' not allowed for the client."
    )


# ----------------------------------------------------------------------------- attempts bucket


async def _fail(env, client, enrolled, mfa_token, n):
    bad = wrong_code(env.code(enrolled.secret), env.code(enrolled.secret, -1))
    for _ in range(n):
        resp = await env.otp_grant(client, mfa_token, bad)
        assert_error(resp, 403, "invalid_grant", INVALID_OTP)


async def test_eleventh_attempt_is_refused_even_with_right_code(env):
    client = await env.client()
    enrolled = await env.enrolled(client)
    mfa_token = await env.mfa_token(client)
    await _fail(env, client, enrolled, mfa_token, 10)

    resp = await env.otp_grant(client, mfa_token, env.code(enrolled.secret))

    assert_error(resp, 429, "too_many_attempts")
    assert_no_store(resp)
    events = await env.services.deps.storage.audit.query(user_id=enrolled.user.user_id)
    kinds = [e.type for e in reversed(events)]
    assert kinds[-11:] == ["gd_auth_failed"] * 10 + ["gd_otp_rate_limit_exceed"]
    assert events[0].client_id == client.client_id


async def test_lockout_survives_a_new_mfa_token(env):
    client = await env.client()
    enrolled = await env.enrolled(client)
    await _fail(env, client, enrolled, await env.mfa_token(client), 10)

    resp = await env.otp_grant(client, await env.mfa_token(client), env.code(enrolled.secret))

    assert_error(resp, 429, "too_many_attempts")


async def test_bucket_refills_one_attempt_every_six_minutes(env):
    client = await env.client()
    enrolled = await env.enrolled(client)
    mfa_token = await env.mfa_token(client)
    await _fail(env, client, enrolled, mfa_token, 10)

    env.clock.advance(359)
    assert_error(
        await env.otp_grant(client, mfa_token, env.code(enrolled.secret)),
        429,
        "too_many_attempts",
    )
    env.clock.advance(1)
    await _fail(env, client, enrolled, mfa_token, 1)  # the one refilled attempt
    assert_error(
        await env.otp_grant(client, mfa_token, env.code(enrolled.secret)),
        429,
        "too_many_attempts",
    )


async def test_refilled_attempt_can_succeed_with_the_same_mfa_token(env):
    # A 429 consumes neither the mfa_token nor an attempt.
    client = await env.client()
    enrolled = await env.enrolled(client)
    mfa_token = await env.mfa_token(client)
    await _fail(env, client, enrolled, mfa_token, 10)
    for _ in range(3):
        assert_error(
            await env.otp_grant(client, mfa_token, env.code(enrolled.secret)),
            429,
            "too_many_attempts",
        )
    env.clock.advance(360)

    assert_tokens(await env.otp_grant(client, mfa_token, env.code(enrolled.secret)))


async def test_successes_do_not_drain_the_bucket(env):
    client = await env.client()
    enrolled = await env.enrolled(client)
    await _fail(env, client, enrolled, await env.mfa_token(client), 9)
    assert_tokens(
        await env.otp_grant(client, await env.mfa_token(client), env.code(enrolled.secret))
    )
    env.next_step()
    mfa_token = await env.mfa_token(client)
    # 30 s is far less than a refill, so exactly one failure is left.
    await _fail(env, client, enrolled, mfa_token, 1)

    resp = await env.otp_grant(client, mfa_token, env.code(enrolled.secret))

    assert_error(resp, 429, "too_many_attempts")


async def test_bucket_is_per_user(env):
    client = await env.client()
    alice = await env.enrolled(client, "alice@example.com", "alice pass")
    bob = await env.enrolled(client, "bob@example.com", "bob pass")
    await _fail(
        env,
        client,
        alice,
        await env.mfa_token(client, username=alice.email, password=alice.password),
        10,
    )

    resp = await env.otp_grant(
        client,
        await env.mfa_token(client, username=bob.email, password=bob.password),
        env.code(bob.secret),
    )

    assert_tokens(resp)


async def test_recovery_code_failures_share_the_bucket(env):
    client = await env.client()
    enrolled = await env.enrolled(client)
    mfa_token = await env.mfa_token(client)
    await _fail(env, client, enrolled, mfa_token, 5)
    for _ in range(5):
        assert_error(
            await env.recovery_grant(client, mfa_token, "A" * 24),
            403,
            "invalid_grant",
            INVALID_RECOVERY,
        )

    resp = await env.otp_grant(client, mfa_token, env.code(enrolled.secret))

    assert_error(resp, 429, "too_many_attempts")


async def test_lockout_applies_to_recovery_grant(env):
    client = await env.client()
    enrolled = await env.enrolled(client)
    mfa_token = await env.mfa_token(client)
    await _fail(env, client, enrolled, mfa_token, 10)

    resp = await env.recovery_grant(client, mfa_token, enrolled.recovery_code)

    assert_error(resp, 429, "too_many_attempts")


# ----------------------------------------------------------------------------- concurrency


async def _concurrently(*calls):
    import anyio

    results = [None] * len(calls)

    async def run(i, call):
        results[i] = await call()

    async with anyio.create_task_group() as tg:
        for i, call in enumerate(calls):
            tg.start_soon(run, i, call)
    return results


async def test_concurrent_use_of_one_code_succeeds_once(env):
    client = await env.client()
    enrolled = await env.enrolled(client)
    tokens = [await env.mfa_token(client) for _ in range(5)]
    code = env.code(enrolled.secret)

    results = await _concurrently(*[lambda t=t: env.otp_grant(client, t, code) for t in tokens])

    statuses = sorted(r.status_code for r in results)
    assert statuses == [200, 403, 403, 403, 403], [r.text for r in results]
    for r in results:
        if r.status_code == 403:
            assert_error(r, 403, "invalid_grant", INVALID_OTP)


async def test_concurrent_use_of_one_mfa_token_succeeds_once(env):
    client = await env.client()
    enrolled = await env.enrolled(client)
    mfa_token = await env.mfa_token(client)
    code = env.code(enrolled.secret)

    results = await _concurrently(
        lambda: env.otp_grant(client, mfa_token, code),
        lambda: env.recovery_grant(client, mfa_token, enrolled.recovery_code),
    )

    # Both factors are right; the mfa_token is spent by whichever wins.
    assert sorted(r.status_code for r in results) == [200, 403], [r.text for r in results]
    loser = next(r for r in results if r.status_code == 403)
    assert_error(loser, 403, "invalid_grant", MALFORMED)


@pytest.mark.parametrize("bucket_store", ["sql", "outside the unit"])
@pytest.mark.parametrize("grant", ["otp", "recovery"])
async def test_losing_the_mfa_token_to_a_concurrent_grant_costs_no_attempt(
    env, monkeypatch, bucket_store, grant
):
    # The grant's attempt is taken inside its unit of work. When a concurrent grant spends the
    # mfa_token first, the unit rolls back: a bucket in the same database gets its attempt back
    # with the rollback, one outside it (Redis; here the memory store) by a refund. Either
    # way exactly one attempt, the wrong guess before, stays taken.
    from twofold.core.grants import mfa_common
    from twofold.core.mfa import mfa_tokens
    from twofold.state.memory import MemoryStateStore

    deps = env.services.deps
    if bucket_store != "sql":
        deps.state = MemoryStateStore(env.clock)
    assert deps.state.transactional == (bucket_store == "sql")
    client = await env.client()
    enrolled = await env.enrolled(client)
    guessed = await env.mfa_token(client)
    wrong = await env.otp_grant(client, guessed, wrong_code(env.code(enrolled.secret)))
    assert_error(wrong, 403, "invalid_grant", INVALID_OTP)
    mfa_token = await env.mfa_token(client)

    spend = mfa_common.spend

    async def raced(deps, token, record, hold):
        await mfa_tokens.consume(deps, token)  # the concurrent grant, a moment earlier
        await spend(deps, token, record, hold)

    monkeypatch.setattr(mfa_common, "spend", raced)
    if grant == "otp":
        resp = await env.otp_grant(client, mfa_token, env.code(enrolled.secret))
    else:
        resp = await env.recovery_grant(client, mfa_token, enrolled.recovery_code)

    assert_error(resp, 403, "invalid_grant", MALFORMED)
    left, _ = await mfa_common.attempts(deps).remaining(enrolled.user.user_id)
    assert left == deps.policy.failed_attempts_capacity - 1

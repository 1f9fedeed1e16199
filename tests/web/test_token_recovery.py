"""The mfa-recovery-code grant: rotation, normalisation, errors."""

from __future__ import annotations

import pytest

from .support import (
    API,
    EXPIRED,
    GRANT_RECOVERY,
    INVALID_RECOVERY,
    ISSUER,
    MALFORMED,
    OTHER_CLIENT,
    RECOVERY_RE,
    assert_error,
    assert_no_store,
    assert_tokens,
    audiences,
)

pytestmark = pytest.mark.anyio


async def test_recovery_code_gives_tokens_and_a_new_code(env):
    await env.api()
    client = await env.client()
    enrolled = await env.enrolled(client)
    assert RECOVERY_RE.match(enrolled.recovery_code), enrolled.recovery_code
    mfa_token = await env.mfa_token(client, audience=API, scope="openid read:x")

    resp = await env.recovery_grant(client, mfa_token, enrolled.recovery_code)

    body = assert_tokens(resp)
    assert_no_store(resp)
    assert "recovery_codes" not in body
    assert isinstance(body.get("recovery_code"), str), body
    assert RECOVERY_RE.match(body["recovery_code"]), body["recovery_code"]
    assert body["recovery_code"] != enrolled.recovery_code
    assert set(body["scope"].split()) == {"openid", "read:x"}
    assert "id_token" in body
    _, claims = await env.decode(body["access_token"])
    assert claims["iss"] == ISSUER
    assert claims["sub"] == enrolled.user.user_id
    assert API in audiences(claims)
    assert claims["amr"] == ["mfa"]


async def test_old_code_stops_working_and_new_one_works(env):
    client = await env.client()
    enrolled = await env.enrolled(client)
    first = assert_tokens(
        await env.recovery_grant(client, await env.mfa_token(client), enrolled.recovery_code)
    )
    new_code = first["recovery_code"]

    old = await env.recovery_grant(client, await env.mfa_token(client), enrolled.recovery_code)
    assert_error(old, 403, "invalid_grant", INVALID_RECOVERY)

    second = assert_tokens(await env.recovery_grant(client, await env.mfa_token(client), new_code))
    assert RECOVERY_RE.match(second["recovery_code"])
    assert second["recovery_code"] not in (new_code, enrolled.recovery_code)


def _spaced(code: str) -> str:
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4)).lower()


@pytest.mark.parametrize(
    "transform",
    [
        pytest.param(str.lower, id="lower"),
        pytest.param(_spaced, id="hyphens-lower"),
        pytest.param(lambda c: " ".join(c[i : i + 6] for i in range(0, 24, 6)), id="spaces"),
        pytest.param(lambda c: f" {c[:12]} - {c[12:]} ", id="mixed"),
    ],
)
async def test_code_is_normalised(env, transform):
    client = await env.client()
    enrolled = await env.enrolled(client)

    resp = await env.recovery_grant(
        client, await env.mfa_token(client), transform(enrolled.recovery_code)
    )

    assert_tokens(resp)


async def test_wrong_code(env):
    client = await env.client()
    enrolled = await env.enrolled(client)
    wrong = ("0" if enrolled.recovery_code[0] != "0" else "1") + enrolled.recovery_code[1:]

    resp = await env.recovery_grant(client, await env.mfa_token(client), wrong)

    assert_error(resp, 403, "invalid_grant", INVALID_RECOVERY)
    assert "www-authenticate" not in resp.headers


async def test_wrong_code_does_not_rotate(env):
    client = await env.client()
    enrolled = await env.enrolled(client)
    mfa_token = await env.mfa_token(client)
    assert_error(
        await env.recovery_grant(client, mfa_token, "Z" * 24),
        403,
        "invalid_grant",
        INVALID_RECOVERY,
    )

    assert_tokens(await env.recovery_grant(client, mfa_token, enrolled.recovery_code))


async def test_another_users_code_is_invalid(env):
    client = await env.client()
    alice = await env.enrolled(client, "alice@example.com", "alice pass")
    bob = await env.enrolled(client, "bob@example.com", "bob pass")
    mfa_token = await env.mfa_token(client, username=bob.email, password=bob.password)

    resp = await env.recovery_grant(client, mfa_token, alice.recovery_code)

    assert_error(resp, 403, "invalid_grant", INVALID_RECOVERY)


async def test_missing_recovery_code(env):
    client = await env.client()
    await env.enrolled(client)

    resp = await env.token(
        {"grant_type": GRANT_RECOVERY, "mfa_token": await env.mfa_token(client)}, client
    )

    assert_error(resp, 400, "invalid_request", "Missing required parameter: recovery_code")


async def test_mfa_token_consumed_by_recovery(env):
    client = await env.client()
    enrolled = await env.enrolled(client)
    mfa_token = await env.mfa_token(client)
    new_code = assert_tokens(await env.recovery_grant(client, mfa_token, enrolled.recovery_code))[
        "recovery_code"
    ]

    resp = await env.recovery_grant(client, mfa_token, new_code)

    assert_error(resp, 403, "invalid_grant", MALFORMED)


async def test_expired_mfa_token(env):
    client = await env.client()
    enrolled = await env.enrolled(client)
    mfa_token = await env.mfa_token(client)
    env.clock.advance(601)

    resp = await env.recovery_grant(client, mfa_token, enrolled.recovery_code)

    assert_error(resp, 403, "expired_token", EXPIRED)


async def test_mfa_token_of_another_client(env):
    client = await env.client()
    other = await env.client()
    enrolled = await env.enrolled(client)

    resp = await env.recovery_grant(other, await env.mfa_token(client), enrolled.recovery_code)

    assert_error(resp, 400, "invalid_request", OTHER_CLIENT)


async def test_garbage_mfa_token(env):
    client = await env.client()
    enrolled = await env.enrolled(client)

    resp = await env.recovery_grant(client, "x" * 40, enrolled.recovery_code)

    assert_error(resp, 403, "invalid_grant", MALFORMED)


async def test_json_body(env):
    client = await env.client()
    enrolled = await env.enrolled(client)

    resp = await env.token(
        {
            "grant_type": GRANT_RECOVERY,
            "mfa_token": await env.mfa_token(client),
            "recovery_code": enrolled.recovery_code,
        },
        client,
        json=True,
    )

    assert RECOVERY_RE.match(assert_tokens(resp)["recovery_code"])


async def test_no_recovery_codes_when_disabled(env):
    await env.tenant(recovery_codes_enabled=False)
    client = await env.client()
    enrolled = await env.enrolled(client)

    assert enrolled.recovery_code is None
    listed = (await env.list_authenticators(await env.mfa_token(client))).json()
    assert [a["authenticator_type"] for a in listed] == ["otp"]

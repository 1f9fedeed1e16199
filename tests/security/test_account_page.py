"""Attacks through the account page's sign-in endpoints (/account/api/*), which run the token
endpoint's grants for the page's built-in client without a client secret: that client cannot be
presented anywhere else, a token from the page is a My Account token and nothing more, the
page's mfa_tokens and auth_sessions are refused to other clients and theirs to the page, and a
password guessed through the page costs the same attempts as one guessed at /oauth/token."""

from __future__ import annotations

import pytest

from twofold.core.attempts import PASSWORD_PER_IP_USER
from web import account_page_support as page
from web.management_support import auth
from web.my_account_support import Me, first_party
from web.passkey_support import challenge, exchange, passkey_client
from web.support import GRANT_OTP, PASSWORD, Creds, Harness, assert_error, assert_tokens

pytestmark = pytest.mark.anyio
OTHER_CLIENT = "mfa_token not issued to this client"
INVALID_SESSION = "Invalid or expired auth_session"


async def test_the_page_client_cannot_be_presented_by_anyone(env: Harness) -> None:
    await env.user()
    for secret in (None, "", "guess"):
        builtin = Creds(page.PAGE_CLIENT_ID, secret, "client_secret_post")
        assert_error(await env.password(builtin), 401, "invalid_client")
        assert_error(await env.challenge(builtin, "x"), 401, "invalid_client")
    resp = await env.http.post("/passkey/challenge", json={"client_id": page.PAGE_CLIENT_ID})
    assert_error(resp, 401, "invalid_client")


async def test_a_page_token_opens_no_api_but_my_account(env: Harness) -> None:
    client = await first_party(env)
    enrolled = await env.enrolled(client)
    token = await page.page_token(env, enrolled)
    assert (await Me(env, token).list()).status_code == 200
    assert_error(await env.list_authenticators(token), 401, "invalid_token")
    assert_error(await env.associate(token), 401, "invalid_token")
    resp = await env.http.get("/api/v2/users", headers=auth(token))
    assert resp.status_code == 401, resp.text
    # Nor does it stand in for an mfa_token, at the token endpoint or at the page.
    assert_error(
        await env.otp_grant(client, token, env.code(enrolled.secret)), 403, "invalid_grant"
    )
    assert_error(await page.page_otp(env, token, env.code(enrolled.secret)), 403, "invalid_grant")


async def test_mfa_tokens_do_not_cross_between_the_page_and_a_client(env: Harness) -> None:
    client = await first_party(env)
    enrolled = await env.enrolled(client)
    pages = await page.page_mfa_token(env, enrolled)
    resp = await env.otp_grant(client, pages, env.code(enrolled.secret))
    assert_error(resp, 400, "invalid_request", OTHER_CLIENT)
    assert_error(await env.challenge(client, pages), 400, "invalid_request", OTHER_CLIENT)
    clients = await env.mfa_token(client, username=enrolled.email)
    resp = await page.page_otp(env, clients, env.code(enrolled.secret))
    assert_error(resp, 400, "invalid_request", OTHER_CLIENT)
    resp = await page.page_call(env, "challenge", {"mfa_token": clients})
    assert_error(resp, 400, "invalid_request", OTHER_CLIENT)
    # Each still finishes where it was issued: nothing was spent by the refusals.
    assert_tokens(await page.page_otp(env, pages, env.code(enrolled.secret)))
    env.next_step()
    assert_tokens(await env.otp_grant(client, clients, env.code(enrolled.secret)))


async def test_passkey_sessions_do_not_cross_between_the_page_and_a_client(env: Harness) -> None:
    client = await passkey_client(env)
    enrolled = await env.enrolled(await first_party(env))
    auth_ = await page.add_passkey(Me(env, await page.page_token(env, enrolled)))

    # A client's auth_session, answered by the user's passkey, signs nobody in through the page.
    theirs = await challenge(env, client)
    body = {
        "grant_type": page.GRANT_WEBAUTHN,
        "auth_session": theirs["auth_session"],
        "authn_response": auth_.get(theirs["authn_params_public_key"]),
    }
    assert_error(await page.page_call(env, "token", body), 403, "invalid_grant", INVALID_SESSION)
    # And the page's auth_session signs nobody in at the token endpoint.
    resp = await page.page_call(env, "passkey-challenge", {})
    ours = resp.json()
    credential = auth_.get(ours["authn_params_public_key"])
    resp = await exchange(env, client, ours["auth_session"], credential)
    assert_error(resp, 403, "invalid_grant", INVALID_SESSION)
    assert_tokens(await page.page_passkey(env, auth_))


async def test_a_passkey_login_through_the_page_gives_no_other_audience(env: Harness) -> None:
    resp = await page.page_call(
        env,
        "token",
        {
            "grant_type": page.GRANT_WEBAUTHN,
            "auth_session": "x",
            "authn_response": {},
            "audience": f"{env.services.deps.issuer}mfa/",
        },
    )
    assert_error(resp, 400, "invalid_request", "Unknown parameter: audience")


async def test_password_guesses_through_the_page_spend_the_same_attempts(env: Harness) -> None:
    client = await first_party(env)
    enrolled = await env.enrolled(client)
    for _ in range(PASSWORD_PER_IP_USER.capacity):
        assert_error(await page.page_password(env, enrolled.email, "wrong"), 403, "invalid_grant")
    # The bucket of this user from this address is empty, wherever the next try comes from.
    assert_error(await page.page_password(env, enrolled.email, PASSWORD), 429, "too_many_attempts")
    assert_error(await env.password(client, username=enrolled.email), 429, "too_many_attempts")


async def test_a_user_with_a_factor_gets_nothing_from_the_password_alone(env: Harness) -> None:
    enrolled = await env.enrolled(await first_party(env))
    body = assert_error(
        await page.page_password(env, enrolled.email, PASSWORD), 403, "mfa_required"
    )
    assert "access_token" not in body
    resp = await page.page_call(
        env, "token", {"grant_type": GRANT_OTP, "mfa_token": body["mfa_token"], "otp": "123456"}
    )
    assert resp.status_code != 200

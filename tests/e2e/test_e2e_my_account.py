"""The My Account API end to end, driven by auth0-server-python's MyAccountClient against a real
Twofold over HTTPS: a user with no factor yet gets a My Account token with the password (scopes
in the SDK's hyphenated spelling), enrols TOTP and verifies it; that token is then refused and a
new one takes the password and the TOTP; the user enrols a passkey made by the software
authenticator (real authenticator data and P-256 signatures), signs in with it, renames and
deletes methods. Tokens are checked with PyJWT against the served JWKS, TOTP codes computed with
pyca/cryptography: none of the server's code checks itself."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from auth0.authentication.exceptions import Auth0Error
from auth0_server_python.auth_server.my_account_client import MyAccountClient
from auth0_server_python.auth_types import (
    EnrollAuthenticationMethodRequest,
    PasskeyAuthResponse,
    UpdateAuthenticationMethodRequest,
    VerifyAuthenticationMethodRequest,
)
from auth0_server_python.error import MyAccountApiError

from web.webauthn_authenticator import SoftAuthenticator

from ._otp import code_for_step, current_step
from ._sdk import get_token, login_expecting_mfa, mfa_client, verify_jwt, wrap
from ._server import Client, TwofoldServer, User
from .conftest import Deployment

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]

GRANT_WEBAUTHN = "urn:okta:params:oauth:grant-type:webauthn"
# As auth0-server-python documents them: with hyphens.
SCOPE = (
    "read:me:factors read:me:authentication-methods create:me:authentication-methods "
    "update:me:authentication-methods delete:me:authentication-methods"
)


@pytest.fixture(scope="module")
def app(deployment: Deployment) -> Client:
    """A confidential first-party app allowed the password, MFA and passkey grants."""
    grants = f"password http://auth0.com/oauth/grant-type/mfa-otp {GRANT_WEBAUTHN}"
    return deployment.server.create_client("e2e my account", "--grant-types", grants)


@pytest.fixture(scope="module")
def jwks(deployment: Deployment) -> dict[str, Any]:
    with deployment.http() as http:
        body = http.get("/.well-known/jwks.json").json()
    assert isinstance(body, dict)
    return body


def _my_account(server: TwofoldServer) -> MyAccountClient:
    return MyAccountClient(domain=server.domain, ssl_context=server.tls.client_context())


def _password_only(server: TwofoldServer, app: Client, user: User) -> str:
    tokens = get_token(server, app).login(
        username=user.email,
        password=user.password,
        scope=SCOPE,
        audience=f"https://{server.domain}/me/",
        grant_type="password",
        realm=None,
    )
    return str(tokens["access_token"])


async def _with_totp(server: TwofoldServer, app: Client, user: User, secret: str) -> str:
    """The password (auth0-python: 403 mfa_required), then the TOTP (MfaClient's mfa-otp grant)."""
    required = login_expecting_mfa(
        server, app, user, audience=f"https://{server.domain}/me/", scope=SCOPE
    )
    mfa = mfa_client(server, app)
    tokens = await mfa.verify(
        {"mfa_token": wrap(mfa, required), "otp": code_for_step(secret, current_step())}
    )
    return str(tokens.access_token)


async def _passkey_login(deployment: Deployment, app: Client, auth: SoftAuthenticator) -> str:
    async with deployment.async_http(timeout=10) as http:
        started = (await http.post("/passkey/challenge", json={"client_id": app.client_id})).json()
        signed = {
            "auth_session": started["auth_session"],
            "authn_response": auth.get(started["authn_params_public_key"]),
        }
        app_credentials = {"client_id": app.client_id, "client_secret": app.client_secret}
        body = {"grant_type": GRANT_WEBAUTHN, **app_credentials, **signed}
        resp = await http.post("/oauth/token", json=body)
    assert resp.status_code == 200, resp.text
    return str(resp.json()["access_token"])


async def test_my_account_client_lifecycle(
    deployment: Deployment, app: Client, jwks: dict[str, Any]
) -> None:
    server, user = deployment.server, deployment.users["alice"]
    me = _my_account(server)
    audience = me.audience
    assert audience == f"https://{server.domain}/me/"

    # -- a user with no factor: the password alone gets a My Account token, to enrol one
    first = _password_only(server, app, user)
    claims = verify_jwt(first, jwks, issuer=server.issuer, audience=audience)
    assert claims["sub"] == user.user_id
    assert set(claims["scope"].split()) == set(SCOPE.split())
    factors = await me.get_factors(first)
    assert [f.type for f in factors.factors][:2] == ["passkey", "totp"]
    assert (await me.list_authentication_methods(first)).authentication_methods == []

    # -- enrol TOTP and verify it
    started = await me.enroll_authentication_method(
        first, EnrollAuthenticationMethodRequest(type="totp")
    )
    method_id = started.authentication_method_id
    assert method_id.startswith("totp|dev_")
    extra = started.model_extra or {}
    secret = str(extra["manual_input_code"])
    assert parse_qs(urlparse(str(extra["barcode_uri"])).query)["secret"] == [secret]
    # The previous step's code (still accepted), so the login below can take the current one.
    confirmed = await me.verify_authentication_method(
        first,
        method_id,
        VerifyAuthenticationMethodRequest(
            auth_session=started.auth_session, otp_code=code_for_step(secret, current_step() - 1)
        ),
    )
    assert (confirmed.id, confirmed.type, confirmed.confirmed) == (method_id, "totp", True)

    # -- the password-only token is spent now that the user has a factor
    with pytest.raises(MyAccountApiError) as refused:
        await me.list_authentication_methods(first)
    assert refused.value.status == 401
    assert refused.value.type.startswith("https://auth0.com/api-errors/A0E-401-")
    with pytest.raises(Auth0Error) as needs_mfa:
        _password_only(server, app, user)
    assert needs_mfa.value.error_code == "mfa_required"

    # -- a new token with the password and the TOTP factor
    token = await _with_totp(server, app, user, secret)
    assert "mfa" in verify_jwt(token, jwks, issuer=server.issuer, audience=audience)["amr"]

    # -- enrol a passkey and verify it with the software authenticator's attestation
    passkey = await me.enroll_authentication_method(
        token, EnrollAuthenticationMethodRequest(type="passkey")
    )
    options = passkey.authn_params_public_key
    assert options is not None
    assert options.rp is not None
    assert options.rp.id == "127.0.0.1"
    auth = SoftAuthenticator(origin=server.base_url, rp_id="127.0.0.1", backup_eligible=True)
    made = auth.create(options.model_dump(by_alias=True, exclude_none=True))
    added = await me.verify_authentication_method(
        token,
        passkey.authentication_method_id,
        VerifyAuthenticationMethodRequest(
            auth_session=passkey.auth_session,
            authn_response=PasskeyAuthResponse(
                id=made["id"],
                raw_id=made["rawId"],
                type="public-key",
                response={
                    "clientDataJSON": made["response"]["clientDataJSON"],
                    "attestationObject": made["response"]["attestationObject"],
                },
            ),
        ),
    )
    assert added.type == "passkey"
    assert added.confirmed is True
    assert added.key_id == made["id"]
    assert added.credential_device_type == "multi_device"

    # -- the passkey signs the user in (Auth0's native passkey login), as any passkey does
    signed_in = await _passkey_login(deployment, app, auth)
    assert (
        verify_jwt(signed_in, jwks, issuer=server.issuer, audience=server.issuer + "userinfo")[
            "sub"
        ]
        == user.user_id
    )

    # -- list, get, rename, delete
    listed = await me.list_authentication_methods(token)
    assert [m.type for m in listed.authentication_methods] == ["totp", "passkey"]
    only_passkeys = await me.list_authentication_methods(token, type_filter="passkey")
    assert [m.id for m in only_passkeys.authentication_methods] == [added.id]
    renamed = await me.update_authentication_method(
        token, added.id, UpdateAuthenticationMethodRequest(name="Laptop")
    )
    assert renamed.name == "Laptop"
    assert (await me.get_authentication_method(token, added.id)).name == "Laptop"
    await me.delete_authentication_method(token, method_id)
    remaining = await me.list_authentication_methods(token)
    assert [m.id for m in remaining.authentication_methods] == [added.id]
    with pytest.raises(MyAccountApiError) as gone:
        await me.get_authentication_method(token, method_id)
    assert gone.value.status == 404


async def test_my_account_refuses_other_tokens(deployment: Deployment) -> None:
    """A token for another API is refused with a problem the SDK reads."""
    server = deployment.server
    me = _my_account(server)
    async with deployment.async_http(timeout=10) as http:
        resp = await http.get("/me/v1/factors", headers={"Authorization": "Bearer x.y.z"})
    assert resp.headers["content-type"].startswith("application/problem+json")
    with pytest.raises(MyAccountApiError) as refused:
        await me.get_factors("x.y.z")
    assert refused.value.status == 401

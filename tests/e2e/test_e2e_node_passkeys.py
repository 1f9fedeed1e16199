"""Auth0's native passkey login end to end, driven by @auth0/auth0-auth-js's passkey client
(`authClient.passkey`, pinned in tests/e2e/node/) against a real Twofold over HTTPS.

The SDK asks for a signup challenge (`/passkey/register`), the software authenticator of the
tests answers it as navigator.credentials.create() would (a P-256 key, real authenticator data
and attestation), and the SDK exchanges that for tokens with the webauthn grant; then the same
passkey logs in (`/passkey/challenge`, navigator.credentials.get(), the grant again). Nothing of
the server's verifier is mocked: its py_webauthn checks these bytes as any authenticator's.
The tokens are checked twice: by the SDK (openid-client validates the ID token) and here with
PyJWT against the served JWKS. Steps run in `tests/e2e/node/passkeys.mjs`.
"""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from web.webauthn_authenticator import SoftAuthenticator

from . import _management as shared
from ._node import node_ready, run_step
from ._sdk import verify_jwt
from ._server import Client
from .conftest import Deployment

pytestmark = pytest.mark.e2e

SCRIPT = "passkeys.mjs"
GRANT_WEBAUTHN = "urn:okta:params:oauth:grant-type:webauthn"
SCOPE = "openid profile email offline_access"
# RFC 8176: a key held in hardware (not backup-eligible), user verification, hence MFA.
DEVICE_BOUND_AMR = ["hwk", "user", "mfa"]


@pytest.fixture(scope="module")
def user_labels() -> tuple[str, ...]:
    return ()


@pytest.fixture(scope="module")
def app(deployment: Deployment) -> Client:
    """A confidential client allowed the webauthn grant (not in a new client's default set)."""
    node_ready()
    return deployment.server.create_client(
        "e2e passkey app", "--grant-types", f"{GRANT_WEBAUTHN} refresh_token"
    )


@pytest.fixture(scope="module")
def jwks(deployment: Deployment) -> dict[str, Any]:
    with deployment.http(timeout=10) as http:
        return dict(http.get("/.well-known/jwks.json").json())


def _step(deployment: Deployment, client: Client, step: str, **args: Any) -> Any:
    return run_step(deployment.server, client, SCRIPT, step, **args)


def _answered(result: dict[str, Any]) -> dict[str, Any]:
    assert "answered" in result, result
    return dict(result["answered"])


def _token(
    deployment: Deployment, client: Client, auth_session: str, credential: dict[str, Any]
) -> dict[str, Any]:
    return dict(
        _step(
            deployment,
            client,
            "token",
            authSession=auth_session,
            credential=credential,
            scope=SCOPE,
            audience=deployment.api_identifier,
        )
    )


def _checked_tokens(
    deployment: Deployment, app: Client, jwks: dict[str, Any], tokens: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ID token's and the access token's claims, verified independently of the SDK."""
    server = deployment.server
    assert tokens["tokenType"].lower() == "bearer", tokens
    assert tokens["refreshToken"], tokens
    id_claims = verify_jwt(tokens["idToken"], jwks, issuer=server.issuer, audience=app.client_id)
    assert tokens["claims"]["sub"] == id_claims["sub"], "the SDK read the same ID token"
    access = verify_jwt(
        tokens["accessToken"], jwks, issuer=server.issuer, audience=deployment.api_identifier
    )
    assert access["sub"] == id_claims["sub"]
    return id_claims, access


def _login(
    deployment: Deployment, app: Client, passkey: SoftAuthenticator
) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """The SDK's login challenge, answered by `passkey`, and the SDK's token exchange."""
    started = _answered(_step(deployment, app, "challenge"))
    options = started["authnParamsPublicKey"]
    assert options["rpId"] == passkey.rp_id, options
    assert options["userVerification"] == "required", options
    # A login names no user, so no credential either: the authenticator offers its passkeys.
    assert not options.get("allowCredentials"), options
    session = started["authSession"]
    credential = passkey.get(options)
    return session, credential, _token(deployment, app, session, credential)


def test_sdk_passkey_signup_then_login(
    deployment: Deployment, app: Client, jwks: dict[str, Any]
) -> None:
    server = deployment.server
    email = f"passkey-{secrets.token_hex(4)}@e2e.twofold.test"
    passkey = SoftAuthenticator(origin=server.base_url, rp_id="127.0.0.1")

    metadata = {"plan": "pro", "locale": "de-CH"}
    signup = _answered(
        _step(deployment, app, "register", email=email, name="Pat Passkey", userMetadata=metadata)
    )
    creation = signup["authnParamsPublicKey"]
    assert creation["rp"]["id"] == passkey.rp_id, creation
    assert creation["user"]["name"] == email, creation
    assert creation["user"]["displayName"] == "Pat Passkey", creation
    assert creation["authenticatorSelection"]["userVerification"] == "required", creation
    assert creation["authenticatorSelection"]["residentKey"] == "required", creation
    assert {"type": "public-key", "alg": -7} in creation["pubKeyCredParams"], creation

    created = _answered(
        _token(deployment, app, signup["authSession"], passkey.create(creation, fmt="packed"))
    )
    signed_up, signup_access = _checked_tokens(deployment, app, jwks, created)
    user_id = signed_up["sub"]
    assert user_id.startswith("auth0|"), signed_up
    assert signed_up["email"] == email, signed_up
    assert signed_up["amr"] == DEVICE_BOUND_AMR, signed_up
    assert signup_access["amr"] == DEVICE_BOUND_AMR, signup_access
    reader = shared.sdk_client(deployment, "e2e passkey user reader", "read:users")
    stored = reader.users.get(user_id)
    assert (stored.email, stored.name) == (email, "Pat Passkey"), stored
    assert stored.user_metadata == metadata, "the SDK's userMetadata is kept on the user"

    session, credential, answer = _login(deployment, app, passkey)
    logged_in, access = _checked_tokens(deployment, app, jwks, _answered(answer))
    assert logged_in["sub"] == user_id, "the passkey logs in the user it signed up"
    assert "mfa" in logged_in["amr"], logged_in
    assert "mfa" in access["amr"], access
    assert access["scope"].split() == _answered(answer)["scope"].split() == SCOPE.split(), access

    # The same signed response again, in its own session or in a fresh one: refused, with the
    # SDK's own error for the token exchange.
    fresh = _answered(_step(deployment, app, "challenge"))["authSession"]
    # The spent session is gone; the fresh one's challenge is not the one the response signed.
    for auth_session, why in (
        (session, "Invalid or expired auth_session"),
        (fresh, "The passkey could not be verified"),
    ):
        refused = _token(deployment, app, auth_session, credential)["refused"]
        assert (refused["error"], refused["code"], refused["statusCode"]) == (
            "PasskeyGetTokenError",
            "passkey_get_token_error",
            403,
        ), refused
        assert refused["cause"] == {"error": "invalid_grant", "error_description": why}, refused
        assert refused["message"] == why, refused

    # The refresh token of a passkey login keeps the user's MFA status.
    refreshed = _step(deployment, app, "refresh", refreshToken=_answered(answer)["refreshToken"])
    renewed = verify_jwt(
        refreshed["accessToken"], jwks, issuer=server.issuer, audience=deployment.api_identifier
    )
    assert renewed["sub"] == user_id
    assert "mfa" in renewed["amr"], renewed


def test_sdk_passkey_calls_need_a_client_allowed_the_grant(deployment: Deployment) -> None:
    """The deployment's first-party client has the default grants, which leave webauthn out."""
    node_ready()
    other = deployment.client
    email = f"nope-{secrets.token_hex(4)}@e2e.twofold.test"

    for step, args, error in (
        ("register", {"email": email, "name": "Nope"}, "PasskeyRegisterError"),
        ("challenge", {}, "PasskeyChallengeError"),
    ):
        refused = _step(deployment, other, step, **args)["refused"]
        assert (refused["error"], refused["statusCode"]) == (error, 403), refused
        assert refused["cause"]["error"] == "unauthorized_client", refused

"""Thin helpers around the official Auth0 SDKs and an independent JWT check (PyJWT).

How the SDKs are made to trust the test CA (see conftest.sdk_trust): neither SDK takes a CA bundle.
auth0-python calls `requests.request(...)`, which honours REQUESTS_CA_BUNDLE; auth0-server-python's
MfaClient builds a fresh `httpx.AsyncClient()` (trust_env=True) per call, and httpx 0.28 builds its
SSL context from SSL_CERT_FILE when that is set (MfaClient's own `ssl_context` argument is applied
only with use_mtls=True, so it is not the hook). Both variables point at a file holding only the
test CA, so verification stays on and nothing else is trusted.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from auth0.authentication import GetToken
from auth0.authentication.exceptions import Auth0Error
from auth0.management import ManagementClient
from auth0_server_python.auth_server.mfa_client import MfaClient

from ._server import Client, TwofoldServer, User

LOGIN_SCOPE = "openid profile email offline_access"
MFA_GRANT_OTP = "http://auth0.com/oauth/grant-type/mfa-otp"
MFA_GRANT_RECOVERY_CODE = "http://auth0.com/oauth/grant-type/mfa-recovery-code"


@dataclass(frozen=True)
class MfaRequired:
    """What auth0-python hands back when the password grant answers mfa_required."""

    error: Auth0Error
    mfa_token: str
    mfa_requirements: dict[str, Any] | None
    audience: str
    scope: str


def management_client(server: TwofoldServer, name: str, scopes: str) -> ManagementClient:
    """auth0-python's ManagementClient for a new machine client granted these Management API
    scopes; it fetches its own token (client_credentials)."""
    made = server.cli_json(
        "clients",
        "create",
        "--name",
        name,
        "--grant-types",
        "client_credentials",
        "--audience",
        f"https://{server.domain}/api/v2/",
        "--scope",
        scopes,
        "--json",
    )
    return ManagementClient(
        domain=server.domain,
        client_id=str(made["client_id"]),
        client_secret=str(made["client_secret"]),
        timeout=10,
    )


def get_token(server: TwofoldServer, client: Client) -> GetToken:
    return GetToken(server.domain, client.client_id, client_secret=client.client_secret, timeout=10)


def login_expecting_mfa(
    server: TwofoldServer,
    client: Client,
    user: User,
    *,
    audience: str | None = None,
    scope: str = LOGIN_SCOPE,
) -> MfaRequired:
    """auth0-python's password grant; it must fail with 403 mfa_required and carry an mfa_token."""
    try:
        result = get_token(server, client).login(
            username=user.email,
            password=user.password,
            scope=scope,
            audience=audience,
            grant_type="password",
        )
    except Auth0Error as exc:
        # Keep the error, not its traceback: the frames hold requests' response objects and
        # with them open TLS connections, which would delay the server's graceful shutdown.
        err = exc.with_traceback(None)
    else:
        pytest.fail(f"password grant for {user.email} succeeded without MFA: {result!r}")
    assert (err.status_code, err.error_code) == (403, "mfa_required"), (
        f"password grant for {user.email}: expected 403 mfa_required, got "
        f"{err.status_code} {err.error_code!r} {err.message!r} content={err.content!r}"
    )
    assert err.message == "Multifactor authentication required", err.message
    content = err.content
    assert isinstance(content, dict), f"mfa_required body not kept as a dict: {content!r}"
    mfa_token = content.get("mfa_token")
    assert isinstance(mfa_token, str), f"mfa_required without mfa_token: {content!r}"
    assert mfa_token, f"mfa_required without mfa_token: {content!r}"
    return MfaRequired(
        error=err,
        mfa_token=mfa_token,
        mfa_requirements=content.get("mfa_requirements"),
        audience=audience or "",
        scope=scope,
    )


def mfa_client(server: TwofoldServer, client: Client) -> MfaClient:
    return MfaClient(
        domain=server.domain,
        client_id=client.client_id,
        client_secret=client.client_secret,
        secret=secrets.token_urlsafe(48),
    )


def wrap(mfa: MfaClient, required: MfaRequired) -> str:
    """MfaClient only accepts its own encrypted token; this is what its `_raise_mfa_required`
    does with the mfa_token of an mfa_required response (and what its own tests call)."""
    return mfa._encrypt_mfa_token(required.mfa_token, required.audience, required.scope)


def requirement_types(requirements: dict[str, Any] | None, kind: str) -> set[str]:
    entries = (requirements or {}).get(kind) or []
    return {entry.get("type") for entry in entries if isinstance(entry, dict)}


def verify_jwt(
    token: str,
    jwks: dict[str, Any],
    *,
    issuer: str,
    audience: str,
) -> dict[str, Any]:
    """Check signature, alg, iss, aud, exp, iat with PyJWT against the served JWKS."""
    header = jwt.get_unverified_header(token)
    assert header.get("alg") == "RS256", f"unexpected JWT header {header}"
    keyset = jwt.PyJWKSet.from_dict(jwks)
    kid = header.get("kid")
    assert kid, f"JWT without kid: {header}"
    try:
        key = keyset[kid]
    except KeyError:
        raise AssertionError(f"kid {kid!r} is not in the served JWKS {jwks}") from None
    claims = jwt.decode(
        token,
        key=key,
        algorithms=["RS256"],
        audience=audience,
        issuer=issuer,
        options={"require": ["exp", "iat", "iss", "aud", "sub"]},
        leeway=5,
    )
    assert claims["exp"] > time.time(), claims
    assert claims["iat"] <= time.time() + 5, claims
    return claims


def audiences(claims: dict[str, Any]) -> list[str]:
    aud = claims.get("aud")
    return [aud] if isinstance(aud, str) else list(aud or [])

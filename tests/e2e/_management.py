"""What the Management API end-to-end tests share: a machine client granted the Management API
(https://{domain}/api/v2/) with some scopes, the token grant a test finishes a login with, and
the check that a blocked user's password login is refused."""

from __future__ import annotations

from typing import Any

import pytest
from auth0.authentication.exceptions import Auth0Error
from auth0.management import ManagementClient

from ._sdk import get_token
from ._server import Client, TwofoldServer
from .conftest import Deployment

REALM = "Username-Password-Authentication"
# What a back office needs to manage users and reset their MFA.
USER_ADMIN_SCOPES = (
    "read:users create:users update:users delete:users read:authentication_methods "
    "create:authentication_methods delete:guardian_enrollments read:logs read:logs_users"
)


def management_client(server: TwofoldServer, name: str, scopes: str) -> Client:
    """A client_credentials client granted the Management API with these (space-separated)
    scopes, made with `twofold clients create` as an operator would."""
    return server.create_client(
        name,
        "--grant-types",
        "client_credentials",
        "--audience",
        f"https://{server.domain}/api/v2/",
        "--scope",
        scopes,
    )


def sdk_client(deployment: Deployment, name: str, scopes: str) -> ManagementClient:
    """auth0-python's ManagementClient for a new such client; it fetches its own token."""
    made = management_client(deployment.server, name, scopes)
    return ManagementClient(
        domain=deployment.server.domain,
        client_id=made.client_id,
        client_secret=made.client_secret,
        timeout=10,
    )


def token_grant(deployment: Deployment, **params: str) -> dict[str, Any]:
    """POST /oauth/token as the deployment's first-party client; the JSON body with `status`."""
    client = deployment.client
    with deployment.http(timeout=10) as http:
        resp = http.post(
            "/oauth/token",
            data={"client_id": client.client_id, "client_secret": client.client_secret, **params},
        )
    body = resp.json()
    assert isinstance(body, dict)
    body["status"] = resp.status_code
    return body


def assert_login_blocked(deployment: Deployment, email: str, password: str) -> None:
    """auth0-python's password grant answers Auth0's blocked-user error (401 unauthorized)."""
    with pytest.raises(Auth0Error) as blocked:
        get_token(deployment.server, deployment.client).login(
            username=email, password=password, grant_type="password", realm=None
        )
    assert (blocked.value.status_code, blocked.value.error_code) == (401, "unauthorized")

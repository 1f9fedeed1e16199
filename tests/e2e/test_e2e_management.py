"""The Management API end to end, driven by auth0-python's ManagementClient against a real
Twofold over HTTPS: the client fetches its own token (client_credentials for
https://{domain}/api/v2/), then creates a user, finds it, pages users, imports a TOTP secret and
logs in with a code computed from it, lists methods, resets MFA, regenerates a recovery code,
reads the logs, blocks and deletes the user."""

from __future__ import annotations

import base64
import secrets

import pytest
from auth0.management import ManagementClient
from auth0.management.errors import ForbiddenError, NotFoundError

from ._management import (
    REALM,
    USER_ADMIN_SCOPES,
    assert_login_blocked,
    sdk_client,
    token_grant,
)
from ._otp import code_for_step, current_step
from ._sdk import MFA_GRANT_OTP, MFA_GRANT_RECOVERY_CODE, login_expecting_mfa
from ._server import User
from .conftest import Deployment

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def management(deployment: Deployment) -> ManagementClient:
    return sdk_client(deployment, "e2e management", USER_ADMIN_SCOPES)


def test_management_client_lifecycle(deployment: Deployment, management: ManagementClient) -> None:
    email = f"mgmt-{secrets.token_hex(4)}@e2e.twofold.test"
    password = f"pw-{secrets.token_urlsafe(18)}"

    created = management.users.create(
        connection=REALM, email=email, password=password, email_verified=True
    )
    user_id = created.user_id
    assert user_id is not None
    assert user_id.startswith("auth0|")
    assert created.identities is not None
    assert created.identities[0].provider == "auth0"

    found = management.users.list_users_by_email(email=email)
    assert [u.user_id for u in found] == [user_id]
    fetched = management.users.get(user_id)
    assert fetched.email == email

    everyone = list(management.users.list(per_page=1))
    assert user_id in {u.user_id for u in everyone}
    assert len(everyone) >= 2  # the module's alice too, one per page

    secret = base64.b32encode(secrets.token_bytes(20)).decode()
    method = management.users.authentication_methods.create(
        user_id, type="totp", totp_secret=secret, name="imported"
    )
    assert method.id is not None
    assert method.id.startswith("totp|dev_")

    user = User(label="imported", email=email, password=password, user_id=user_id)
    required = login_expecting_mfa(deployment.server, deployment.client, user)
    tokens = token_grant(
        deployment,
        grant_type=MFA_GRANT_OTP,
        mfa_token=required.mfa_token,
        otp=code_for_step(secret, current_step()),
    )
    assert tokens["status"] == 200, tokens
    assert tokens.get("access_token")

    methods = list(management.users.authentication_methods.list(user_id))
    assert [m.id for m in methods] == [method.id]
    assert methods[0].confirmed is True

    recovery = management.users.regenerate_recovery_code(user_id).recovery_code
    assert recovery
    again = login_expecting_mfa(deployment.server, deployment.client, user)
    recovered = token_grant(
        deployment,
        grant_type=MFA_GRANT_RECOVERY_CODE,
        mfa_token=again.mfa_token,
        recovery_code=recovery,
    )
    assert recovered["status"] == 200, recovered

    management.users.authenticators.delete_all(user_id)
    assert list(management.users.authentication_methods.list(user_id)) == []

    user_logs = list(management.users.logs.list(user_id, per_page=5))
    types = {log.type for log in user_logs}
    assert {"gd_auth_succeed", "gd_recovery_succeed"} & types, types
    assert all(log.user_id == user_id for log in user_logs)
    all_logs = management.logs.list(per_page=3)
    assert len(list(all_logs.items)) == 3

    management.users.update(user_id, blocked=True)
    assert_login_blocked(deployment, email, password)

    management.users.delete(user_id)
    with pytest.raises(NotFoundError):
        management.users.get(user_id)


def test_granted_scopes_bound_the_client(deployment: Deployment) -> None:
    reader = sdk_client(deployment, "e2e reader", "read:users")
    alice = deployment.users["alice"]

    assert reader.users.get(alice.user_id).email == alice.email
    with pytest.raises(ForbiddenError) as refused:
        reader.users.delete(alice.user_id)
    body = refused.value.body
    assert isinstance(body, dict)
    assert body["errorCode"] == "insufficient_scope"
    assert reader.users.get(alice.user_id).email == alice.email

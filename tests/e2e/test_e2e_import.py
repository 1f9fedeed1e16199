"""Importing users from Auth0 end to end: auth0-python's ManagementClient uploads an Auth0 file
to a real Twofold over HTTPS (jobs.users_imports.create), follows the job (jobs.get) and reads
its errors (jobs.errors.get); the imported user then logs in through the SDK's password grant
and the mfa-otp grant with a code computed from the imported TOTP secret."""

from __future__ import annotations

import secrets
import time

import pytest
from auth0.management import ManagementClient
from auth0.management.errors import ForbiddenError

from web.import_support import bcrypt_user, secret_for, users_file

from ._management import REALM, sdk_client, token_grant
from ._otp import code_for_step, current_step
from ._sdk import MFA_GRANT_OTP, login_expecting_mfa
from ._server import User
from .conftest import Deployment

pytestmark = pytest.mark.e2e


def _management(deployment: Deployment, scopes: str) -> ManagementClient:
    name = f"e2e importer {secrets.token_hex(2)}"
    return sdk_client(deployment, name, scopes)


def test_sdk_imports_users_that_then_log_in(deployment: Deployment) -> None:
    management = _management(deployment, "create:users read:users")
    email = f"imported-{secrets.token_hex(4)}@e2e.twofold.test"
    password = f"pw-{secrets.token_urlsafe(12)}"
    data = users_file([bcrypt_user(email, password), {"email": "not an email"}])

    created = management.jobs.users_imports.create(
        users=("users.json", data, "application/json"),
        connection_id=REALM,
        send_completion_email=False,
        external_id="e2e",
    )
    assert created.type == "users_import"
    assert created.connection_id == REALM
    assert created.external_id == "e2e"
    deadline = time.monotonic() + 30
    job = management.jobs.get(created.id)
    while job.status in ("pending", "processing") and time.monotonic() < deadline:
        time.sleep(0.2)
        job = management.jobs.get(created.id)
    assert job.status == "completed", job
    assert job.summary is not None
    assert (job.summary.inserted, job.summary.failed, job.summary.total) == (1, 1, 2)
    errors = management.jobs.errors.get(created.id)
    assert isinstance(errors, list)
    assert errors[0].errors is not None
    assert [(e.code, e.path) for e in errors[0].errors] == [("FORMAT", "email")]

    (found,) = management.users.list_users_by_email(email=email)
    assert found.user_id is not None
    user = User(label="imported", email=email, password=password, user_id=found.user_id)
    required = login_expecting_mfa(deployment.server, deployment.client, user)
    tokens = token_grant(
        deployment,
        grant_type=MFA_GRANT_OTP,
        mfa_token=required.mfa_token,
        otp=code_for_step(secret_for(email), current_step()),
    )
    assert tokens["status"] == 200, tokens


def test_an_import_needs_create_users(deployment: Deployment) -> None:
    reader = _management(deployment, "read:users")
    with pytest.raises(ForbiddenError) as refused:
        reader.jobs.users_imports.create(
            users=("users.json", users_file([]), "application/json"), connection_id=REALM
        )
    body = refused.value.body
    assert isinstance(body, dict)
    assert body["errorCode"] == "insufficient_scope"

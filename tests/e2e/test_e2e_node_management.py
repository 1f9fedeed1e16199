"""The Management API end to end, driven by node-auth0's ManagementClient (the `auth0` npm package
pinned in tests/e2e/node/) against a real Twofold over HTTPS.

The Node client fetches its own token (client_credentials for https://{domain}/api/v2/), creates
a user, finds it by email, lists and pages users, imports a TOTP secret; the user then logs in
with a code computed from that secret. The client lists the methods, regenerates a recovery code
(which the user logs in with), forgets the user's remembered browsers, resets their MFA, reads the
logs, blocks and deletes them. Steps run in `tests/e2e/node/management.mjs`.
"""

from __future__ import annotations

import base64
import secrets
from typing import Any

import pytest

from . import _management as shared
from ._node import node_ready, run_step
from ._otp import code_for_step, current_step
from ._sdk import MFA_GRANT_OTP, MFA_GRANT_RECOVERY_CODE, login_expecting_mfa
from ._server import Client, User
from .conftest import Deployment

pytestmark = pytest.mark.e2e

SCRIPT = "management.mjs"
FORGET_BROWSERS = "POST /api/v2/users/{user_id}/multifactor/actions/invalidate-remember-browser"


@pytest.fixture(scope="module")
def user_labels() -> tuple[str, ...]:
    return ("alice", "bob")


@pytest.fixture(scope="module")
def admin(deployment: Deployment) -> Client:
    node_ready()
    return shared.management_client(
        deployment.server, "e2e node management", shared.USER_ADMIN_SCOPES
    )


def _step(deployment: Deployment, client: Client, step: str, **args: Any) -> Any:
    return run_step(deployment.server, client, SCRIPT, step, **args)


def test_node_management_client_lifecycle(deployment: Deployment, admin: Client) -> None:
    email = f"node-{secrets.token_hex(4)}@e2e.twofold.test"
    password = f"pw-{secrets.token_urlsafe(18)}"

    created = _step(
        deployment, admin, "create", connection=shared.REALM, email=email, password=password
    )
    user_id = created["user_id"]
    assert user_id.startswith("auth0|"), created
    assert created["email"] == email
    assert created["email_verified"] is True
    assert created["identities"][0]["provider"] == "auth0"

    found = _step(deployment, admin, "find", email=email, user_id=user_id)
    assert [u["user_id"] for u in found["byEmail"]] == [user_id]
    assert [u["user_id"] for u in found["search"]] == [user_id]
    assert found["searchTotal"] == 1
    assert found["get"] == created
    assert found["only"] == {"user_id": user_id, "email": email}
    [without] = found["without"]
    assert without["user_id"] == user_id
    assert "identities" not in without
    assert "app_metadata" not in without

    everyone = {u.user_id for u in deployment.users.values()} | {user_id}
    paged = _step(deployment, admin, "page", per_page=1)
    # One user a page, until the page that comes back short ends the pager.
    assert paged["pages"] == [[uid] for uid in paged["iterated"]] + [[]]
    assert set(paged["iterated"]) == everyone
    assert len(paged["iterated"]) == paged["total"] == len(everyone)

    secret = base64.b32encode(secrets.token_bytes(20)).decode()
    method = _step(deployment, admin, "importTotp", user_id=user_id, secret=secret)
    assert method["id"].startswith("totp|dev_"), method
    assert (method["type"], method["confirmed"]) == ("totp", True)
    assert method["name"] == "imported from node"

    user = User(label="node", email=email, password=password, user_id=user_id)
    required = login_expecting_mfa(deployment.server, deployment.client, user)
    code = code_for_step(secret, current_step())
    tokens = shared.token_grant(
        deployment, grant_type=MFA_GRANT_OTP, mfa_token=required.mfa_token, otp=code
    )
    assert tokens["status"] == 200, tokens

    listed = _step(deployment, admin, "methods", user_id=user_id)
    assert [m["id"] for m in listed["methods"]] == [method["id"]]
    assert listed["methods"][0]["last_auth_at"], listed
    assert listed["first"] == listed["methods"][0]
    assert [(e["id"], e["status"]) for e in listed["enrollments"]] == [(method["id"], "confirmed")]

    recovery = _step(deployment, admin, "recoveryCode", user_id=user_id)["recovery_code"]
    again = login_expecting_mfa(deployment.server, deployment.client, user)
    recovered = shared.token_grant(
        deployment,
        grant_type=MFA_GRANT_RECOVERY_CODE,
        mfa_token=again.mfa_token,
        recovery_code=recovery,
    )
    assert recovered["status"] == 200, recovered

    forgot = _step(deployment, admin, "forgetBrowsers", user_id=user_id)
    assert forgot["result"] is None
    # The SDK types no 404 for this call: an unknown user reaches it as its base ManagementError.
    assert (forgot["unknown"]["error"], forgot["unknown"]["statusCode"]) == (
        "ManagementError",
        404,
    ), forgot
    assert forgot["unknown"]["body"]["errorCode"] == "inexistent_user"

    assert _step(deployment, admin, "resetMfa", user_id=user_id) == {"methods": []}
    after_reset = login_expecting_mfa(deployment.server, deployment.client, user)
    stale = shared.token_grant(
        deployment,
        grant_type=MFA_GRANT_OTP,
        mfa_token=after_reset.mfa_token,
        otp=code_for_step(secret, current_step() + 1),
    )
    assert stale["status"] != 200, stale

    logs = _step(deployment, admin, "logs", user_id=user_id)
    assert all(log["user_id"] == user_id for log in logs["mine"]), logs["mine"]
    mine = [int(log["log_id"]) for log in logs["mine"]]
    assert mine == sorted(mine), "sort=date:1 pages from the oldest event"
    types = {log["type"] for log in logs["mine"]}
    assert {"gd_auth_succeed", "gd_recovery_succeed", "sapi"} <= types, types
    operations = {log.get("details", {}).get("operation") for log in logs["mine"]}
    assert FORGET_BROWSERS in operations, operations
    assert len(logs["recent"]) == 3
    assert all(log["user_id"] == user_id for log in logs["recent"]), logs["recent"]
    assert all(set(log) == {"log_id", "type", "user_id"} for log in logs["recent"])

    assert _step(deployment, admin, "block", user_id=user_id)["blocked"] is True
    shared.assert_login_blocked(deployment, email, password)

    gone = _step(deployment, admin, "delete", user_id=user_id)["after"]
    assert (gone["error"], gone["statusCode"]) == ("NotFoundError", 404), gone
    assert gone["body"]["errorCode"] == "inexistent_user"


def test_node_client_is_bound_by_its_granted_scopes(deployment: Deployment) -> None:
    node_ready()
    reader = shared.management_client(deployment.server, "e2e node reader", "read:users")
    alice = deployment.users["alice"]

    seen = _step(deployment, reader, "forbidden", user_id=alice.user_id)

    assert seen["read"]["answered"]["email"] == alice.email
    refused = seen["delete"]
    assert (refused["error"], refused["statusCode"]) == ("ForbiddenError", 403), refused
    assert refused["body"] == {
        "statusCode": 403,
        "error": "Forbidden",
        "message": "Insufficient scope, expected any of: delete:users",
        "errorCode": "insufficient_scope",
    }

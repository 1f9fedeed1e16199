"""Schemathesis against the served contract.

A real `twofold serve` (HTTPS, SQLite) serves /openapi.yaml; schemathesis loads it from there and
generates requests for every documented operation. Part of the generated requests carry real
credentials (a client, an mfa_token, an MFA-API access token, a user's password, a passkey
client, requests signed by an enrolled push device) so that the deeper answers (mfa_required,
enrolments, lists, 404s, attempt limits, passkey options, pending pushes) are checked too, not
only the first 4xx. Checks: no 5xx, and every status code, content type, header and body
conforms to the document. The run must send at least 2,000 requests, and every route the server
serves is documented and fuzzed.
"""

from __future__ import annotations

import json
import time
import zlib
from importlib.resources import files
from typing import Any

import httpx
import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from e2e._server import Tls, TwofoldServer, free_port
from twofold.web.routes import ROUTES
from web.support import GRANT_OTP, GRANT_RECOVERY, totp

from ._live_push import PushDevice, enrol

pytestmark = pytest.mark.e2e

MIN_REQUESTS = 2000
MY_ACCOUNT = (
    "read:me:factors read:me:authentication_methods create:me:authentication_methods "
    "update:me:authentication_methods delete:me:authentication_methods"
)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
SENT: dict[str, int] = {}
STATUSES: dict[str, set[int]] = {}
GRANT_WEBAUTHN = "urn:okta:params:oauth:grant-type:webauthn"


@schemathesis.serializer("application/jose")
def _jose(_context: Any, value: Any) -> bytes | None:
    """A compact JWS goes as its text; the negative cases' other values as JSON."""
    if value is None or isinstance(value, bytes):
        return value
    return (value if isinstance(value, str) else json.dumps(value)).encode()


class Live:
    def __init__(
        self, server: TwofoldServer, creds: dict[str, str], push: PushDevice, **values: str
    ) -> None:
        self.server = server
        self.creds = creds
        self.push = push
        self.values = values


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("schemathesis")
    server = TwofoldServer(
        workdir=tmp, port=free_port(), tls=Tls.create(tmp), pycache_dir=tmp / "pyc"
    )
    server.migrate()
    client = server.create_client(
        "schemathesis",
        "--logout-url",
        "https://app.example.com/bye",
        "--web-origin",
        "https://app.example.com",
    )
    management = server.create_client(
        "schemathesis management",
        "--grant-types",
        "client_credentials",
        "--audience",
        f"https://{server.domain}/api/v2/",
    )
    passkeys = server.create_client(
        "schemathesis passkeys", "--grant-types", GRANT_WEBAUTHN, "--auth-method", "none"
    )
    server.cli("tenant", "set", "--enable", "push-notification")
    fresh = server.create_user("fresh", "fresh@example.com", "fresh-password-1")
    enrolled = server.create_user("enrolled", "enrolled@example.com", "enrolled-password-1")
    pusher = server.create_user("pusher", "pusher@example.com", "pusher-password-1")
    server.start()
    creds = {"client_id": client.client_id, "client_secret": client.client_secret}
    try:
        with httpx.Client(
            base_url=server.base_url, verify=server.tls.client_context(), timeout=30
        ) as http:

            def login(user: Any, **extra: str) -> str:
                resp = http.post(
                    "/oauth/token",
                    data={
                        "grant_type": "password",
                        "username": user.email,
                        "password": user.password,
                        **creds,
                        **extra,
                    },
                )
                assert resp.status_code == 403, resp.text
                return str(resp.json()["mfa_token"])

            # Enrol one user; get an MFA-API token (enroll, list, remove) for them.
            token = login(enrolled)
            assoc = http.post(
                "/mfa/associate",
                json={"authenticator_types": ["otp"]},
                headers={"Authorization": f"Bearer {token}"},
            ).json()
            step = int(time.time()) // 30
            resp = http.post(
                "/oauth/token",
                data={
                    "grant_type": GRANT_OTP,
                    "mfa_token": token,
                    "otp": totp(assoc["secret"], step * 30),
                    **creds,
                },
            )
            assert resp.status_code == 200, resp.text
            token = login(
                enrolled,
                audience=server.mfa_audience,
                scope="enroll read:authenticators remove:authenticators",
            )
            resp = http.post(
                "/oauth/token",
                data={
                    "grant_type": GRANT_RECOVERY,
                    "mfa_token": token,
                    "recovery_code": assoc["recovery_codes"][0],
                    **creds,
                },
            )
            assert resp.status_code == 200, resp.text
            access_token = resp.json()["access_token"]
            # A My Account token for the same user, with the recovery code the grant rotated to.
            token = login(enrolled, audience=f"https://{server.domain}/me/", scope=MY_ACCOUNT)
            resp = http.post(
                "/oauth/token",
                data={
                    "grant_type": GRANT_RECOVERY,
                    "mfa_token": token,
                    "recovery_code": resp.json()["recovery_code"],
                    **creds,
                },
            )
            assert resp.status_code == 200, resp.text
            my_account_token = resp.json()["access_token"]
            rotated = resp.json()["recovery_code"]
            resp = http.get(
                "/me/v1/authentication-methods",
                headers={"Authorization": f"Bearer {my_account_token}"},
            )
            my_account_method = resp.json()["authentication_methods"][0]["id"]
            # A login with openid (the code rotated again), for /userinfo and /oauth/revoke.
            resp = http.post(
                "/oauth/token",
                data={
                    "grant_type": GRANT_RECOVERY,
                    "mfa_token": login(enrolled, scope="openid profile email offline_access"),
                    "recovery_code": rotated,
                    **creds,
                },
            )
            assert resp.status_code == 200, resp.text
            login_tokens = resp.json()
            resp = http.post(
                "/oauth/token",
                data={
                    "grant_type": "client_credentials",
                    "audience": f"https://{server.domain}/api/v2/",
                    "client_id": management.client_id,
                    "client_secret": management.client_secret,
                },
            )
            assert resp.status_code == 200, resp.text
            management_token = resp.json()["access_token"]
            push = enrol(
                http,
                server.base_url,
                creds,
                lambda **extra: login(pusher, **extra),
                server.mfa_audience,
            )
            yield Live(
                server,
                creds,
                push,
                fresh_mfa_token=login(fresh),
                enrolled_mfa_token=login(enrolled),
                access_token=access_token,
                my_account_token=my_account_token,
                my_account_method=my_account_method,
                userinfo_token=login_tokens["access_token"],
                id_token=login_tokens["id_token"],
                refresh_token=login_tokens["refresh_token"],
                management_token=management_token,
                enrolled_user_id=enrolled.user_id,
                username=fresh.email,
                password=fresh.password,
                passkey_client_id=passkeys.client_id,
            )
    finally:
        server.stop()


@pytest.fixture(scope="module")
def api_schema(live):
    # Loaded from the running server: the served document is the one under test.
    return schemathesis.openapi.from_url(
        f"{live.server.base_url}/openapi.yaml", verify=str(live.server.tls.ca_file)
    )


def _with_real_values(case: Any, live: Live) -> None:
    """Give about half the generated requests real credentials, deterministically per case."""
    seed = zlib.crc32(repr((case.body, case.headers, case.path_parameters)).encode())
    roll = seed % 8
    path = case.operation.path
    if path in ("/oauth/token", "/mfa/challenge") and isinstance(case.body, dict):
        if roll < 4:
            case.body.update(live.creds)
        if roll == 1:
            case.body["mfa_token"] = live.values["enrolled_mfa_token"]
        if roll == 2 and path == "/oauth/token":
            case.body.update(
                grant_type="password",
                username=live.values["username"],
                password=live.values["password"],
            )
        if roll == 3:
            case.body["mfa_token"] = live.values["fresh_mfa_token"]
    elif path.startswith("/mfa/"):
        headers = dict(case.headers or {})
        if roll < 3:
            headers["Authorization"] = f"Bearer {live.values['access_token']}"
        elif roll < 5:
            headers["Authorization"] = f"Bearer {live.values['fresh_mfa_token']}"
        case.headers = headers
    elif path == "/oauth/revoke" and isinstance(case.body, dict):
        if roll < 4:
            case.body.update(live.creds)
        if roll == 0:
            case.body["token"] = live.values["refresh_token"]
    elif path == "/userinfo":
        headers = dict(case.headers or {})
        bearer = {0: "userinfo_token", 1: "userinfo_token", 2: "access_token"}.get(roll)
        if bearer:
            headers["Authorization"] = f"Bearer {live.values[bearer]}"
        case.headers = headers
    elif path in ("/v2/logout", "/oidc/logout"):
        query = dict(case.query or {})
        if roll < 3:
            query["client_id"] = live.creds["client_id"]
        if roll == 1:
            query["returnTo" if path == "/v2/logout" else "post_logout_redirect_uri"] = (
                "https://app.example.com/bye"
            )
        if roll == 2 and path == "/oidc/logout":
            query["id_token_hint"] = live.values["id_token"]
        case.query = query
    elif path.startswith("/passkey/") and isinstance(case.body, dict):
        # Mostly the passkey client; sometimes one not allowed the grant (403).
        if roll < 5:
            case.body["client_id"] = live.values["passkey_client_id"]
        elif roll == 5:
            case.body["client_id"] = live.creds["client_id"]
    elif path.startswith("/push/"):
        _with_device_signature(case, live.push, roll)
    elif path.startswith("/me/"):
        # A My Account token, on one of the user's methods for some.
        _with_own_token(case, live, roll, "my_account_token", ("method_id", "my_account_method", 2))
    elif path.startswith("/api/v2/"):
        # A Management API token, and for half of those a real user.
        _with_own_token(case, live, roll, "management_token", ("user_id", "enrolled_user_id", 3))


def _with_own_token(
    case: Any, live: Live, roll: int, token: str, param: tuple[str, str, int]
) -> None:
    """Mostly the API's own token, for one roll an MFA-API token (which it refuses); below a
    roll, a real value for a path parameter (name, the live value's key, the roll)."""
    headers = dict(case.headers or {})
    if roll < 6:
        headers["Authorization"] = f"Bearer {live.values[token]}"
    elif roll == 6:
        headers["Authorization"] = f"Bearer {live.values['access_token']}"
    case.headers = headers
    name, value, below = param
    if roll < below and case.path_parameters and name in case.path_parameters:
        case.path_parameters[name] = live.values[value]


def _with_device_signature(case: Any, device: PushDevice, roll: int) -> None:
    """About half the push requests are well signed: by the enrolled device, or (enrolment) by
    a new key for a real or an unknown ticket; a few approve or reject the real pending push."""
    path = case.operation.path
    if path == "/push/enroll":
        if roll == 0 and device.tickets:
            case.body = device.enrolment(device.tickets.pop())
        elif roll < 4:
            case.body = device.enrolment()
    elif path == "/push/pending":
        if roll < 4:
            case.body = device.signed("pending")
    elif roll < 4:
        if roll == 0:
            case.path_parameters = {"transaction_id": device.transaction_id}
        action = path.rsplit("/", 1)[1]
        transaction_id = (case.path_parameters or {}).get("transaction_id")
        case.body = device.signed(action, transaction_id=transaction_id)


# (method, path, examples): the MFA and token operations get most of the budget.
OPERATIONS = [
    ("POST", "/oauth/token", 700),
    ("POST", "/oauth/revoke", 80),
    ("GET", "/userinfo", 60),
    ("POST", "/userinfo", 30),
    ("GET", "/authorize", 80),
    ("GET", "/v2/logout", 40),
    ("GET", "/oidc/logout", 60),
    ("POST", "/mfa/challenge", 450),
    ("POST", "/mfa/associate", 450),
    ("GET", "/mfa/authenticators", 200),
    ("DELETE", "/mfa/authenticators/{authenticator_id}", 250),
    ("POST", "/passkey/register", 150),
    ("POST", "/passkey/challenge", 100),
    ("POST", "/push/enroll", 100),
    ("POST", "/push/pending", 60),
    ("POST", "/push/transactions/{transaction_id}/approve", 60),
    ("POST", "/push/transactions/{transaction_id}/reject", 60),
    ("GET", "/.well-known/openid-configuration", 20),
    ("GET", "/.well-known/jwks.json", 20),
    ("GET", "/healthz", 20),
    ("GET", "/readyz", 20),
    ("GET", "/openapi.yaml", 5),
    # The My Account API before the Management API, whose deletes could take its user away.
    ("GET", "/me/v1/factors", 20),
    ("GET", "/me/v1/authentication-methods", 40),
    ("POST", "/me/v1/authentication-methods", 150),
    ("GET", "/me/v1/authentication-methods/{method_id}", 30),
    ("PATCH", "/me/v1/authentication-methods/{method_id}", 60),
    ("POST", "/me/v1/authentication-methods/{method_id}/verify", 120),
    ("DELETE", "/me/v1/authentication-methods/{method_id}", 20),
    # The Management API last: its writes (a deleted user, a disabled factor) come after the
    # MFA operations have run.
    ("GET", "/api/v2/users", 60),
    ("POST", "/api/v2/users", 80),
    ("GET", "/api/v2/users-by-email", 20),
    ("GET", "/api/v2/users/{user_id}", 20),
    ("PATCH", "/api/v2/users/{user_id}", 60),
    ("GET", "/api/v2/users/{user_id}/authentication-methods", 20),
    ("POST", "/api/v2/users/{user_id}/authentication-methods", 80),
    ("PUT", "/api/v2/users/{user_id}/authentication-methods", 40),
    ("GET", "/api/v2/users/{user_id}/authentication-methods/{method_id}", 15),
    ("PATCH", "/api/v2/users/{user_id}/authentication-methods/{method_id}", 20),
    ("GET", "/api/v2/users/{user_id}/enrollments", 15),
    ("GET", "/api/v2/guardian/enrollments/{enrollment_id}", 15),
    ("GET", "/api/v2/guardian/factors", 10),
    ("PUT", "/api/v2/guardian/factors/{name}", 30),
    ("GET", "/api/v2/logs", 40),
    ("GET", "/api/v2/logs/{log_id}", 15),
    ("GET", "/api/v2/users/{user_id}/logs", 20),
    ("POST", "/api/v2/jobs/users-imports", 40),
    ("GET", "/api/v2/jobs/{job_id}", 15),
    ("GET", "/api/v2/jobs/{job_id}/errors", 15),
    ("POST", "/api/v2/users/{user_id}/recovery-code-regeneration", 15),
    ("POST", "/api/v2/users/{user_id}/multifactor/actions/invalidate-remember-browser", 15),
    ("DELETE", "/api/v2/guardian/enrollments/{enrollment_id}", 15),
    ("DELETE", "/api/v2/users/{user_id}/authentication-methods/{method_id}", 15),
    ("DELETE", "/api/v2/users/{user_id}/authenticators", 15),
    ("DELETE", "/api/v2/users/{user_id}/authentication-methods", 15),
    ("DELETE", "/api/v2/users/{user_id}", 15),
]


@pytest.mark.parametrize(("method", "path", "examples"), OPERATIONS)
def test_every_answer_conforms(api_schema, live, method, path, examples):
    operation = api_schema[path][method]
    strategy = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )
    key = f"{method} {path}"

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
    )
    @given(case=strategy)
    def run(case):
        _with_real_values(case, live)
        SENT[key] = SENT.get(key, 0) + 1
        response = case.call_and_validate(
            base_url=live.server.base_url,
            verify=str(live.server.tls.ca_file),
            checks=CHECKS,
            timeout=30,
        )
        STATUSES.setdefault(key, set()).add(response.status_code)

    run()


def _documented() -> set[tuple[str, str]]:
    document = yaml.safe_load(files("twofold.web").joinpath("openapi.yaml").read_text())
    return {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method != "parameters"
    }


def _served() -> set[tuple[str, str]]:
    """Every (method, path template) of the route table, as OpenAPI writes it."""
    served = set()
    for route in ROUTES:
        path = route.path.replace(":path}", "}")
        paths = [path]
        if path.endswith("/{decision}"):  # the push answers: approve or reject
            paths = [path.replace("{decision}", d) for d in ("approve", "reject")]
        for method in route.methods or ():
            served.update((method, p) for p in paths if method != "HEAD")
    return served


def test_every_route_is_documented_and_fuzzed():
    assert _served() == _documented()
    assert {(method, path) for method, path, _ in OPERATIONS} == _documented()


def test_enough_requests_were_sent(live):
    """Runs after the generated tests of this module (pytest keeps file order)."""
    total = sum(SENT.values())
    assert total >= MIN_REQUESTS, SENT
    for op in ("POST /oauth/token", "POST /mfa/challenge", "POST /mfa/associate"):
        assert SENT.get(op, 0) >= 100, SENT
    # The real values reached past the first 4xx: passkey options, a device bound (and one
    # whose enrolment was dropped), pending pushes listed, the real push request answered.
    for op, status in [
        ("POST /passkey/register", 200),
        ("POST /passkey/challenge", 200),
        ("POST /push/enroll", 201),
        ("POST /push/enroll", 404),
        ("POST /push/enroll", 409),
        ("POST /push/pending", 200),
        ("POST /push/transactions/{transaction_id}/approve", 404),
    ]:
        assert status in STATUSES.get(op, set()), (op, STATUSES)
    decided = STATUSES["POST /push/transactions/{transaction_id}/approve"]
    decided |= STATUSES["POST /push/transactions/{transaction_id}/reject"]
    assert 204 in decided, STATUSES
    log = live.server.log_text()
    assert "unhandled" not in log, log[-4000:]

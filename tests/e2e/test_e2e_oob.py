"""Email and push flows end to end against a real `twofold serve` over HTTPS.

Email goes out over real SMTP to aiosmtpd and the test reads the code from the message; the
client side is auth0-server-python's MfaClient. Push is answered by the reference authenticator,
run as `twofold authenticator …` processes the way a person would use it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import jwt
import pytest
from auth0_server_python.error import MfaVerifyError

from ._oob import OobServer, SmtpSink
from ._sdk import login_expecting_mfa, mfa_client, verify_jwt, wrap
from ._server import Client, Tls, User, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]
PENDING = "Authorization pending: please repeat the request in a few seconds."
FACTORS = ("otp", "email", "push-notification", "recovery-code")


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpSink]:
    with SmtpSink.running() as sink:
        yield sink


@pytest.fixture(scope="module")
def oob(
    tmp_path_factory: pytest.TempPathFactory,
    tls: Tls,
    sdk_trust: Path,
    pycache_dir: Path,
    smtp: SmtpSink,
) -> Iterator[tuple[OobServer, Client, dict[str, User]]]:
    server = OobServer(
        workdir=tmp_path_factory.mktemp("twofold-oob"),
        port=free_port(),
        tls=tls,
        pycache_dir=pycache_dir,
        extra_env={
            "TWOFOLD_SMTP_URL": smtp.url,
            "TWOFOLD_EMAIL_FROM": "Twofold <no-reply@e2e.twofold.test>",
            "TWOFOLD_LOG_LEVEL": "debug",
        },
    )
    server.migrate()
    # The users have verified addresses and enrol a second email or push with their mfa_token:
    # the lenient mode, where email does not count (the strict default is in tests/security).
    args = ["tenant", "set", "--friendly-name", "E2E Inc", "--no-email-counts-as-factor"]
    for factor in FACTORS:
        args += ["--factor", factor]
    server.cli(*args)
    client = server.create_client("e2e oob app")
    users = {
        label: server.create_user(label, f"{label}@e2e.twofold.test", f"pw-{label}-0123456789")
        for label in ("erin", "pat")
    }
    server.start()
    try:
        yield server, client, users
    finally:
        server.stop()


def _cause(error: MfaVerifyError) -> tuple[Any, Any]:
    cause = error.cause or {}
    return cause.get("error"), cause.get("error_description")


async def _poll(mfa: Any, token: str, oob_code: str, timeout: float = 30.0) -> Any:
    """Poll the mfa-oob grant every 5 s (the allowed rate) until it answers tokens."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await mfa.verify({"mfa_token": token, "oob_code": oob_code})
        except MfaVerifyError as exc:
            if _cause(exc)[0] != "authorization_pending" or time.monotonic() > deadline:
                raise
        time.sleep(5.1)


async def test_email_flow(oob: tuple[OobServer, Client, dict[str, User]], smtp: SmtpSink) -> None:
    server, client, users = oob
    user = users["erin"]
    mfa = mfa_client(server, client)
    address = "erin.second@mail.e2e.twofold.test"

    # associate -> the email arrives over SMTP
    token = wrap(mfa, login_expecting_mfa(server, client, user))
    enrolment = await mfa.enroll_authenticator(
        {"mfa_token": token, "factor_type": "email", "email": address}
    )
    assert enrolment.oob_code
    assert enrolment.binding_method == "prompt"
    code = smtp.wait_code(address, 1)

    # without binding_code: authorization_pending; then tokens with it
    with pytest.raises(MfaVerifyError) as pending:
        await mfa.verify({"mfa_token": token, "oob_code": enrolment.oob_code})
    assert _cause(pending.value) == ("authorization_pending", PENDING)
    tokens = await mfa.verify(
        {"mfa_token": token, "oob_code": enrolment.oob_code, "binding_code": code}
    )
    unverified = jwt.decode(tokens.access_token, options={"verify_signature": False})
    aud = unverified["aud"]
    claims = verify_jwt(
        tokens.access_token,
        server_jwks(server),
        issuer=server.issuer,
        audience=aud if isinstance(aud, str) else aud[0],
    )
    assert claims["sub"] == user.user_id
    assert claims["amr"] == ["mfa"]

    # the code cannot be used twice
    with pytest.raises(MfaVerifyError):
        await mfa.verify({"mfa_token": token, "oob_code": enrolment.oob_code, "binding_code": code})

    # next login: challenge the enrolled email, grant with the new code
    token = wrap(mfa, login_expecting_mfa(server, client, user))
    listed = await mfa.list_authenticators({"mfa_token": token})
    enrolled = [a for a in listed if a.active and getattr(a, "oob_channel", None) == "email"]
    explicit = [a for a in enrolled if a.name and a.name.startswith("****@mail")]
    assert explicit, listed
    challenge = await mfa.challenge_authenticator(
        {"mfa_token": token, "factor_type": "email", "authenticator_id": explicit[0].id}
    )
    assert challenge.binding_method == "prompt"
    code2 = smtp.wait_code(address, 2)
    tokens = await mfa.verify(
        {"mfa_token": token, "oob_code": challenge.oob_code, "binding_code": code2}
    )
    assert tokens.access_token

    # nothing delivered shows up in the server's (debug) log
    log = server.log_text()
    for secret in (code, code2, address, enrolment.oob_code):
        assert secret not in log


def server_jwks(server: OobServer) -> dict[str, Any]:
    import httpx

    with httpx.Client(verify=server.tls.client_context()) as http:
        return dict(http.get(f"{server.base_url}/.well-known/jwks.json").json())


async def test_push_flow(oob: tuple[OobServer, Client, dict[str, User]], tmp_path: Path) -> None:
    server, client, users = oob
    user = users["pat"]
    mfa = mfa_client(server, client)
    state = str(tmp_path / "authenticator.json")

    token = wrap(mfa, login_expecting_mfa(server, client, user))
    enrolment = await mfa.enroll_authenticator({"mfa_token": token, "factor_type": "auth0"})
    assert enrolment.oob_channel == "auth0"
    assert getattr(enrolment, "binding_method", None) is None
    query = parse_qs(urlparse(enrolment.barcode_uri).query)
    assert query["base_url"] == [server.base_url]

    with pytest.raises(MfaVerifyError) as pending:
        await mfa.verify({"mfa_token": token, "oob_code": enrolment.oob_code})
    assert _cause(pending.value)[0] == "authorization_pending"

    out = server.authenticator(
        state, "enroll", enrolment.barcode_uri, "--name", "pat's laptop", "--json"
    )
    device_id = json.loads(out)["device_id"]
    assert device_id.startswith("push|dev_")
    assert Path(state).stat().st_mode & 0o077 == 0
    time.sleep(5.1)
    tokens = await _poll(mfa, token, enrolment.oob_code)
    assert tokens.access_token

    # challenge -> the authenticator sees it -> approve -> tokens
    token = wrap(mfa, login_expecting_mfa(server, client, user))
    challenge = await mfa.challenge_authenticator(
        {"mfa_token": token, "factor_type": "auth0", "authenticator_id": device_id}
    )
    pending_list = json.loads(server.authenticator(state, "pending", "--json"))
    assert len(pending_list) == 1
    server.authenticator(state, "approve", pending_list[0]["transaction_id"])
    tokens = await _poll(mfa, token, challenge.oob_code)
    assert tokens.access_token

    # challenge -> reject -> access_denied
    token = wrap(mfa, login_expecting_mfa(server, client, user))
    challenge = await mfa.challenge_authenticator(
        {"mfa_token": token, "factor_type": "auth0", "authenticator_id": device_id}
    )
    [tx] = json.loads(server.authenticator(state, "pending", "--json"))
    server.authenticator(state, "reject", tx["transaction_id"])
    with pytest.raises(MfaVerifyError) as rejected:
        await mfa.verify({"mfa_token": token, "oob_code": challenge.oob_code})
    assert _cause(rejected.value) == ("access_denied", "MFA Authorization rejected.")

    # the companion TOTP from the same authenticator
    token = wrap(mfa, login_expecting_mfa(server, client, user))
    code = server.authenticator(state, "code").strip()
    tokens = await mfa.verify({"mfa_token": token, "otp": code})
    assert tokens.access_token

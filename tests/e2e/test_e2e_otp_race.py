"""Concurrency: one TOTP step is accepted once even when 20 grants race for it,
and 20 simultaneous wrong guesses cannot get more than the failure bucket's 10 evaluated
(ten failures, then one back every 6 minutes).

Each request carries its own fresh mfa_token, over pre-opened connections so they reach the
server together. Run against one and two uvicorn workers (two processes sharing one SQLite
database).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx
import pytest
from auth0_server_python.auth_types import OtpEnrollmentResponse
from auth0_server_python.error import MfaVerifyError

from ._otp import code_for_step, current_step, step_with_time_left, wrong_code
from ._sdk import (
    MFA_GRANT_OTP,
    MFA_GRANT_RECOVERY_CODE,
    login_expecting_mfa,
    mfa_client,
    verify_jwt,
    wrap,
)
from .conftest import Deployment

pytestmark = pytest.mark.e2e

RACERS = 20
CONFIRM_MARGIN = 3.0  # seconds left in the step when the previous step's code is sent
# Wrong codes draw from a per-user bucket of 10, checked before the code; an
# empty bucket answers 429 too_many_attempts.
FAILURE_BUCKET = 10
INVALID_OTP = (403, {"error": "invalid_grant", "error_description": "Invalid otp_code."})
INVALID_RECOVERY_CODE = (
    403,
    {"error": "invalid_grant", "error_description": "Invalid recovery_code."},
)


@pytest.fixture(scope="module", params=[1, 2], ids=["1-worker", "2-workers"])
def server_workers(request: pytest.FixtureRequest) -> int:
    return int(request.param)


@pytest.fixture(scope="module")
def user_labels() -> tuple[str, ...]:
    return ("racer", "otp-guesser", "recovery-code-guesser")


def _summary(status: int, body: Any) -> str:
    if status == 200 and isinstance(body, dict):
        return f"200 token response with {sorted(body)}"  # tokens are long and say nothing here
    return f"{status} {body!r}"


def _tally(results: list[tuple[int, Any]]) -> str:
    counts = Counter(_summary(status, body) for status, body in results)
    return "\n".join(f"{n} x {line}" for line, n in counts.most_common())


async def _enrolled(deployment: Deployment, label: str) -> OtpEnrollmentResponse:
    """Enroll and confirm an OTP authenticator for the user."""
    server, client, user = deployment.server, deployment.client, deployment.users[label]
    mfa = mfa_client(server, client)
    token = wrap(mfa, login_expecting_mfa(server, client, user))
    enrollment = await mfa.enroll_authenticator({"mfa_token": token, "factor_type": "otp"})
    assert isinstance(enrollment, OtpEnrollmentResponse), enrollment
    await mfa.verify({"mfa_token": token, "otp": code_for_step(enrollment.secret, current_step())})
    return enrollment


async def _concurrent_grants(
    deployment: Deployment, mfa_tokens: list[str], grant_type: str, **params: str
) -> list[tuple[int, Any]]:
    """POST one MFA grant per mfa_token, all at once; (status, body) in token order."""
    client = deployment.client
    limits = httpx.Limits(
        max_connections=2 * len(mfa_tokens), max_keepalive_connections=2 * len(mfa_tokens)
    )
    async with deployment.async_http(limits=limits, timeout=30.0) as http:
        # Open the connections (TLS handshakes done) so the grants leave at the same moment.
        warm = await asyncio.gather(*(http.get("/healthz") for _ in mfa_tokens))
        assert all(r.status_code == 200 for r in warm)

        async def grant(mfa_token: str) -> tuple[int, Any]:
            response = await http.post(
                "/oauth/token",
                data={
                    "grant_type": grant_type,
                    "client_id": client.client_id,
                    "client_secret": client.client_secret,
                    "mfa_token": mfa_token,
                    **params,
                },
            )
            try:
                body = response.json()
            except ValueError:
                body = response.text
            return response.status_code, body

        return list(await asyncio.gather(*(grant(t) for t in mfa_tokens)))


@pytest.mark.anyio
async def test_one_totp_step_is_accepted_once_under_concurrency(deployment: Deployment) -> None:
    server, client, user = deployment.server, deployment.client, deployment.users["racer"]
    mfa = mfa_client(server, client)

    # An active TOTP authenticator, confirmed with the PREVIOUS step's code (the server accepts
    # the current and the previous step), which leaves the current step unused
    # for the race without waiting up to 30 s for the next one.
    api = deployment.api_identifier
    token = wrap(mfa, login_expecting_mfa(server, client, user, audience=api))
    enrollment = await mfa.enroll_authenticator({"mfa_token": token, "factor_type": "otp"})
    assert isinstance(enrollment, OtpEnrollmentResponse), enrollment
    race_step = await step_with_time_left(CONFIRM_MARGIN)
    previous = code_for_step(enrollment.secret, race_step - 1)
    try:
        await mfa.verify({"mfa_token": token, "otp": previous})
    except MfaVerifyError as exc:
        pytest.fail(f"a code of the previous TOTP step was refused at enrollment: {exc.cause}")

    # Twenty independent transactions, each with its own mfa_token.
    mfa_tokens = [
        login_expecting_mfa(server, client, user, audience=api).mfa_token for _ in range(RACERS)
    ]
    assert len(set(mfa_tokens)) == RACERS, "password grants returned a repeated mfa_token"
    assert current_step() <= race_step + 1, "the race step left the accepted window"
    code = code_for_step(enrollment.secret, race_step)

    results = await _concurrent_grants(deployment, mfa_tokens, MFA_GRANT_OTP, otp=code)

    described = _tally(results)
    winners = [body for status, body in results if status == 200]
    assert len(winners) == 1, f"expected exactly one 200 for one TOTP step, got:\n{described}"
    losers = [(status, body) for status, body in results if status != 200]
    # Each request reserves an attempt before its code is checked, so while more than the
    # bucket's 10 are in flight the surplus is answered 429;
    # every other loser is a replay of the spent step and gets the plain 403.
    too_many = [
        r
        for r in losers
        if r[0] == 429 and isinstance(r[1], dict) and r[1].get("error") == "too_many_attempts"
    ]
    replays = [r for r in losers if r == INVALID_OTP]
    assert len(too_many) + len(replays) == RACERS - 1, (
        f"losers must get 403 'Invalid otp_code.' or 429 too_many_attempts:\n{described}"
    )
    assert replays, f"at least one replay must be checked and refused:\n{described}"

    with deployment.http() as http:
        jwks = http.get("/.well-known/jwks.json").json()
    claims = verify_jwt(winners[0]["access_token"], jwks, issuer=server.issuer, audience=api)
    assert claims["sub"] == user.user_id


@pytest.mark.anyio
@pytest.mark.parametrize("factor", ["otp", "recovery-code"])
async def test_concurrent_wrong_codes_cannot_outrun_the_failure_bucket(
    deployment: Deployment, factor: str
) -> None:
    """At most 10 failures per user are evaluated before 429 too_many_attempts. The
    bucket is checked before the code, so simultaneous guesses must not all slip past the check
    before any failure is recorded (that would turn 10 guesses into as many as one can send)."""
    label = f"{factor}-guesser"
    server, client, user = deployment.server, deployment.client, deployment.users[label]
    enrollment = await _enrolled(deployment, label)
    mfa_tokens = [login_expecting_mfa(server, client, user).mfa_token for _ in range(RACERS)]
    if factor == "otp":
        expected = INVALID_OTP
        results = await _concurrent_grants(
            deployment, mfa_tokens, MFA_GRANT_OTP, otp=wrong_code(enrollment.secret)
        )
    else:
        expected = INVALID_RECOVERY_CODE
        results = await _concurrent_grants(
            deployment, mfa_tokens, MFA_GRANT_RECOVERY_CODE, recovery_code="0" * 24
        )

    described = _tally(results)
    evaluated = [result for result in results if result == expected]
    locked = [
        result
        for result in results
        if result[0] == 429
        and isinstance(result[1], dict)
        and result[1].get("error") == "too_many_attempts"
    ]
    assert len(evaluated) + len(locked) == RACERS, f"unexpected answers:\n{described}"
    assert len(evaluated) <= FAILURE_BUCKET, (
        f"{len(evaluated)} of {RACERS} simultaneous wrong {factor} guesses were evaluated;"
        f" the failure bucket allows {FAILURE_BUCKET}:\n{described}"
    )

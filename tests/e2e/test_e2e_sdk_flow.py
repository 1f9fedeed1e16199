"""The ROPG + MFA flow end to end, driven by Auth0's own SDKs against a real Twofold over HTTPS.

auth0-python does the password grant (and must see 403 mfa_required); auth0-server-python's
MfaClient enrolls, challenges, verifies and lists; TOTP codes come from pyca/cryptography and
JWTs are checked with PyJWT against the served JWKS, so none of the server's code checks itself.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlparse

import httpx
import pytest
from auth0_server_python.auth_types import OtpEnrollmentResponse
from auth0_server_python.error import MfaVerifyError

from ._otp import code_for_step, current_step, secret_bytes, step_after, wrong_code
from ._sdk import (
    LOGIN_SCOPE,
    audiences,
    login_expecting_mfa,
    mfa_client,
    requirement_types,
    verify_jwt,
    wrap,
)
from .conftest import Deployment

pytestmark = pytest.mark.e2e

RECOVERY_CODE = re.compile(r"[0-9A-Z]{24}")
TOTP_ID = re.compile(r"totp\|dev_[A-Za-z0-9]{16}")
MFA_API_SCOPE = "remove:authenticators read:authenticators"


@pytest.fixture(scope="module")
def user_labels() -> tuple[str, ...]:
    return ("alice", "bob", "carol")


@pytest.fixture(scope="module")
def seen() -> dict[str, set[str]]:
    """Secrets the tests saw on the wire; the at-rest test checks none is stored in clear."""
    return {"totp_secrets": set(), "recovery_codes": set()}


@pytest.fixture(scope="module")
def jwks(deployment: Deployment) -> dict[str, Any]:
    with deployment.http() as http:
        response = http.get("/.well-known/jwks.json")
    assert response.status_code == 200, response.text
    body = response.json()
    assert isinstance(body, dict)
    return body


def _describe(response: httpx.Response) -> str:
    request = response.request
    return f"{request.method} {request.url} -> {response.status_code} {response.text!r}"


def _cause(error: MfaVerifyError) -> tuple[Any, Any]:
    cause = error.cause or {}
    return cause.get("error"), cause.get("error_description")


def test_discovery_and_jwks(deployment: Deployment, jwks: dict[str, Any]) -> None:
    server = deployment.server
    with deployment.http() as http:
        response = http.get("/.well-known/openid-configuration")
    assert response.status_code == 200, _describe(response)
    config = response.json()
    assert config["issuer"] == server.issuer
    assert config["jwks_uri"] == f"{server.base_url}/.well-known/jwks.json"
    assert config["token_endpoint"] == f"{server.base_url}/oauth/token"
    keys = jwks.get("keys")
    assert keys, jwks
    assert all(key.get("kty") == "RSA" and key.get("kid") for key in keys), jwks
    assert not any("d" in key for key in keys), "private key material in the JWKS"


@pytest.mark.anyio
async def test_full_flow_with_official_sdks(
    deployment: Deployment, jwks: dict[str, Any], seen: dict[str, set[str]]
) -> None:
    server, client, user = deployment.server, deployment.client, deployment.users["alice"]
    api = deployment.api_identifier
    mfa = mfa_client(server, client)

    # -- 1. password grant (auth0-python) -> 403 mfa_required, nothing enrolled yet
    first = login_expecting_mfa(server, client, user, audience=api, scope=LOGIN_SCOPE)
    assert "otp" in requirement_types(first.mfa_requirements, "enroll"), first.mfa_requirements
    token1 = wrap(mfa, first)

    before = await mfa.list_authenticators({"mfa_token": token1})
    assert not [a for a in before if a.active], before

    # -- 2. enroll OTP (MfaClient -> POST /mfa/associate with the mfa_token as Bearer)
    enrollment = await mfa.enroll_authenticator({"mfa_token": token1, "factor_type": "otp"})
    assert isinstance(enrollment, OtpEnrollmentResponse), enrollment
    secret = enrollment.secret
    seen["totp_secrets"].add(secret)
    assert len(secret_bytes(secret)) == 20, f"TOTP secret is not 160 bits: {secret!r}"
    barcode = urlparse(enrollment.barcode_uri)
    assert (barcode.scheme, barcode.netloc) == ("otpauth", "totp"), enrollment.barcode_uri
    query = {k: v[0] for k, v in parse_qs(barcode.query).items()}
    assert query.get("secret") == secret, enrollment.barcode_uri
    assert (query.get("algorithm"), query.get("digits"), query.get("period")) == (
        "SHA1",
        "6",
        "30",
    ), enrollment.barcode_uri
    assert user.email in unquote(barcode.path), enrollment.barcode_uri
    assert enrollment.recovery_codes is not None, "first enrollment must return recovery_codes"
    assert len(enrollment.recovery_codes) == 1, enrollment.recovery_codes
    first_recovery_code = enrollment.recovery_codes[0]
    seen["recovery_codes"].add(first_recovery_code)
    assert RECOVERY_CODE.fullmatch(first_recovery_code), first_recovery_code

    # -- 3. confirm with a TOTP computed independently (MfaClient.verify -> mfa-otp grant)
    used_step = current_step()
    tokens = await mfa.verify({"mfa_token": token1, "otp": code_for_step(secret, used_step)})
    assert tokens.token_type == "Bearer", tokens
    assert tokens.expires_in > 0, tokens
    assert tokens.id_token, f"scope had openid but no id_token: {tokens}"
    access = verify_jwt(tokens.access_token, jwks, issuer=server.issuer, audience=api)
    assert access["sub"] == user.user_id, access
    assert "mfa" in access.get("amr", []), f"access token from an MFA grant lacks amr mfa: {access}"
    id_claims = verify_jwt(tokens.id_token, jwks, issuer=server.issuer, audience=client.client_id)
    assert id_claims["sub"] == user.user_id, id_claims
    assert audiences(id_claims) == [client.client_id], id_claims
    assert id_claims.get("email") == user.email, id_claims
    assert "mfa" in id_claims.get("amr", []), (
        f"ID token from an MFA grant lacks amr mfa: {id_claims}"
    )

    # the mfa_token is consumed by the successful grant
    with pytest.raises(MfaVerifyError) as reused:
        await mfa.verify({"mfa_token": token1, "otp": code_for_step(secret, used_step)})
    assert _cause(reused.value) == ("invalid_grant", "Malformed mfa_token"), reused.value.cause

    # -- 4. second login -> challenge (otp) -> recovery code grant -> a NEW recovery code
    second = login_expecting_mfa(server, client, user, audience=api)
    assert "otp" in requirement_types(second.mfa_requirements, "challenge"), second.mfa_requirements
    token2 = wrap(mfa, second)
    challenge = await mfa.challenge_authenticator({"mfa_token": token2, "factor_type": "otp"})
    assert challenge.challenge_type == "otp", challenge
    assert challenge.oob_code is None, challenge
    recovered = await mfa.verify({"mfa_token": token2, "recovery_code": first_recovery_code})
    verify_jwt(recovered.access_token, jwks, issuer=server.issuer, audience=api)
    new_recovery_code = recovered.recovery_code
    assert new_recovery_code, f"recovery grant must return a fresh recovery_code: {recovered}"
    seen["recovery_codes"].add(new_recovery_code)
    assert RECOVERY_CODE.fullmatch(new_recovery_code), new_recovery_code
    assert new_recovery_code != first_recovery_code

    # the old code is spent; the new one works (and rotates again)
    third = login_expecting_mfa(server, client, user, audience=api)
    token3 = wrap(mfa, third)
    with pytest.raises(MfaVerifyError) as spent:
        await mfa.verify({"mfa_token": token3, "recovery_code": first_recovery_code})
    assert _cause(spent.value) == ("invalid_grant", "Invalid recovery_code."), spent.value.cause
    assert str(spent.value) == "Invalid recovery_code."
    again = await mfa.verify({"mfa_token": token3, "recovery_code": new_recovery_code.lower()})
    assert again.recovery_code, again
    assert again.recovery_code not in {first_recovery_code, new_recovery_code}
    seen["recovery_codes"].add(again.recovery_code)

    # -- 5. list (MfaClient, Bearer mfa_token)
    fourth = login_expecting_mfa(server, client, user, audience=api)
    listed = await mfa.list_authenticators({"mfa_token": wrap(mfa, fourth)})
    otps = [a for a in listed if a.authenticator_type == "otp"]
    assert len(otps) == 1, listed
    totp = otps[0]
    assert totp.active is True, totp
    assert TOTP_ID.fullmatch(totp.id), totp
    assert [a for a in listed if a.authenticator_type == "recovery-code"], listed

    # -- 6. MFA-API access token (audience https://{domain}/mfa/) via a fresh TOTP step
    manage = login_expecting_mfa(
        server, client, user, audience=server.mfa_audience, scope=MFA_API_SCOPE
    )
    step = await step_after(used_step)
    granted = await mfa.verify({"mfa_token": wrap(mfa, manage), "otp": code_for_step(secret, step)})
    assert granted.expires_in == 600, granted
    mfa_claims = verify_jwt(
        granted.access_token, jwks, issuer=server.issuer, audience=server.mfa_audience
    )
    assert mfa_claims["exp"] - mfa_claims["iat"] == 600, mfa_claims
    assert set(MFA_API_SCOPE.split()) <= set(str(mfa_claims.get("scope", "")).split()), mfa_claims

    # -- 7. DELETE /mfa/authenticators/{id} (URL-encoded) -> 204; the list no longer has it
    bearer = {"Authorization": f"Bearer {granted.access_token}"}
    with deployment.http() as http:
        deleted = http.delete(f"/mfa/authenticators/{quote(totp.id, safe='')}", headers=bearer)
        assert deleted.status_code == 204, _describe(deleted)
        assert deleted.content == b"", _describe(deleted)
        after = http.get("/mfa/authenticators", headers=bearer)
    assert after.status_code == 200, _describe(after)
    remaining = after.json()
    assert totp.id not in {a["id"] for a in remaining}, remaining
    assert not [a for a in remaining if a["authenticator_type"] == "otp"], remaining


@pytest.mark.anyio
async def test_sdks_parse_errors(deployment: Deployment, seen: dict[str, set[str]]) -> None:
    server, client, user = deployment.server, deployment.client, deployment.users["bob"]
    mfa = mfa_client(server, client)

    # auth0-python: 403 mfa_required, body kept on the error, headers as decided
    first = login_expecting_mfa(server, client, user)
    headers = first.error.headers
    assert headers is not None
    assert headers.get("Content-Type", "").startswith("application/json"), dict(headers)
    assert "no-store" in headers.get("Cache-Control", ""), dict(headers)
    assert "WWW-Authenticate" not in headers, dict(headers)
    assert first.error.content["error_description"] == "Multifactor authentication required"

    token1 = wrap(mfa, first)
    enrollment = await mfa.enroll_authenticator({"mfa_token": token1, "factor_type": "otp"})
    assert isinstance(enrollment, OtpEnrollmentResponse), enrollment
    seen["totp_secrets"].add(enrollment.secret)
    seen["recovery_codes"].update(enrollment.recovery_codes or [])
    await mfa.verify({"mfa_token": token1, "otp": code_for_step(enrollment.secret, current_step())})

    # MfaClient: a wrong OTP raises MfaVerifyError carrying the server's description
    second = login_expecting_mfa(server, client, user)
    token2 = wrap(mfa, second)
    bad = wrong_code(enrollment.secret)
    with pytest.raises(MfaVerifyError) as wrong:
        await mfa.verify({"mfa_token": token2, "otp": bad})
    assert str(wrong.value) == "Invalid otp_code.", wrong.value.cause
    assert _cause(wrong.value) == ("invalid_grant", "Invalid otp_code."), wrong.value.cause

    # the same wrong code on the wire: 403, JSON, no-store (the failed grant left token2 usable)
    with deployment.http() as http:
        response = http.post(
            "/oauth/token",
            data={
                "grant_type": "http://auth0.com/oauth/grant-type/mfa-otp",
                "client_id": client.client_id,
                "client_secret": client.client_secret,
                "mfa_token": second.mfa_token,
                "otp": bad,
            },
        )
    assert response.status_code == 403, _describe(response)
    assert response.json() == {
        "error": "invalid_grant",
        "error_description": "Invalid otp_code.",
    }, _describe(response)
    assert response.headers.get("content-type", "").startswith("application/json")
    assert "no-store" in response.headers.get("cache-control", ""), response.headers
    assert "www-authenticate" not in response.headers, response.headers


@pytest.mark.anyio
async def test_secrets_are_not_stored_in_clear(
    deployment: Deployment, seen: dict[str, set[str]]
) -> None:
    """Runs last in this module: the database then holds every flow above, plus this one."""
    server, client, user = deployment.server, deployment.client, deployment.users["carol"]
    mfa = mfa_client(server, client)
    token = wrap(mfa, login_expecting_mfa(server, client, user))
    enrollment = await mfa.enroll_authenticator({"mfa_token": token, "factor_type": "otp"})
    assert isinstance(enrollment, OtpEnrollmentResponse), enrollment
    await mfa.verify({"mfa_token": token, "otp": code_for_step(enrollment.secret, current_step())})
    codes = list(enrollment.recovery_codes or [])
    assert codes, enrollment
    rotated = await mfa.verify(
        {
            "mfa_token": wrap(mfa, login_expecting_mfa(server, client, user)),
            "recovery_code": codes[0],
        }
    )
    assert rotated.recovery_code
    codes.append(rotated.recovery_code)

    totp_secrets = {*seen["totp_secrets"], enrollment.secret}
    recovery_codes = {*seen["recovery_codes"], *codes}
    needles: dict[str, bytes] = {}
    for secret in totp_secrets:
        needles[f"TOTP secret {secret} (base32)"] = secret.encode()
        needles[f"TOTP secret {secret} (base32, lower case)"] = secret.lower().encode()
        needles[f"TOTP secret {secret} (raw bytes)"] = secret_bytes(secret)
        needles[f"TOTP secret {secret} (hex)"] = secret_bytes(secret).hex().encode()
    for code in recovery_codes:
        needles[f"recovery code {code}"] = code.encode()
        needles[f"recovery code {code} (lower case)"] = code.lower().encode()
    for u in deployment.users.values():
        needles[f"password of {u.email}"] = u.password.encode()

    files = sorted(server.database_file.parent.glob(server.database_file.name + "*"))
    assert server.database_file in files, f"no database at {server.database_file}"
    leaks = [
        f"{label} in {path.name}"
        for path in files
        for label, needle in needles.items()
        if needle in path.read_bytes()
    ]
    assert not leaks, "secrets stored in clear:\n" + "\n".join(leaks)

    log = server.log_text().encode()
    log_leaks = [label for label, needle in needles.items() if needle in log]
    assert not log_leaks, "secrets written to the server log:\n" + "\n".join(log_leaks)

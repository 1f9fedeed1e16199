"""A push device enrolled on a live server, for the fuzzer to send real signed requests with.

`enrol` drives the whole protocol over HTTP: /mfa/associate for push, the device's signed
/push/enroll (the reference authenticator's signer), the mfa-oob grant that activates it, then
two spare enrolment tickets and one pending push request.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from joserfc.jwk import ECKey

from twofold.authenticator import sign_request
from web.support import GRANT_OOB, GRANT_OTP, totp

PUSH = {"authenticator_types": ["oob"], "oob_channels": ["auth0"]}
JOSE = {"content-type": "application/jose"}


@dataclass
class PushDevice:
    base_url: str
    key: ECKey
    device_id: str
    # Enrolment tickets nobody used yet: each lets one fuzzed /push/enroll succeed.
    tickets: list[str] = field(default_factory=list)
    transaction_id: str = ""

    def signed(self, action: str, **claims: Any) -> str:
        """A fresh request of the enrolled device."""
        header = {"kid": self.device_id}
        return sign_request(
            self.key, header, self.base_url, action, time.time(), iss=self.device_id, **claims
        )

    def enrolment(self, ticket: str | None = None, key: ECKey | None = None) -> str:
        """A well-signed /push/enroll by `key` (a new one by default), for `ticket` or an
        unknown one."""
        key = key or ECKey.generate_key("P-256")
        header = {"jwk": key.as_dict(private=False)}
        return sign_request(
            key,
            header,
            self.base_url,
            "enroll",
            time.time(),
            enrollment_tx_id=ticket or secrets.token_hex(16),
            name="schemathesis",
        )


def _ticket(associated: dict[str, Any]) -> str:
    query = parse_qs(urlsplit(associated["barcode_uri"]).query)
    return query["enrollment_tx_id"][0]


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _post(http: httpx.Client, path: str, expected: int, **kwargs: Any) -> Any:
    resp = http.post(path, **kwargs)
    assert resp.status_code == expected, (path, resp.text)
    return resp.json() if resp.content else None


def enrol(
    http: httpx.Client, base_url: str, creds: dict[str, str], login: Any, audience: str
) -> PushDevice:
    """`login(**extra)` answers a new mfa_token of the push user, who has no factor yet."""
    token = login()
    associated = _post(http, "/mfa/associate", 200, json=PUSH, headers=_bearer(token))
    device = PushDevice(base_url, ECKey.generate_key("P-256"), "")
    request = device.enrolment(_ticket(associated), device.key)
    enrolled = _post(http, "/push/enroll", 201, content=request, headers=JOSE)
    device.device_id = enrolled["device_id"]
    grant = {"grant_type": GRANT_OOB, "mfa_token": token, "oob_code": associated["oob_code"]}
    _post(http, "/oauth/token", 200, data={**grant, **creds})
    # An MFA-API token (the companion TOTP passes MFA) to enrol two more pushes with. Each
    # enrolment drops the user's earlier unfinished one: the first spare ticket finds its
    # authenticator gone (409), the second is live (201).
    otp = totp(enrolled["totp"]["secret"], int(time.time()) // 30 * 30)
    grant = {"grant_type": GRANT_OTP, "mfa_token": login(audience=audience, scope="enroll")}
    access_token = _post(http, "/oauth/token", 200, data={**grant, "otp": otp, **creds})
    for _ in range(2):
        spare = _post(
            http, "/mfa/associate", 200, json=PUSH, headers=_bearer(access_token["access_token"])
        )
        device.tickets.append(_ticket(spare))
    challenge = {"challenge_type": "oob", "authenticator_id": device.device_id, **creds}
    _post(http, "/mfa/challenge", 200, json={"mfa_token": login(), **challenge})
    pending = _post(http, "/push/pending", 200, content=device.signed("pending"), headers=JOSE)
    device.transaction_id = pending["transactions"][0]["transaction_id"]
    return device

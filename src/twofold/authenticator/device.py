"""Client side of the push device protocol: enrol from a barcode_uri, list pending
transactions, approve or reject them, and show the companion TOTP code.

Every request is a compact JWS (ES256) signed with the device's P-256 key: at enrolment the public
key rides in the JWS header (`jwk`), afterwards the header names the device (`kid`). Claims:
`aud` (the server's base URL), `action`, `iat`, `exp` (60 s later), a fresh `jti`, and the
action's own fields.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
import pyotp
from joserfc import jws
from joserfc.jwk import ECKey

REQUEST_LIFETIME = 60
JOSE = "application/jose"


class AuthenticatorError(Exception):
    """Something the person at the terminal should read."""


@dataclass
class Account:
    device_id: str
    base_url: str
    issuer: str
    account: str
    private_jwk: dict[str, Any]
    totp_secret: str | None = None
    name: str = ""

    def key(self) -> ECKey:
        return ECKey.import_key(self.private_jwk)


class StateFile:
    """The authenticator's accounts, as JSON in one owner-only file, replaced atomically."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def load(self) -> list[Account]:
        if not self.path.exists():
            return []
        data = json.loads(self.path.read_text())
        return [Account(**item) for item in data.get("accounts", [])]

    def save(self, accounts: list[Account]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        body = json.dumps({"accounts": [asdict(a) for a in accounts]}, indent=2)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".authenticator-")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(body)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def parse_enrollment_uri(uri: str) -> tuple[str, str, str, str]:
    """(enrollment_tx_id, base_url, issuer, account) from a push barcode_uri."""
    parts = urlsplit(uri.strip())
    if parts.scheme != "otpauth" or parts.netloc != "totp":
        raise AuthenticatorError("not an otpauth://totp/ URI")
    query = parse_qs(parts.query)
    tx = query.get("enrollment_tx_id", [""])[0]
    base = query.get("base_url", [""])[0]
    if not tx or not base:
        raise AuthenticatorError(
            "the URI has no enrollment_tx_id/base_url: is it a push enrolment?"
        )
    label = unquote(parts.path.lstrip("/"))
    issuer, _, account = label.partition(":")
    issuer = query.get("issuer", [issuer])[0]
    return tx, base.rstrip("/"), issuer, account or label


def sign_request(
    key: ECKey, header: dict[str, Any], base_url: str, action: str, now: float, **claims: Any
) -> str:
    """One device request: a compact JWS over the protocol's claims and the action's own."""
    now = int(now)
    payload = {
        "aud": base_url,
        "action": action,
        "iat": now,
        "exp": now + REQUEST_LIFETIME,
        "jti": secrets.token_urlsafe(16),
        **claims,
    }
    return jws.serialize_compact(
        {"alg": "ES256", "typ": "twofold-push+jwt", **header},
        json.dumps(payload),
        key,
        algorithms=["ES256"],
    )


class DeviceClient:
    def __init__(
        self,
        state: StateFile,
        http: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.state = state
        self._http = http
        self._clock = clock

    async def _post(self, url: str, token: str) -> httpx.Response:
        if self._http is not None:
            return await self._http.post(url, content=token, headers={"content-type": JOSE})
        async with httpx.AsyncClient(timeout=15.0) as http:
            return await http.post(url, content=token, headers={"content-type": JOSE})

    @staticmethod
    def _check(response: httpx.Response, expected: int) -> Any:
        if response.status_code != expected:
            try:
                body = response.json()
                detail = f"{body.get('error')}: {body.get('error_description')}"
            except ValueError:
                detail = response.text[:200]
            raise AuthenticatorError(f"server answered {response.status_code} ({detail})")
        return response.json() if response.content else None

    # ---------------------------------------------------------------- accounts

    def accounts(self) -> list[Account]:
        return self.state.load()

    def select(self, device_id: str | None = None) -> Account:
        accounts = self.accounts()
        if device_id is not None:
            found = [a for a in accounts if a.device_id == device_id or a.account == device_id]
        else:
            found = accounts[-1:]
        if not found:
            raise AuthenticatorError(
                "no such account; enrol one with `twofold authenticator enroll`"
            )
        return found[0]

    # ---------------------------------------------------------------- protocol

    async def enroll(
        self, uri: str, *, name: str = "Twofold CLI", notification_target: str | None = None
    ) -> Account:
        tx, base_url, issuer, account = parse_enrollment_uri(uri)
        key = ECKey.generate_key("P-256")
        claims: dict[str, Any] = {"enrollment_tx_id": tx, "name": name}
        if notification_target:
            claims["notification_target"] = notification_target
        header = {"jwk": key.as_dict(private=False)}
        token = sign_request(key, header, base_url, "enroll", self._clock(), **claims)
        body = self._check(await self._post(f"{base_url}/push/enroll", token), 201)
        totp = body.get("totp") or {}
        enrolled = Account(
            device_id=body["device_id"],
            base_url=base_url,
            issuer=body.get("issuer") or issuer,
            account=body.get("account") or account,
            private_jwk=key.as_dict(private=True),
            totp_secret=totp.get("secret"),
            name=name,
        )
        self.state.save([*self.accounts(), enrolled])
        return enrolled

    def code(self, device_id: str | None = None, at: float | None = None) -> str:
        account = self.select(device_id)
        if not account.totp_secret:
            raise AuthenticatorError("this account has no TOTP secret")
        return str(pyotp.TOTP(account.totp_secret).at(int(at if at is not None else self._clock())))

    def _signed(self, account: Account, action: str, **claims: Any) -> str:
        header = {"kid": account.device_id}
        return sign_request(
            account.key(),
            header,
            account.base_url,
            action,
            self._clock(),
            iss=account.device_id,
            **claims,
        )

    async def pending(self, device_id: str | None = None) -> list[dict[str, Any]]:
        accounts = [self.select(device_id)] if device_id else self.accounts()
        out: list[dict[str, Any]] = []
        for account in accounts:
            token = self._signed(account, "pending")
            body = self._check(await self._post(f"{account.base_url}/push/pending", token), 200)
            for tx in body["transactions"]:
                out.append({**tx, "device_id": account.device_id, "account": account.account})
        return out

    async def decide(
        self, transaction_id: str, approve: bool, device_id: str | None = None
    ) -> None:
        if device_id is None:
            owners = [
                t["device_id"]
                for t in await self.pending()
                if t["transaction_id"] == transaction_id
            ]
            if not owners:
                raise AuthenticatorError("no pending transaction with that id")
            device_id = owners[0]
        account = self.select(device_id)
        action = "approve" if approve else "reject"
        token = self._signed(account, action, transaction_id=transaction_id)
        url = f"{account.base_url}/push/transactions/{transaction_id}/{action}"
        self._check(await self._post(url, token), 204)

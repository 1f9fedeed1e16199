"""Shared helpers for the in-process HTTP tests: constants, a harness around the app, assertions.

The harness talks to the app only over HTTP (httpx + ASGITransport) and seeds data only through
``services.admin``; nothing here reaches into storage. TOTP codes are computed here (RFC 6238,
SHA1/6/30) from the frozen clock, independently of the server's implementation.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import struct
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

DOMAIN = "twofold.test"
BASE_URL = f"https://{DOMAIN}"
ISSUER = f"https://{DOMAIN}/"
MFA_AUDIENCE = f"https://{DOMAIN}/mfa/"
TOKEN_ENDPOINT = f"https://{DOMAIN}/oauth/token"
API = "https://api.example.com"
API_SCOPES = ("read:x", "write:x")
REALM = "Username-Password-Authentication"

EMAIL = "u@example.com"
PASSWORD = "correct horse"

GRANT_PASSWORD = "password"
GRANT_PASSWORD_REALM = "http://auth0.com/oauth/grant-type/password-realm"
GRANT_OTP = "http://auth0.com/oauth/grant-type/mfa-otp"
GRANT_OOB = "http://auth0.com/oauth/grant-type/mfa-oob"
GRANT_RECOVERY = "http://auth0.com/oauth/grant-type/mfa-recovery-code"
GRANT_REFRESH = "refresh_token"
GRANT_CC = "client_credentials"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

# A real-looking instant, 5 s into a 30 s TOTP step so +/-30 s moves exactly one step.
START = 1_750_000_005.0

SECRET_RE = re.compile(r"^[A-Z2-7]{32}$")
RECOVERY_RE = re.compile(r"^[0-9A-Z]{24}$")
TOTP_ID_RE = re.compile(r"^totp\|dev_[A-Za-z0-9]{16}$")
RECOVERY_ID_RE = re.compile(r"^recovery-code\|dev_[A-Za-z0-9]{16}$")

MALFORMED = "Malformed mfa_token"
EXPIRED = "mfa_token is expired"
OTHER_CLIENT = "mfa_token not issued to this client"
INVALID_OTP = "Invalid otp_code."
INVALID_RECOVERY = "Invalid recovery_code."
WRONG_CREDENTIALS = "Wrong email or password."
CLIENT_AUTH_FAILED = "Client authentication failed"
MFA_REQUIRED = "Multifactor authentication required"
ALREADY_ENROLLED = "User is already enrolled"


def make_settings(tmp_path: Any) -> Any:
    from twofold.config import Settings

    return Settings(
        database_url=f"sqlite:///{tmp_path}/t.db",
        domain=DOMAIN,
        data_dir=tmp_path,
        environment="test",
        argon2_time_cost=1,
        argon2_memory_cost=1024,
    )


# --------------------------------------------------------------------------- TOTP


def totp(secret: str, at: float, *, step: int = 30, digits: int = 6) -> str:
    """RFC 6238 TOTP with HMAC-SHA1, computed here so the test does not trust the server."""
    key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    counter = int(at) // step
    mac = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    value = (struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF) % 10**digits
    return str(value).zfill(digits)


def wrong_code(*avoid: str) -> str:
    """A 6-digit code different from every code in ``avoid``."""
    n = 0
    while True:
        code = str((int(avoid[0]) + 1 + n) % 10**6).zfill(6) if avoid else "000000"
        if code not in avoid:
            return code
        n += 1


# --------------------------------------------------------------------------- assertions


def assert_error(
    resp: httpx.Response, status: int, error: str, description: str | None = None
) -> dict[str, Any]:
    """Exact status, JSON error envelope with string error/error_description."""
    assert resp.status_code == status, (resp.status_code, resp.text)
    assert resp.headers.get("content-type", "").startswith("application/json"), resp.headers
    body = resp.json()
    assert isinstance(body, dict), body
    assert body.get("error") == error, body
    assert isinstance(body.get("error_description"), str), body
    assert body["error_description"], body
    if description is not None:
        assert body["error_description"] == description, body
    return body


def assert_no_store(resp: httpx.Response) -> None:
    assert resp.headers.get("cache-control") == "no-store", dict(resp.headers)
    assert resp.headers.get("pragma") == "no-cache", dict(resp.headers)


def assert_tokens(resp: httpx.Response) -> dict[str, Any]:
    assert resp.status_code == 200, (resp.status_code, resp.text)
    body = resp.json()
    assert isinstance(body.get("access_token"), str), body
    assert body.get("token_type") == "Bearer", body
    assert type(body.get("expires_in")) is int, body
    assert body["expires_in"] > 0, body
    assert isinstance(body.get("scope"), str), body
    return body


def audiences(claims: dict[str, Any]) -> list[str]:
    aud = claims.get("aud")
    return list(aud) if isinstance(aud, list) else [aud]


# --------------------------------------------------------------------------- harness


@dataclass
class Creds:
    client_id: str
    secret: str | None
    auth_method: str
    client: Any = None

    def post(self) -> dict[str, str]:
        """Credentials as body parameters (client_secret_post, or just client_id)."""
        out = {"client_id": self.client_id}
        if self.secret is not None:
            out["client_secret"] = self.secret
        return out

    def basic(self) -> dict[str, str]:
        from urllib.parse import quote

        assert self.secret is not None
        raw = f"{quote(self.client_id, safe='')}:{quote(self.secret, safe='')}"
        return {"Authorization": "Basic " + base64.b64encode(raw.encode()).decode()}


@dataclass
class Enrolled:
    """A user with a confirmed TOTP authenticator (and the recovery code from associate)."""

    user: Any
    email: str
    password: str
    secret: str
    recovery_code: str | None
    tokens: dict[str, Any]


class Harness:
    def __init__(self, http: httpx.AsyncClient, services: Any, clock: Any) -> None:
        self.http = http
        self.services = services
        self.clock = clock
        self._n = 0

    @property
    def admin(self) -> Any:
        return self.services.admin

    # ----- seeding

    async def tenant(self, **changes: Any) -> Any:
        return await self.admin.update_tenant(**changes)

    async def client(
        self,
        name: str | None = None,
        *,
        grant_types: Any = None,
        auth_method: str = "client_secret_post",
        jwks: dict[str, Any] | None = None,
        api_grants: dict[str, tuple[str, ...]] | None = None,
        **urls: Any,
    ) -> Creds:
        """`urls`: callbacks, logout_urls, web_origins."""
        self._n += 1
        client, secret = await self.admin.create_client(
            name or f"app{self._n}",
            grant_types=grant_types,
            auth_method=auth_method,
            jwks=jwks,
            api_grants=api_grants,
            **urls,
        )
        return Creds(client.client_id, secret, auth_method, client)

    async def user(
        self,
        email: str = EMAIL,
        password: str = PASSWORD,
        *,
        realm: str = REALM,
        username: str | None = None,
    ) -> Any:
        return await self.admin.create_user(
            email, password, realm=realm, username=username, email_verified=True
        )

    async def api(self, identifier: str = API, scopes: tuple[str, ...] = API_SCOPES) -> Any:
        return await self.admin.create_api(identifier, scopes=scopes)

    # ----- raw calls

    async def token(
        self,
        params: dict[str, Any],
        client: Creds | None = None,
        *,
        json: bool = False,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        data = dict(params)
        if client is not None:
            data = {**client.post(), **data}
        if json:
            return await self.http.post("/oauth/token", json=data, headers=headers)
        return await self.http.post("/oauth/token", data=data, headers=headers)

    async def password(
        self,
        client: Creds,
        username: str = EMAIL,
        password: str = PASSWORD,
        **extra: Any,
    ) -> httpx.Response:
        params = {"grant_type": GRANT_PASSWORD, "username": username, "password": password}
        params.update({k: v for k, v in extra.items() if v is not None})
        return await self.token(params, client)

    async def mfa_required(self, client: Creds, **extra: Any) -> dict[str, Any]:
        resp = await self.password(client, **extra)
        body = assert_error(resp, 403, "mfa_required", MFA_REQUIRED)
        assert isinstance(body.get("mfa_token"), str), body
        assert body["mfa_token"], body
        return body

    async def mfa_token(self, client: Creds, **extra: Any) -> str:
        return (await self.mfa_required(client, **extra))["mfa_token"]

    async def otp_grant(
        self, client: Creds, mfa_token: str, otp: str, **extra: Any
    ) -> httpx.Response:
        params = {"grant_type": GRANT_OTP, "mfa_token": mfa_token, "otp": otp, **extra}
        return await self.token(params, client)

    async def recovery_grant(
        self, client: Creds, mfa_token: str, code: str, **extra: Any
    ) -> httpx.Response:
        params = {
            "grant_type": GRANT_RECOVERY,
            "mfa_token": mfa_token,
            "recovery_code": code,
            **extra,
        }
        return await self.token(params, client)

    async def associate(
        self,
        bearer: str | None,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        hdrs = dict(headers or {})
        if bearer is not None:
            hdrs["Authorization"] = f"Bearer {bearer}"
        payload = {"authenticator_types": ["otp"]} if body is None else body
        return await self.http.post("/mfa/associate", json=payload, headers=hdrs)

    async def challenge(
        self, client: Creds | None, mfa_token: str | None, *, form: bool = False, **extra: Any
    ) -> httpx.Response:
        data: dict[str, Any] = {}
        if client is not None:
            data.update(client.post())
        if mfa_token is not None:
            data["mfa_token"] = mfa_token
        data.update(extra)
        if form:
            return await self.http.post("/mfa/challenge", data=data)
        return await self.http.post("/mfa/challenge", json=data)

    async def list_authenticators(self, bearer: str | None) -> httpx.Response:
        headers = {} if bearer is None else {"Authorization": f"Bearer {bearer}"}
        return await self.http.get("/mfa/authenticators", headers=headers)

    async def delete_authenticator(
        self, bearer: str | None, authenticator_id: str
    ) -> httpx.Response:
        from urllib.parse import quote

        headers = {} if bearer is None else {"Authorization": f"Bearer {bearer}"}
        return await self.http.delete(
            "/mfa/authenticators/" + quote(authenticator_id, safe=""), headers=headers
        )

    # ----- flows

    def code(self, secret: str, steps: int = 0) -> str:
        """The TOTP code for the current step (``steps`` = -1 for the previous one, …)."""
        return totp(secret, self.clock.now() + 30 * steps)

    def next_step(self) -> None:
        """Move the clock into the next TOTP step (so a fresh code is available)."""
        self.clock.advance(30)

    async def associate_otp(self, bearer: str) -> dict[str, Any]:
        resp = await self.associate(bearer)
        assert resp.status_code == 200, (resp.status_code, resp.text)
        return resp.json()

    async def enrolled(
        self,
        client: Creds,
        email: str = EMAIL,
        password: str = PASSWORD,
        **password_extra: Any,
    ) -> Enrolled:
        """Create a user, associate TOTP with an mfa_token and confirm it; then step the clock.

        The tenant must require MFA (policy ``always``, the default used by these tests).
        """
        user = await self.user(email, password)
        mfa_token = await self.mfa_token(
            client, username=email, password=password, **password_extra
        )
        assoc = await self.associate_otp(mfa_token)
        secret = assoc["secret"]
        codes = assoc.get("recovery_codes") or [None]
        tokens = assert_tokens(await self.otp_grant(client, mfa_token, self.code(secret)))
        self.next_step()
        return Enrolled(user, email, password, secret, codes[0], tokens)

    async def mfa_api_token(self, client: Creds, enrolled: Enrolled, scope: str) -> dict[str, Any]:
        """An access token for the MFA API (aud https://{domain}/mfa/) through password + OTP."""
        mfa_token = await self.mfa_token(
            client,
            username=enrolled.email,
            password=enrolled.password,
            audience=MFA_AUDIENCE,
            scope=scope,
        )
        body = assert_tokens(await self.otp_grant(client, mfa_token, self.code(enrolled.secret)))
        self.next_step()
        return body

    # ----- JWT

    async def keyset(self) -> KeySet:
        resp = await self.http.get("/.well-known/jwks.json")
        assert resp.status_code == 200, resp.text
        return KeySet.import_key_set(resp.json())

    async def decode(self, token: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """Verify an RS256 JWT against the published JWKS; (header, claims)."""
        decoded = jwt.decode(token, await self.keyset(), algorithms=["RS256"])
        return dict(decoded.header), dict(decoded.claims)

    def assertion(
        self,
        key: RSAKey,
        client_id: str,
        *,
        aud: str = ISSUER,
        lifetime: int = 120,
        jti: str | None = None,
        iss: str | None = None,
        sub: str | None = None,
        iat_offset: int = 0,
    ) -> str:
        now = int(self.clock.now())
        claims = {
            "iss": iss or client_id,
            "sub": sub or client_id,
            "aud": aud,
            "iat": now + iat_offset,
            "exp": now + iat_offset + lifetime,
            "jti": jti or uuid.uuid4().hex,
        }
        header = {"alg": "RS256", "kid": key.kid} if key.kid else {"alg": "RS256"}
        return jwt.encode(header, claims, key, algorithms=["RS256"])


def rsa_key() -> RSAKey:
    return RSAKey.generate_key(2048, auto_kid=True)


def public_jwks(key: RSAKey) -> dict[str, Any]:
    jwk = key.as_dict(private=False)
    jwk.setdefault("alg", "RS256")
    jwk.setdefault("use", "sig")
    return {"keys": [jwk]}


def operator_env(monkeypatch: Any, data_dir: Any, database: str) -> None:
    """The environment a test operator sets: a SQLite file in `data_dir`, no Redis, keys made on
    first use."""
    for name, value in {
        "TWOFOLD_DATABASE_URL": f"sqlite:///{data_dir}/{database}",
        "TWOFOLD_DOMAIN": DOMAIN,
        "TWOFOLD_DATA_DIR": str(data_dir),
        "TWOFOLD_ENVIRONMENT": "test",
        "TWOFOLD_ENCRYPTION_KEYS": "",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("TWOFOLD_REDIS_URL", raising=False)

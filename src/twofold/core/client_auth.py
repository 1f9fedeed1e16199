"""Client authentication: client_secret_basic, client_secret_post, private_key_jwt, none.

One function, `authenticate`, used by every endpoint that takes client credentials. Every
failure is the same 401 invalid_client so a caller cannot tell an unknown client from a wrong
secret.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from twofold.core.claims import TokenInvalid, unverified
from twofold.core.deps import Deps
from twofold.core.errors import InvalidClient, InvalidRequest, missing
from twofold.core.ids import constant_time_equal, digest
from twofold.core.models import Client
from twofold.core.tokens import verify_client_assertion

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_ASSERTION_BYTES = 2048
_LEEWAY = 10


@dataclass(frozen=True, slots=True)
class ClientCredentials:
    client_id: str | None = None
    client_secret: str | None = None
    client_assertion: str | None = None
    client_assertion_type: str | None = None
    # From an `Authorization: Basic` header, already split.
    basic: tuple[str, str] | None = None


def secret_hash(secret: str) -> str:
    return digest(secret, "client_secret")


def _assertion_subject(assertion: str) -> str | None:
    """The unverified `sub` (or `iss`) of an assertion, to find whose keys verify it."""
    claims = unverified(assertion)
    sub = claims.get("sub") or claims.get("iss")
    return sub if isinstance(sub, str) else None


def token_endpoint_audiences(deps: Deps) -> list[str]:
    """What a private_key_jwt assertion sent to /oauth/token or /mfa/challenge may name as its
    audience: the issuer, or the token endpoint's URL."""
    return [deps.issuer, f"{deps.issuer}oauth/token"]


async def authenticate(deps: Deps, creds: ClientCredentials, *, audiences: Sequence[str]) -> Client:
    client_id = creds.client_id
    secret: str | None
    if creds.basic is not None:
        basic_id, basic_secret = creds.basic
        if client_id is not None and client_id != basic_id:
            raise InvalidClient(debug="client_id differs from Basic credentials")
        if creds.client_secret is not None or creds.client_assertion is not None:
            raise InvalidRequest("Only one client authentication method may be used")
        client_id, secret = basic_id, basic_secret
    else:
        secret = creds.client_secret

    if creds.client_assertion is not None:
        if secret is not None:
            raise InvalidRequest("Only one client authentication method may be used")
        return await _authenticate_assertion(deps, creds, client_id, audiences)

    if not client_id:
        raise missing("client_id")
    client = await deps.client(client_id)
    if client is None:
        raise InvalidClient(debug="unknown client")
    if client.auth_method == "none":
        if secret is not None:
            raise InvalidClient(debug="public client presented a secret")
        return client
    if client.auth_method == "private_key_jwt":
        raise InvalidClient(debug="client must authenticate with private_key_jwt")
    if secret is None:
        raise InvalidClient(debug="missing client secret")
    check_secret(client, secret)
    return client


def check_secret(client: Client, secret: str) -> None:
    """The client's secret, or InvalidClient (a public client has none to present)."""
    if client.secret_hash is None:
        raise InvalidClient(debug="client has no secret")
    if not constant_time_equal(secret_hash(secret), client.secret_hash):
        raise InvalidClient(debug="wrong client secret")


async def _authenticate_assertion(
    deps: Deps, creds: ClientCredentials, client_id: str | None, audiences: Sequence[str]
) -> Client:
    assertion = creds.client_assertion or ""
    if creds.client_assertion_type != JWT_BEARER:
        raise InvalidClient(debug="unsupported client_assertion_type")
    if len(assertion.encode("utf-8", "replace")) > MAX_ASSERTION_BYTES:
        raise InvalidClient(debug="assertion too large")
    subject = _assertion_subject(assertion)
    if subject is None or (client_id is not None and subject != client_id):
        raise InvalidClient(debug="assertion subject missing or not the client_id")
    client = await deps.client(subject)
    if client is None or client.auth_method != "private_key_jwt" or not client.jwks:
        raise InvalidClient(debug="client not registered for private_key_jwt")
    now = deps.clock.now()
    try:
        claims = verify_client_assertion(
            assertion, client.jwks, client_id=client.client_id, audiences=audiences, now=now
        )
    except TokenInvalid as exc:
        raise InvalidClient(debug=f"assertion rejected: {exc}") from None
    jti = str(claims["jti"])
    ttl = max(1.0, float(claims["exp"]) - now + _LEEWAY)
    fresh = await deps.state.add(f"jti:{client.client_id}:{digest(jti, 'jti')}", "1", ttl)
    if not fresh:
        raise InvalidClient(debug="assertion jti replayed")
    return client

"""The token endpoint as an ordered list of named steps, readable top to bottom:

require grant_type → find its handler → authenticate the client → check the client may use
the grant → dispatch.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from twofold.core import client_auth
from twofold.core.deps import Deps
from twofold.core.errors import OAuthError, UnauthorizedClient, UnsupportedGrantType, missing
from twofold.core.grants import (
    authorization_code,
    client_credentials,
    mfa_oob,
    mfa_otp,
    mfa_recovery_code,
    password,
    refresh_token,
    webauthn,
)
from twofold.core.grants.base import GrantRequest
from twofold.core.models import GRANT_PASSWORD, GRANT_PASSWORD_REALM, Client, TokenSet

Handler = Callable[[Deps, GrantRequest], Awaitable[TokenSet]]


GRANTS: Mapping[str, Handler] = {
    **dict.fromkeys(password.GRANT_TYPES, password.handle),
    mfa_otp.GRANT_TYPE: mfa_otp.handle,
    mfa_oob.GRANT_TYPE: mfa_oob.handle,
    mfa_recovery_code.GRANT_TYPE: mfa_recovery_code.handle,
    refresh_token.GRANT_TYPE: refresh_token.handle,
    client_credentials.GRANT_TYPE: client_credentials.handle,
    webauthn.GRANT_TYPE: webauthn.handle,
    authorization_code.GRANT_TYPE: authorization_code.handle,
}


async def exchange(
    deps: Deps,
    params: Mapping[str, str],
    creds: client_auth.ClientCredentials,
    ip: str | None = None,
) -> TokenSet:
    return await _counted(deps, params, _authenticated(deps, params, creds, ip))


async def exchange_as(
    deps: Deps, params: Mapping[str, str], client: Client, ip: str | None = None
) -> TokenSet:
    """The exchange for a client that Twofold itself is (the account page's built-in client):
    it has no credentials to present, so the authentication step is skipped; every other step,
    from the grant allowed to the grant's own rules, is the token endpoint's."""
    return await _counted(deps, params, _dispatch(deps, params, client, ip))


async def _counted(
    deps: Deps, params: Mapping[str, str], exchanging: Awaitable[TokenSet]
) -> TokenSet:
    # Counted by grant type and outcome; an unknown grant_type is the client's text, so it is
    # counted as "other", never under its own name.
    grant_type = params.get("grant_type", "")
    label = grant_type if grant_type in GRANTS else "other"
    try:
        tokens = await exchanging
    except OAuthError as exc:
        deps.metrics.grant(label, exc.error)
        raise
    except Exception:
        deps.metrics.grant(label, "server_error")
        raise
    deps.metrics.grant(label, "success")
    return tokens


def _handler(params: Mapping[str, str]) -> tuple[str, Handler]:
    grant_type = params.get("grant_type")
    if not grant_type:
        raise missing("grant_type")
    handle = GRANTS.get(grant_type)
    if handle is None:
        raise UnsupportedGrantType(f"Unsupported grant type: {grant_type}")
    return grant_type, handle


async def _authenticated(
    deps: Deps,
    params: Mapping[str, str],
    creds: client_auth.ClientCredentials,
    ip: str | None,
) -> TokenSet:
    _handler(params)  # an unknown grant is refused before the client is looked at
    client = await client_auth.authenticate(
        deps, creds, audiences=client_auth.token_endpoint_audiences(deps)
    )
    return await _dispatch(deps, params, client, ip)


async def _dispatch(
    deps: Deps, params: Mapping[str, str], client: Client, ip: str | None
) -> TokenSet:
    grant_type, handle = _handler(params)
    effective = grant_type
    if grant_type == GRANT_PASSWORD and params.get("realm"):
        # Auth0 treats password with a realm as password-realm.
        effective = GRANT_PASSWORD_REALM
    if grant_type not in client.grant_types and effective not in client.grant_types:
        raise UnauthorizedClient(f"Grant type '{grant_type}' not allowed for the client.")
    return await handle(deps, GrantRequest(params=params, client=client, ip=ip))

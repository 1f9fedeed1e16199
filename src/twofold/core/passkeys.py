"""POST /passkey/register and POST /passkey/challenge: the first half of Auth0's native passkey
login. Both answer `{authn_params_public_key, auth_session}`; the client runs the WebAuthn
ceremony and sends the result to /oauth/token (grant urn:okta:params:oauth:grant-type:webauthn).

Neither endpoint requires client authentication (public clients call them, as Auth0 allows);
the client must exist and be allowed the webauthn grant, and a `client_secret`, when sent, must
be the client's. The token exchange itself requires a
confidential client. /passkey/register does not say whether the email is taken: that is only
decided when the signup completes. Its `user_metadata` (up to ten string fields, as Auth0 takes
them) is stored on the user the signup creates.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from twofold.core import client_auth, contact
from twofold.core.deps import Deps
from twofold.core.errors import InvalidClient, InvalidRequest, UnauthorizedClient, missing
from twofold.core.factors import passkey_sessions
from twofold.core.models import DEFAULT_REALM, GRANT_WEBAUTHN

MAX_NAME_CHARS = 255
MAX_METADATA_FIELDS = 10


def _string(body: Mapping[str, Any], name: str, *, required: bool) -> str | None:
    value = body.get(name)
    if value is None or value == "":
        if required:
            raise missing(name)
        return None
    if not isinstance(value, str) or len(value) > MAX_NAME_CHARS or "\x00" in value:
        raise InvalidRequest(f"Invalid parameter: {name}")
    return value


def _text(value: Any) -> bool:
    return isinstance(value, str) and len(value) <= MAX_NAME_CHARS and "\x00" not in value


def _user_metadata(body: Mapping[str, Any]) -> dict[str, str]:
    value = body.get("user_metadata")
    if value is None:
        return {}
    valid = isinstance(value, Mapping) and len(value) <= MAX_METADATA_FIELDS
    if not valid or not all(key and _text(key) and _text(v) for key, v in value.items()):
        raise InvalidRequest("Invalid parameter: user_metadata")
    return dict(value)


async def _client_id(deps: Deps, body: Mapping[str, Any]) -> str:
    client_id = _string(body, "client_id", required=True)
    client = None if client_id is None else await deps.client(client_id)
    if client is None:
        raise InvalidClient(debug="unknown client on /passkey")
    if GRANT_WEBAUTHN not in client.grant_types:
        raise UnauthorizedClient(f"Grant type '{GRANT_WEBAUTHN}' not allowed for the client.")
    # Confidential clients send their secret here too (as the SDKs do): a wrong one is refused
    # now rather than at the token exchange.
    secret = _string(body, "client_secret", required=False)
    if secret is not None:
        client_auth.check_secret(client, secret)
    return client.client_id


async def register(deps: Deps, body: Mapping[str, Any]) -> dict[str, Any]:
    client_id = await _client_id(deps, body)
    realm = _string(body, "realm", required=False) or DEFAULT_REALM
    profile = body.get("user_profile")
    if profile is None:
        raise missing("user_profile")
    if not isinstance(profile, Mapping):
        raise InvalidRequest("Invalid parameter: user_profile")
    if profile.get("email") in (None, ""):
        raise missing("user_profile.email")
    email = contact.normalize_email(profile.get("email"))
    name = _string(profile, "name", required=False)
    metadata = _user_metadata(body)
    return await passkey_sessions.enrol(
        deps, client_id=client_id, realm=realm, email=email, name=name, user_metadata=metadata
    )


async def challenge(deps: Deps, body: Mapping[str, Any]) -> dict[str, Any]:
    client_id = await _client_id(deps, body)
    realm = _string(body, "realm", required=False) or DEFAULT_REALM
    return await passkey_sessions.challenge(deps, client_id=client_id, realm=realm)

"""POST /oauth/revoke: RFC 7009 for refresh tokens, as Auth0 answers it.

The client authenticates as at the token endpoint (a public client names itself with
`client_id` alone). Revoking a refresh token revokes its whole family: every token rotated from
the same login. The answer is 200 with an empty body whether the token was revoked, unknown,
expired, already revoked or issued to another client (Auth0's documented answer, which tells a
caller nothing about tokens that are not its own); another client's token is left untouched.
`token_type_hint` is accepted and ignored: access tokens are signed JWTs that live out their
short lifetime, so only refresh tokens are revocable.
"""

from __future__ import annotations

from collections.abc import Mapping

from twofold.core import audit, client_auth
from twofold.core.deps import Deps
from twofold.core.errors import missing
from twofold.core.ids import digest
from twofold.core.models import Client


def endpoint_audiences(deps: Deps) -> list[str]:
    """A private_key_jwt assertion may name the issuer, the token or the revocation endpoint."""
    return [*client_auth.token_endpoint_audiences(deps), f"{deps.issuer}oauth/revoke"]


async def revoke(
    deps: Deps, params: Mapping[str, str], creds: client_auth.ClientCredentials
) -> Client:
    """Revoke the refresh token's family if it is the client's; the authenticated client."""
    client = await client_auth.authenticate(deps, creds, audiences=endpoint_audiences(deps))
    token = params.get("token")
    if not token:
        raise missing("token")
    stored = await deps.storage.refresh_tokens.get(digest(token, "refresh_token"))
    if stored is not None and stored.client_id == client.client_id:
        await deps.storage.refresh_tokens.revoke_family(stored.family_id)
        await audit.record(
            deps,
            audit.REFRESH_TOKEN_REVOKED,
            user_id=stored.user_id,
            client_id=client.client_id,
            audience=stored.audience,
        )
    return client

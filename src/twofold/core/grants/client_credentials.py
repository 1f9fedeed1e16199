"""grant_type=client_credentials: machine tokens for the APIs a client has been granted."""

from __future__ import annotations

from twofold.core import audience as audiences
from twofold.core import issuance
from twofold.core.deps import Deps
from twofold.core.errors import AccessDenied
from twofold.core.grants.base import GrantRequest
from twofold.core.models import GRANT_CLIENT_CREDENTIALS, TokenSet

GRANT_TYPE = GRANT_CLIENT_CREDENTIALS


async def handle(deps: Deps, req: GrantRequest) -> TokenSet:
    if req.client.auth_method == "none":
        raise AccessDenied("Public clients cannot use the client_credentials grant")
    tenant = await deps.tenant()
    audience = req.optional("audience") or tenant.default_audience
    if not audience:
        raise AccessDenied(
            "No audience parameter was provided, and no default audience has been configured"
        )
    api = await audiences.find_api(deps, audience)
    if api is not None:
        audience = api.identifier
    granted = req.client.api_grants.get(audience)
    if granted is None or api is None:
        raise AccessDenied(f'Client is not authorized to access "{audience}".')
    requested = req.optional("scope")
    scopes = [s for s in requested.split() if s in granted] if requested else list(granted)
    return await issuance.client_token(
        deps,
        client=req.client,
        audience=audience,
        scope=" ".join(scopes),
        lifetime=api.token_lifetime,
    )

"""GET /.well-known/openid-configuration: the OIDC discovery document, with Auth0's
`mfa_challenge_endpoint`, and the hosted login's `/authorize`: codes (PKCE S256) and ID tokens,
answered in the query, a form post or a web message (Auth0's silent authentication)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from twofold.core.authorization_codes import PKCE_METHOD
from twofold.core.grants.registry import GRANTS
from twofold.core.models import (
    OIDC_SCOPES,
)
from twofold.core.signin import MULTI_FACTOR_ACR
from twofold.core.tokens import CLIENT_ASSERTION_ALGS


def document(issuer: str, *, signing_algs: Sequence[str]) -> dict[str, Any]:
    """The discovery document. `signing_algs` are the algorithms of the published signing keys
    (`TokenSigner.algs`: the current key's first, then those of older keys still in the JWKS),
    so a relying party never sees an algorithm we do not sign with, nor misses one a still-valid
    token carries."""
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}authorize",
        "token_endpoint": f"{issuer}oauth/token",
        "userinfo_endpoint": f"{issuer}userinfo",
        "revocation_endpoint": f"{issuer}oauth/revoke",
        "end_session_endpoint": f"{issuer}oidc/logout",
        "jwks_uri": f"{issuer}.well-known/jwks.json",
        "mfa_challenge_endpoint": f"{issuer}mfa/challenge",
        "grant_types_supported": list(GRANTS),
        "response_types_supported": ["code", "id_token"],
        "response_modes_supported": ["query", "form_post", "web_message"],
        "code_challenge_methods_supported": [PKCE_METHOD],
        "acr_values_supported": [MULTI_FACTOR_ACR],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": list(signing_algs),
        # "none": public clients (SPAs, native apps) send their client_id alone, with PKCE.
        "token_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt",
            "none",
        ],
        "token_endpoint_auth_signing_alg_values_supported": list(CLIENT_ASSERTION_ALGS),
        # Public clients revoke with their client_id alone, as at the token endpoint.
        "revocation_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt",
            "none",
        ],
        "scopes_supported": sorted(OIDC_SCOPES),
        "claims_supported": [
            "acr",
            "amr",
            "aud",
            "auth_time",
            "email",
            "email_verified",
            "exp",
            "iat",
            "iss",
            "name",
            "nickname",
            "nonce",
            "sid",
            "sub",
            "updated_at",
        ],
    }

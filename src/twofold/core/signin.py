"""What a finished sign-in is, as the hosted login hands it on.

An authorization code, the SSO session and a refresh family all carry the same facts about the
sign-in they came from, and the ID tokens minted from any of them must tell the same story:
who (`sub`), when the user last proved who they are (`auth_time`, which a refresh keeps), how
(`amr`), whether multi-factor authentication ran (`acr`), and in which SSO session (`sid`).
"""

from __future__ import annotations

from dataclasses import dataclass

# The `acr` a sign-in gets when a second factor ran in it, and the `acr_values` an app sends to
# ask for one (step-up). Auth0 uses the OpenID PAPE policy URI.
MULTI_FACTOR_ACR = "http://schemas.openid.net/pape/policies/2007/06/multi-factor"


@dataclass(frozen=True, slots=True)
class SignIn:
    user_id: str
    # The SSO session the sign-in belongs to (the ID token's `sid`).
    sid: str
    # When the user last entered their password or used a passkey (seconds since the epoch).
    auth_time: int
    # Authentication methods, e.g. ("pwd",), ("pwd", "mfa", "otp"), ("hwk", "mfa").
    amr: tuple[str, ...]
    # MULTI_FACTOR_ACR when a second factor ran for this sign-in, else None.
    acr: str | None = None


@dataclass(frozen=True, slots=True)
class CodeGrant:
    """What an authorization code stands for until the token endpoint redeems it."""

    client_id: str
    redirect_uri: str
    scope: str
    # The API the access token is for (None: the tenant's default audience, or userinfo).
    audience: str | None
    nonce: str | None
    # The PKCE challenge (S256 only); None when the client sent none (confidential clients).
    code_challenge: str | None
    sign_in: SignIn

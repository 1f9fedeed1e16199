"""The account page's sign-in: the built-in client the page at /account acts as, and the only
requests made with it.

The page runs in a browser, which can keep no client secret, yet it signs users in with the
webauthn grant, which is for confidential clients only (as on Auth0). So the confidential party
is Twofold itself: the browser hands the proof of a grant (a password; an mfa_token with its
code; a passkey's response) to the page's endpoints, and Twofold runs the token endpoint's own
grant for `PAGE_CLIENT`. What keeps that from being a way around the rules:

- `PAGE_CLIENT` exists in code only, not in the client store, and has no secret: nobody can
  present it at /oauth/token or /mfa/challenge, and a stored client cannot take its id (stored
  clients get random base62 ids; this one has hyphens).
- Every token it gets is a My Account token: the sign-in grants are sent with the My Account
  audience, no `scope` (so the five My Account scopes and nothing else: no refresh token, no ID
  token), and any other parameter is refused. An MFA grant finishes the password step's
  mfa_token, which carries that audience. A user gets no more through the page than through the
  My Account API with any client allowed the password grant.
- The grants run unchanged: the password buckets per user and per address (the caller's
  address), the MFA policy, the user's failure bucket, one use of every code and auth_session.
  An mfa_token or auth_session issued to another client is refused here, and those issued here
  are refused to every other client.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from twofold.core.deps import Deps
from twofold.core.errors import InvalidRequest, UnsupportedGrantType, missing
from twofold.core.factors import passkey_sessions
from twofold.core.grants import registry
from twofold.core.mfa import challenge as mfa_challenge
from twofold.core.models import (
    DEFAULT_REALM,
    GRANT_MFA_OOB,
    GRANT_MFA_OTP,
    GRANT_MFA_RECOVERY_CODE,
    GRANT_PASSWORD,
    GRANT_WEBAUTHN,
    Client,
)

PAGE_CLIENT_ID = "twofold-account-page"

# What each grant the page may use takes from the browser; anything else is refused.
GRANT_FIELDS: Mapping[str, tuple[str, ...]] = {
    GRANT_PASSWORD: ("username", "password"),
    GRANT_MFA_OTP: ("mfa_token", "otp"),
    GRANT_MFA_OOB: ("mfa_token", "oob_code", "binding_code"),
    GRANT_MFA_RECOVERY_CODE: ("mfa_token", "recovery_code"),
    GRANT_WEBAUTHN: ("auth_session", "authn_response"),
}
# The grants that start a sign-in: they are sent with the My Account audience.
SIGN_IN_GRANTS = frozenset({GRANT_PASSWORD, GRANT_WEBAUTHN})
CHALLENGE_FIELDS = ("mfa_token", "authenticator_id", "challenge_type", "oob_channel")
# What the browser gets back of a token response: the My Account token (and the new recovery
# code after a recovery-code login, which the user must see once).
ANSWER_FIELDS = ("access_token", "token_type", "expires_in", "scope", "recovery_code")

PAGE_CLIENT = Client(
    client_id=PAGE_CLIENT_ID,
    name="Account page",
    # Confidential in the sense that matters: only Twofold acts as it. No secret exists, so the
    # token endpoint's client authentication never accepts it.
    auth_method="client_secret_post",
    grant_types=frozenset(GRANT_FIELDS),
)


def _only(params: Mapping[str, str], allowed: tuple[str, ...]) -> dict[str, str]:
    """The parameters, when each is one the request may carry."""
    for name in params:
        if name not in allowed:
            raise InvalidRequest(f"Unknown parameter: {name[:64]}")
    return dict(params)


async def token(deps: Deps, params: Mapping[str, str], ip: str | None) -> dict[str, Any]:
    """A sign-in step for the page: one grant, as the token endpoint runs it for PAGE_CLIENT.
    `params` are the token endpoint's (strings; `authn_response` as its JSON text)."""
    grant_type = params.get("grant_type")
    if not grant_type:
        raise missing("grant_type")
    if grant_type not in GRANT_FIELDS:
        raise UnsupportedGrantType(f"Unsupported grant type: {grant_type[:100]}")
    params = _only(params, ("grant_type", *GRANT_FIELDS[grant_type]))
    if grant_type in SIGN_IN_GRANTS:
        params["audience"] = deps.my_account_audience
    tokens = (await registry.exchange_as(deps, params, PAGE_CLIENT, ip)).body()
    return {name: tokens[name] for name in ANSWER_FIELDS if name in tokens}


async def challenge(deps: Deps, params: Mapping[str, str]) -> dict[str, Any]:
    """/mfa/challenge for an mfa_token the page's password step got."""
    return await mfa_challenge.challenge_as(deps, PAGE_CLIENT, _only(params, CHALLENGE_FIELDS))


async def passkey_challenge(deps: Deps, params: Mapping[str, str]) -> dict[str, Any]:
    """/passkey/challenge for the page: request options for the user's passkey, and the
    auth_session that only the page's webauthn grant accepts."""
    _only(params, ())
    return await passkey_sessions.challenge(deps, client_id=PAGE_CLIENT_ID, realm=DEFAULT_REALM)

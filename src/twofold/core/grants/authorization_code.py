"""grant_type=authorization_code: the code the hosted login's /authorize sent the browser back
with, exchanged for tokens.

    code + redirect_uri (+ code_verifier) → access token, ID token (`openid`), refresh token
    (`offline_access`, when the client may refresh)

Steps: redeem the code (`core/authorization_codes.py`: bound to the client and redirect_uri,
PKCE S256, once) → the user still exists and is not blocked → the audience and scopes the code was
issued for → the MFA policy → mint, with the sign-in's auth_time, amr, acr and sid in the ID
token and the /authorize request's nonce → settle the code (a replay meanwhile revokes).

Decisions:
- Every way the token endpoint authenticates a client is accepted here (secret in the body or
  Basic, private_key_jwt, or none). A public client (auth method `none`) must have used PKCE.
- `redirect_uri` is required: the hosted login always binds the code to one (RFC 6749 §4.1.3),
  and the Auth0 SDKs always send it.
- The sign-in counts as MFA when its `acr` is the multi-factor policy or its `amr` has "mfa".
  The hosted login runs the MFA policy before it issues a code; the policy is applied again
  here as at every grant, so a code whose sign-in lacks a factor the policy needs answers
  mfa_required, as a refresh of such a family would.
- A deleted user's code is an invalid code; a blocked user gets Auth0's `user is blocked`.
"""

from __future__ import annotations

from twofold.core import audience, audit, issuance
from twofold.core import authorization_codes as codes
from twofold.core.deps import Deps
from twofold.core.errors import InvalidGrant, UserBlocked
from twofold.core.grants.base import GrantRequest
from twofold.core.mfa import policy
from twofold.core.models import GRANT_AUTHORIZATION_CODE, TokenSet
from twofold.core.signin import MULTI_FACTOR_ACR, SignIn

GRANT_TYPE = GRANT_AUTHORIZATION_CODE
PARAMS = ("code", "redirect_uri", "code_verifier")


def had_mfa(sign_in: SignIn) -> bool:
    return sign_in.acr == MULTI_FACTOR_ACR or "mfa" in sign_in.amr


async def handle(deps: Deps, req: GrantRequest) -> TokenSet:
    code = req.required("code")
    redirect_uri = req.required("redirect_uri")
    client = req.client
    try:
        redemption = await codes.redeem(
            deps,
            code,
            client_id=client.client_id,
            redirect_uri=redirect_uri,
            code_verifier=req.optional("code_verifier"),
            require_pkce=client.auth_method == "none",
        )
    except InvalidGrant as refused:
        await _failed(deps, client.client_id, refused)
        raise
    grant = redemption.grant
    sign_in = grant.sign_in
    user = await deps.storage.users.get(sign_in.user_id)
    if user is None:
        raise InvalidGrant(codes.INVALID_CODE, debug="the code's user was deleted")
    if user.blocked:
        raise UserBlocked()
    target = await audience.resolve(deps, grant.audience)
    scope = audience.grant_scopes(target, grant.scope)
    mfa = had_mfa(sign_in)
    if not mfa and await policy.mfa_needed(deps, target, user.user_id):
        await policy.require_mfa(deps, user, client.client_id, target, scope)
    tokens = await issuance.user_tokens(
        deps,
        user,
        client,
        target,
        scope,
        mfa=mfa,
        grant=None,
        family_id=redemption.family_id,
        sign_in=sign_in,
        nonce=grant.nonce,
    )
    try:
        await codes.settle(deps, code, redemption)
    except InvalidGrant as refused:
        await _failed(deps, client.client_id, refused, user_id=user.user_id)
        raise
    await audit.record(
        deps, audit.SUCCESS_CODE_EXCHANGE, user_id=user.user_id, client_id=client.client_id
    )
    return tokens


async def _failed(
    deps: Deps, client_id: str, refused: InvalidGrant, user_id: str | None = None
) -> None:
    # The debug text says which check refused (never the code itself): for the operator only.
    await audit.record(
        deps, audit.FAILED_CODE_EXCHANGE, user_id=user_id, client_id=client_id, reason=refused.debug
    )

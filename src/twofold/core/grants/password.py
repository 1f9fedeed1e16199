"""grant_type=password and http://auth0.com/oauth/grant-type/password-realm.

A correct password either yields tokens (policy `never`, or an MFA-API or My Account token for a
user with no factor yet) or the 403 mfa_required answer carrying a fresh mfa_token.
"""

from __future__ import annotations

from twofold.core import audience, audit, issuance
from twofold.core.attempts import PasswordAttempts
from twofold.core.deps import Deps
from twofold.core.errors import (
    WRONG_CREDENTIALS,
    AddressThrottled,
    InvalidGrant,
    TooManyAttempts,
    UserBlocked,
)
from twofold.core.grants.base import GrantRequest
from twofold.core.ids import digest
from twofold.core.mfa import policy
from twofold.core.models import DEFAULT_REALM, GRANT_PASSWORD, GRANT_PASSWORD_REALM, TokenSet, User

GRANT_TYPES = (GRANT_PASSWORD, GRANT_PASSWORD_REALM)


def _attempt_subject(realm: str, login: str, user: User | None) -> str:
    # An unknown login gets a bucket of its own, exactly like a known one: the 429 must not
    # tell an attacker which usernames exist.
    if user is not None:
        return user.user_id
    return "unknown:" + digest(f"{realm}\n{login.lower()}", "login-attempts")


async def check_password(
    deps: Deps, realm: str, login: str, password: str, client_id: str, ip: str | None = None
) -> User:
    user = await deps.storage.users.find_by_login(realm, login)
    # The buckets (per user and address, per address, per user) are taken before the password is
    # looked at, so a blocked attacker learns nothing from a guess and costs no hashing; a good
    # password gives the attempts back.
    subject = _attempt_subject(realm, login, user)
    limits = PasswordAttempts(
        deps.state,
        deps.clock,
        per_address=deps.policy.password_per_address,
        per_user=deps.policy.password_per_user,
    )
    try:
        await limits.take(subject, ip)
    except TooManyAttempts as refused:
        # A throttled address is its own event (Auth0's limit_mu); the others block the account.
        event = (
            audit.BLOCKED_ADDRESS
            if isinstance(refused, AddressThrottled)
            else (audit.BLOCKED_ACCOUNT)
        )
        user_id = user.user_id if user else None
        await audit.record(deps, event, user_id=user_id, client_id=client_id, realm=realm)
        raise
    if user is None:
        # Same work for an unknown user as for a wrong password: no timing oracle.
        await deps.hasher.verify_dummy(password)
        await audit.record(deps, audit.FAILED_LOGIN_USERNAME, client_id=client_id, realm=realm)
        raise InvalidGrant(WRONG_CREDENTIALS)
    if not user.password_hash:
        # A passkey-only user has no password: the same work and answer as a wrong one, so the
        # timing does not tell that such an account exists.
        await deps.hasher.verify_dummy(password)
        matched = False
    else:
        matched = await deps.hasher.verify(user.password_hash, password)
    if not matched:
        await audit.record(
            deps, audit.FAILED_LOGIN_PASSWORD, user_id=user.user_id, client_id=client_id
        )
        raise InvalidGrant(WRONG_CREDENTIALS)
    await limits.refund(subject, ip)
    if user.blocked:
        # Told only to whoever knows the password, like Auth0.
        raise UserBlocked()
    if deps.hasher.needs_rehash(user.password_hash):
        # An imported hash (or one made with older parameters) becomes Twofold's argon2id. Only
        # while it is still the one checked: a password set meanwhile is not undone.
        await deps.storage.users.update_password_hash(
            user.user_id, await deps.hasher.hash(password), replacing=user.password_hash
        )
    return user


async def handle(deps: Deps, req: GrantRequest) -> TokenSet:
    username = req.required("username")
    password = req.required("password")
    if req.params.get("grant_type") == GRANT_PASSWORD_REALM:
        realm = req.required("realm")
    else:
        realm = req.optional("realm") or DEFAULT_REALM
    target = await audience.resolve(deps, req.optional("audience"))
    scope = audience.grant_scopes(target, req.optional("scope"))
    user = await check_password(deps, realm, username, password, req.client.client_id, req.ip)

    # Asking for the MFA API or the My Account API forces MFA once a factor exists; without one
    # the token is how the user enrols, so it is minted directly.
    if await policy.mfa_needed(deps, target, user.user_id):
        await policy.require_mfa(deps, user, req.client.client_id, target, scope)
    await audit.record(
        deps, audit.SUCCESS_LOGIN, user_id=user.user_id, client_id=req.client.client_id
    )
    return await issuance.user_tokens(
        deps, user, req.client, target, scope, mfa=False, grant="password"
    )

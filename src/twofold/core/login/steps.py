"""The hosted login's steps: what each page's form does.

The first factor is the password grant's own check (`check_password`: the same buckets per
user and address, the same audit events), or a passkey. The second factor runs the MFA grants
as the built-in login client (`core/login/client.py`), so a code is used once, a guess costs an
attempt from the user's bucket and an expired mfa_token ends the step exactly as on the MFA API.

A step that fails on the page raises `PageError` with a message key (`web/pages/messages.py`
words it); one that must go back to the app answers through `flow`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from twofold.core.claims import unverified
from twofold.core.deps import Deps
from twofold.core.errors import (
    AuthorizationPending,
    ExpiredToken,
    InvalidGrant,
    InvalidToken,
    OAuthError,
    SlowDown,
    TooManyAttempts,
    TooManyRequests,
    UserBlocked,
)
from twofold.core.factors import passkey_sessions
from twofold.core.grants import registry
from twofold.core.grants.password import check_password
from twofold.core.login import flow, transactions
from twofold.core.login.client import LOGIN_CLIENT, LOGIN_CLIENT_ID
from twofold.core.login.flow import Cookies, Outcome
from twofold.core.login.transactions import Transaction
from twofold.core.mfa import associate, bearer
from twofold.core.mfa import challenge as mfa_challenge
from twofold.core.mfa.enrolled import for_user, usable
from twofold.core.models import (
    DEFAULT_REALM,
    GRANT_MFA_OOB,
    GRANT_MFA_OTP,
    GRANT_MFA_RECOVERY_CODE,
    GRANT_WEBAUTHN,
    Authenticator,
    TokenSet,
    User,
)
from twofold.core.my_account import passkeys as my_account_passkeys
from twofold.core.my_account.caller import Caller
from twofold.core.my_account.problems import Problem

# RFC 8176 method of each factor, added to `amr` beside "mfa".
FACTOR_AMR = {
    "otp": "otp",
    "email": "otp",
    "sms": "sms",
    "voice": "tel",
    "push": "mca",
    "recovery-code": "otp",
}
# The order the MFA page offers factors in: the first the user has is shown first.
FACTOR_ORDER = ("push", "otp", "passkey", "email", "sms", "voice", "recovery-code")
CODE_FACTORS = frozenset({"otp", "email", "sms", "voice", "recovery-code"})
OOB_FACTORS = frozenset({"email", "sms", "voice", "push"})


class PageError(Exception):
    """A step refused on its page; `key` names the message in the catalog."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


@dataclass(frozen=True, slots=True)
class Factor:
    type: str
    authenticator_id: str | None
    # What the page may show of it (a masked address or a device name).
    label: str | None


@dataclass(frozen=True, slots=True)
class MfaView:
    factors: tuple[Factor, ...]
    current: Factor | None
    recovery_code: str | None


def _factor_type(a: Authenticator) -> str:
    return "otp" if a.kind == "totp" else a.kind


# ----- first factor


async def password(
    deps: Deps, tx: Transaction, username: str, secret: str, ip: str | None, cookies: Cookies
) -> Outcome:
    if tx.step != "login":
        raise transactions.Stale(tx)
    if not username or not secret:
        raise PageError("credentials-required")
    try:
        user = await check_password(
            deps, DEFAULT_REALM, username[:512], secret[:1024], tx.request.client_id, ip
        )
    except UserBlocked:
        await transactions.finish(deps, tx)
        return Outcome(answer=flow.rejected(tx.request, "unauthorized", flow.USER_BLOCKED))
    except TooManyAttempts:
        raise PageError("too-many-attempts") from None
    except InvalidGrant:
        raise PageError("wrong-credentials") from None
    return await flow.after_first_factor(deps, tx, user, ("pwd",), cookies)


async def passkey_options(deps: Deps, tx: Transaction) -> dict[str, Any]:
    """Request options for the user's passkey and the auth_session that finishes it."""
    if tx.step not in ("login", "mfa"):
        raise transactions.Stale(tx)
    return await passkey_sessions.challenge(deps, client_id=LOGIN_CLIENT_ID, realm=DEFAULT_REALM)


async def passkey(
    deps: Deps,
    tx: Transaction,
    auth_session: str,
    response: Mapping[str, Any],
    ip: str | None,
    cookies: Cookies,
) -> Outcome:
    """A passkey, as the first factor (login page) or the second (MFA page): the webauthn
    grant verifies it and spends the auth_session; on the MFA page it must be this user's."""
    if tx.step not in ("login", "mfa"):
        raise transactions.Stale(tx)
    params = {
        "grant_type": GRANT_WEBAUTHN,
        "auth_session": auth_session,
        "authn_response": json.dumps(response),
        "audience": deps.userinfo_audience,
    }
    tokens = await _grant(deps, tx, params, ip, failure="passkey-failed")
    # Read from the token minted a moment ago in this process, not from anything presented.
    claims = unverified(tokens.access_token)
    user_id, methods = claims.get("sub"), claims.get("amr")
    user = await deps.storage.users.get(user_id) if isinstance(user_id, str) else None
    if user is None or not isinstance(methods, list):
        raise PageError("passkey-failed")
    amr = tuple(str(m) for m in methods)
    if tx.step == "login":
        return await flow.after_first_factor(deps, tx, user, amr, cookies)
    if user.user_id != tx.user_id:
        raise PageError("passkey-other-user")
    return await _second_factor_done(deps, tx, amr, cookies)


# ----- second factor


async def _user(deps: Deps, tx: Transaction) -> User:
    user = await deps.storage.users.get(tx.user_id) if tx.user_id else None
    if user is None:
        raise transactions.Stale(tx)
    return user


async def mfa_view(deps: Deps, tx: Transaction) -> MfaView:
    """The factors the user can answer with and the one shown now; an email or SMS code is
    sent the first time its factor is shown."""
    if tx.step == "recovery":
        return MfaView((), None, tx.recovery_code)
    if tx.step != "mfa":
        raise transactions.Stale(tx)
    user = await _user(deps, tx)
    factors = await _factors(deps, user)
    current = next((f for f in factors if f.type == tx.factor), None)
    if current is None:
        current = factors[0] if factors else None
    if current is not None and current.type in OOB_FACTORS and tx.oob_code is None:
        tx = await _send(deps, tx, current)
    return MfaView(tuple(factors), current, None)


async def _factors(deps: Deps, user: User) -> list[Factor]:
    authenticators = await for_user(deps, user.user_id, first_factors=True)
    found: list[Factor] = []
    for a in usable(authenticators):
        found.append(Factor(_factor_type(a), a.id, a.name))
    if any(a.kind == "passkey" and a.active for a in authenticators):
        found.append(Factor("passkey", None, None))
    if await deps.storage.recovery_codes.get_hash(user.user_id) is not None and any(
        a.kind == "recovery-code" and a.active for a in authenticators
    ):
        found.append(Factor("recovery-code", None, None))
    rank = {name: i for i, name in enumerate(FACTOR_ORDER)}
    return sorted(found, key=lambda f: rank.get(f.type, len(rank)))


async def _send(deps: Deps, tx: Transaction, factor: Factor) -> Transaction:
    params = {
        "mfa_token": tx.mfa_token or "",
        "challenge_type": "oob",
        "authenticator_id": factor.authenticator_id or "",
    }
    try:
        answer = await mfa_challenge.challenge_as(deps, LOGIN_CLIENT, params)
    except (ExpiredToken, InvalidToken):
        raise transactions.Stale(tx) from None
    except TooManyAttempts:
        raise PageError("too-many-sends") from None
    except OAuthError:
        raise PageError("send-failed") from None
    return await transactions.advance(
        deps, tx, factor=factor.type, oob_code=str(answer.get("oob_code") or "")
    )


async def choose(deps: Deps, tx: Transaction, factor_type: str) -> Transaction:
    if tx.step != "mfa":
        raise transactions.Stale(tx)
    if factor_type not in FACTOR_ORDER:
        raise PageError("unknown-factor")
    return await transactions.advance(deps, tx, factor=factor_type, oob_code=None)


async def resend(deps: Deps, tx: Transaction) -> Transaction:
    return await transactions.advance(deps, tx, oob_code=None)


async def code(
    deps: Deps, tx: Transaction, entered: str, remember: bool, ip: str | None, cookies: Cookies
) -> Outcome:
    """A code typed on the MFA page, for the factor it shows."""
    if tx.step != "mfa":
        raise transactions.Stale(tx)
    entered = "".join(entered.split())[:64]
    if not entered:
        raise PageError("code-required")
    factor = tx.factor
    if factor is None:
        user = await _user(deps, tx)
        factors = await _factors(deps, user)
        factor = factors[0].type if factors else None
    if factor not in CODE_FACTORS:
        raise PageError("unknown-factor")
    base = {"mfa_token": tx.mfa_token or ""}
    if factor == "otp":
        params = {**base, "grant_type": GRANT_MFA_OTP, "otp": entered}
    elif factor == "recovery-code":
        params = {**base, "grant_type": GRANT_MFA_RECOVERY_CODE, "recovery_code": entered}
    else:
        if not tx.oob_code:
            raise PageError("send-failed")
        params = {
            **base,
            "grant_type": GRANT_MFA_OOB,
            "oob_code": tx.oob_code,
            "binding_code": entered,
        }
    tokens = await _grant(deps, tx, params, ip, failure="wrong-code")
    tx = await transactions.advance(deps, tx, remember=remember)
    amr = ("mfa", FACTOR_AMR[factor])
    if tokens.recovery_code:
        # The old code is spent; the new one is shown once before the app gets its answer.
        tx = await transactions.advance(
            deps,
            tx,
            step="recovery",
            recovery_code=tokens.recovery_code,
            amr=_merged(tx.amr, amr),
            mfa_ran=True,
        )
        return Outcome(page=flow.page_path("mfa", tx))
    return await _second_factor_done(deps, tx, amr, cookies)


async def poll(deps: Deps, tx: Transaction, ip: str | None) -> Transaction | None:
    """The MFA page's push poll: the approved transaction, or None while the device has not
    answered. Approval spends the oob_code, so it is recorded on the transaction, and the
    page's next form post finishes it (`approved`)."""
    if tx.step == "approved":
        return tx
    if tx.step != "mfa" or tx.factor != "push" or not tx.oob_code:
        raise transactions.Stale(tx)
    params = {"mfa_token": tx.mfa_token or "", "grant_type": GRANT_MFA_OOB, "oob_code": tx.oob_code}
    try:
        await _grant(deps, tx, params, ip, failure="push-rejected")
    except _Pending:
        return None
    amr = _merged(tx.amr, ("mfa", FACTOR_AMR["push"]))
    return await transactions.advance(deps, tx, step="approved", amr=amr, mfa_ran=True)


async def approved(deps: Deps, tx: Transaction, cookies: Cookies) -> Outcome:
    if tx.step != "approved":
        raise transactions.Stale(tx)
    return await flow.finish(deps, tx, cookies)


async def recovery_shown(deps: Deps, tx: Transaction, cookies: Cookies) -> Outcome:
    """The user saw the new recovery code: finish."""
    if tx.step != "recovery":
        raise transactions.Stale(tx)
    return await flow.finish(deps, tx, cookies)


def _merged(amr: Sequence[str], more: Sequence[str]) -> tuple[str, ...]:
    merged = list(amr)
    merged += [m for m in more if m not in merged]
    return tuple(merged)


async def _second_factor_done(
    deps: Deps, tx: Transaction, amr: Sequence[str], cookies: Cookies
) -> Outcome:
    tx = await transactions.advance(deps, tx, amr=_merged(tx.amr, amr), mfa_ran=True)
    return await flow.finish(deps, tx, cookies)


class _Pending(Exception):
    pass


async def _grant(
    deps: Deps, tx: Transaction, params: Mapping[str, str], ip: str | None, *, failure: str
) -> TokenSet:
    """One grant as the login client; its refusals become page errors or a restart."""
    try:
        return await registry.exchange_as(deps, params, LOGIN_CLIENT, ip)
    except (AuthorizationPending, SlowDown):
        raise _Pending() from None
    except UserBlocked:
        raise PageError("blocked") from None
    except TooManyAttempts:
        raise PageError("too-many-attempts") from None
    except (ExpiredToken, InvalidToken):
        raise transactions.Stale(tx) from None
    except OAuthError as refused:
        if "mfa_token" in refused.description:
            # The mfa_token ran out (or was spent by a concurrent step): start the step again.
            raise transactions.Stale(tx) from None
        raise PageError(failure) from None


# ----- first enrolment


@dataclass(frozen=True, slots=True)
class EnrolView:
    secret: str | None
    uri: str | None
    recovery_code: str | None


async def enrol_view(deps: Deps, tx: Transaction) -> EnrolView:
    """A user with no factor yet enrols TOTP first: the secret is made once per transaction."""
    if tx.step == "recovery":
        return EnrolView(None, None, tx.recovery_code)
    if tx.step != "enroll":
        raise transactions.Stale(tx)
    if tx.totp_secret is None:
        try:
            principal = await bearer.from_bearer(deps, f"Bearer {tx.mfa_token or ''}")
            answer = await associate.associate(deps, principal, {"authenticator_types": ["otp"]})
        except (ExpiredToken, InvalidToken):
            raise transactions.Stale(tx) from None
        except TooManyAttempts:
            raise PageError("too-many-attempts") from None
        except OAuthError:
            raise PageError("enrol-failed") from None
        codes = answer.get("recovery_codes") or [None]
        tx = await transactions.advance(
            deps,
            tx,
            totp_secret=str(answer["secret"]),
            totp_uri=str(answer["barcode_uri"]),
            recovery_code=codes[0],
        )
    return EnrolView(tx.totp_secret, tx.totp_uri, None)


async def enrol(
    deps: Deps, tx: Transaction, entered: str, ip: str | None, cookies: Cookies
) -> Outcome:
    """The first TOTP code confirms the enrolment (the mfa-otp grant does, as on the MFA API)."""
    if tx.step != "enroll" or tx.totp_secret is None:
        raise transactions.Stale(tx)
    entered = "".join(entered.split())[:16]
    if not entered:
        raise PageError("code-required")
    params = {"mfa_token": tx.mfa_token or "", "grant_type": GRANT_MFA_OTP, "otp": entered}
    await _grant(deps, tx, params, ip, failure="wrong-code")
    amr = _merged(tx.amr, ("mfa", "otp"))
    if tx.recovery_code:
        tx = await transactions.advance(
            deps, tx, step="recovery", amr=amr, mfa_ran=True, totp_secret=None
        )
        return Outcome(page=f"/u/mfa-enroll?state={tx.id}")
    tx = await transactions.advance(deps, tx, amr=amr, mfa_ran=True)
    return await flow.finish(deps, tx, cookies)


# ----- a passkey as the first enrolment


def _caller(user: User) -> Caller:
    # The enrolment runs as the My Account API runs it, for the login client: the same room
    # per kind, the same allowance, the same attestation checks and one try per session.
    return Caller(user=user, client_id=LOGIN_CLIENT_ID, scopes=frozenset())


async def passkey_enrol_options(deps: Deps, tx: Transaction) -> dict[str, Any]:
    if tx.step != "enroll":
        raise transactions.Stale(tx)
    user = await _user(deps, tx)
    stored = await deps.storage.authenticators.list_for_user(user.user_id)
    try:
        started = await my_account_passkeys.start(deps, _caller(user), stored)
    except (Problem, TooManyRequests):
        raise PageError("enrol-failed") from None
    await transactions.advance(deps, tx, passkey_method=str(started.pop("id")))
    return started


async def passkey_enrol(
    deps: Deps, tx: Transaction, auth_session: str, response: Mapping[str, Any], cookies: Cookies
) -> Outcome:
    if tx.step != "enroll" or tx.passkey_method is None:
        raise transactions.Stale(tx)
    user = await _user(deps, tx)
    try:
        await my_account_passkeys.verify(
            deps, _caller(user), tx.passkey_method, auth_session, response
        )
    except Problem:
        raise PageError("passkey-failed") from None
    held = await deps.storage.passkeys.list_for_user(user.user_id)
    synced = any(c.backup_eligible for c in held if c.authenticator_id == tx.passkey_method)
    amr = ("swk" if synced else "hwk", "mfa")
    # A passkey is its own way back in: no recovery code is shown for it.
    return await _second_factor_done(deps, tx, amr, cookies)

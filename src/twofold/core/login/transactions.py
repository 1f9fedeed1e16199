"""A login transaction: one `/authorize` request on its way through the hosted pages.

Every `/authorize` that needs a page starts its own transaction, so each browser tab signs in
on its own. The pages carry only the transaction's id (`?state=`); the rest stays on the
server, in the state store (so any node serves any step), encrypted with the tenant's key ring
because it holds an mfa_token and, for a moment, a new recovery code or TOTP secret.

A transaction is bound to the browser that started it: its `browser` is the digest of a cookie
the login pages set, and every step checks it, so a transaction id leaked or planted through a
link is useless in another browser (no login CSRF). Each form also carries the transaction's
`csrf` value.

Steps run for `STEP_LIFETIME` seconds. After that, or once the transaction has answered the
app, a page asked for it again restarts the original `/authorize` request instead of
dead-ending: the record is kept `RESTART_LIFETIME` seconds for that.
"""

from __future__ import annotations

import hmac
import json
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

from twofold.core.crypto import DecryptionError
from twofold.core.deps import Deps
from twofold.core.ids import digest, opaque_token
from twofold.core.login.request import AuthorizeRequest

STEP_LIFETIME = 1800
RESTART_LIFETIME = 86_400
_ID_LENGTH = 43

Step = Literal["login", "mfa", "enroll", "recovery", "approved", "done"]


@dataclass(frozen=True, slots=True)
class Transaction:
    id: str
    request: AuthorizeRequest
    browser: str
    csrf: str
    created_at: float
    step: Step = "login"
    user_id: str | None = None
    auth_time: int | None = None
    amr: tuple[str, ...] = ()
    # The SSO session a step-up continues (None: a new session starts at the end).
    sid: str | None = None
    # The built-in login client's mfa_token, through which the MFA step runs the MFA grants.
    mfa_token: str | None = None
    # The factor the MFA page offers now, and its pending out-of-band code (email, push).
    factor: str | None = None
    oob_code: str | None = None
    # A first enrolment: the TOTP secret and its otpauth URI, and the recovery code to show once.
    totp_secret: str | None = None
    totp_uri: str | None = None
    recovery_code: str | None = None
    # The authenticator id a passkey enrolment started on the enrolment page will take.
    passkey_method: str | None = None
    remember: bool = False
    mfa_ran: bool = False

    def to_json(self) -> str:
        data = asdict(self)
        data["request"] = self.request.to_json()
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str) -> Transaction:
        data = json.loads(raw)
        data["request"] = AuthorizeRequest.from_json(data["request"])
        data["amr"] = tuple(data["amr"])
        return cls(**data)


class Gone(LookupError):
    """The transaction is unknown, or belongs to another browser: nothing to restart."""


class Stale(Exception):
    """The transaction has finished or run out of time: restart its authorize request."""

    def __init__(self, transaction: Transaction) -> None:
        super().__init__("stale login transaction")
        self.transaction = transaction


def _key(tx_id: str) -> str:
    return "login-tx:" + digest(tx_id, "login-transaction")


def browser_digest(cookie: str) -> str:
    return digest(cookie, "login-browser")


def new_browser_cookie() -> str:
    return opaque_token(32)


async def start(deps: Deps, request: AuthorizeRequest, browser_cookie: str) -> Transaction:
    tx = Transaction(
        id=opaque_token(32),
        request=request,
        browser=browser_digest(browser_cookie),
        csrf=opaque_token(24),
        created_at=deps.clock.now(),
    )
    await save(deps, tx)
    return tx


async def save(deps: Deps, tx: Transaction) -> None:
    sealed = deps.keyring.encrypt(tx.to_json().encode(), _key(tx.id))
    await deps.state.put(_key(tx.id), sealed, ttl=RESTART_LIFETIME)


async def load(deps: Deps, tx_id: str | None, browser_cookie: str | None) -> Transaction:
    """The live transaction; Gone, or Stale for one to restart."""
    if not tx_id or len(tx_id) > _ID_LENGTH + 8 or not browser_cookie:
        raise Gone()
    sealed = await deps.state.get(_key(tx_id))
    if sealed is None:
        raise Gone()
    try:
        tx = Transaction.from_json(deps.keyring.decrypt(sealed, _key(tx_id)).decode())
    except (DecryptionError, ValueError, TypeError, KeyError):
        raise Gone() from None
    if not hmac.compare_digest(tx.browser, browser_digest(browser_cookie)):
        raise Gone()
    if tx.step == "done" or deps.clock.now() - tx.created_at > STEP_LIFETIME:
        raise Stale(tx)
    return tx


def check_csrf(tx: Transaction, presented: str | None) -> bool:
    return presented is not None and hmac.compare_digest(tx.csrf, presented)


async def advance(deps: Deps, tx: Transaction, **changes: Any) -> Transaction:
    tx = replace(tx, **changes)
    await save(deps, tx)
    return tx


async def finish(deps: Deps, tx: Transaction) -> bool:
    """Mark the transaction answered. Of two requests finishing it at once (a double submit,
    two tabs sharing it), one wins: the other restarts."""
    done = replace(tx, step="done", mfa_token=None, totp_secret=None, recovery_code=None)
    marker = "login-tx-done:" + digest(tx.id, "login-transaction")
    claimed = await deps.state.add(marker, "1", ttl=STEP_LIFETIME)
    if claimed:
        await save(deps, done)
    return claimed

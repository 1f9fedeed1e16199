"""The `auth_session` of a TOTP or recovery-code enrolment started through the My Account API.

What it stands for (whose enrolment, of which method, and for a recovery code the hash of the
new code, not yet in force) is a short-lived StateStore record keyed by a hash of the session:
the session itself is a bearer secret and is never stored. It is spent by one atomic `consume`,
in the same unit of work as the confirmation, so it confirms once. (A phone, email or push
enrolment's auth_session is its `oob_code`; a passkey's is the WebAuthn ceremony's own.)
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from twofold.core.deps import Deps
from twofold.core.ids import digest, opaque_token

_KEY_PREFIX = "myaccount:enrolment:"
MAX_SESSION_CHARS = 512
INVALID_SESSION = "Invalid or expired auth_session"


@dataclass(frozen=True, slots=True)
class Pending:
    """One user's enrolment of one method, until it is verified or expires."""

    user_id: str
    method_id: str
    expires_at: float
    # A recovery code's enrolment: the hash of the code shown, in force once verified.
    code_hash: str | None = None


def _key(auth_session: str) -> str:
    return _KEY_PREFIX + digest(auth_session, "my-account-enrolment")


async def open_session(deps: Deps, pending: Pending) -> str:
    auth_session = opaque_token(32)
    ttl = max(1.0, pending.expires_at - deps.clock.now())
    await deps.state.put(_key(auth_session), json.dumps(asdict(pending)), ttl)
    return auth_session


async def read(deps: Deps, auth_session: str) -> Pending | None:
    """The live enrolment behind an auth_session (read only), or None."""
    if not auth_session or len(auth_session) > MAX_SESSION_CHARS:
        return None
    raw = await deps.state.get(_key(auth_session))
    if raw is None:
        return None
    try:
        pending = Pending(**json.loads(raw))
    except (ValueError, TypeError):
        return None
    return pending if pending.expires_at > deps.clock.now() else None


async def spend(deps: Deps, auth_session: str) -> bool:
    """True for exactly one of any number of concurrent callers."""
    return await deps.state.consume(_key(auth_session)) is not None

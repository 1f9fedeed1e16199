"""The `auth_session` of a TOTP or recovery-code enrolment started through the My Account API.

What it stands for (whose enrolment, of which method, and for a recovery code the hash of the
new code, not yet in force) is a short-lived StateStore record keyed by a hash of the session:
the session itself is a bearer secret and is never stored. It is spent by one atomic `consume`,
in the same unit of work as the confirmation, so it confirms once. (A phone, email or push
enrolment's auth_session is its `oob_code`; a passkey's is the WebAuthn ceremony's own.)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from twofold.core import secret_records
from twofold.core.deps import Deps

ENROLMENTS = secret_records.Family("myaccount:enrolment:", "my-account-enrolment")
MAX_SESSION_CHARS = secret_records.MAX_SECRET_CHARS
INVALID_SESSION = "Invalid or expired auth_session"


# One user's enrolment of one method, until it is verified or expires.
@dataclass(frozen=True)
class Pending:
    user_id: str
    method_id: str
    expires_at: float
    # A recovery code's enrolment: the hash of the code shown, in force once verified.
    code_hash: str | None = None


async def open_session(deps: Deps, pending: Pending) -> str:
    ttl = max(1.0, pending.expires_at - deps.clock.now())
    return await secret_records.open_record(deps, ENROLMENTS, asdict(pending), ttl)


async def read(deps: Deps, auth_session: str) -> Pending | None:
    """The live enrolment behind an auth_session (read only), or None."""
    return await secret_records.read_record(deps, ENROLMENTS, auth_session, Pending)


async def spend(deps: Deps, auth_session: str) -> bool:
    """True for exactly one of any number of concurrent callers."""
    return await secret_records.spend(deps, ENROLMENTS, auth_session)

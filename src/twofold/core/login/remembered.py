"""Remembered browsers: "remember this browser" on the MFA page, so that the next sign-ins of that
user in that browser skip the second factor.

Remembering makes a 256-bit random cookie value; the state store keeps, under its digest, whom it
remembers and since when. A browser is recognised for a user when its record names that user and
was made after the user's `remember_browser_invalidated_at` (the Management API's
`invalidate-remember-browser` sets it, which forgets every browser of the user at once without
finding them). A record lives `idle` seconds past its last recognition (7 days unless set) and
`absolute` seconds after it was made (30 days); recognising it renews the idle limit, rewriting
the record at most once an hour (lifetimes.py).

Whether the user may sign in at all (blocked, deleted) is the sign-in flow's question, not this
module's.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace

from twofold.core.clock import Clock
from twofold.core.deps import Deps
from twofold.core.ids import digest, opaque_token
from twofold.core.login.lifetimes import Sliding
from twofold.core.models import User
from twofold.core.ports import StateStore

# A browser is recognised once per sign-in at most, so hourly renewal costs next to nothing.
REWRITE_AFTER = 3600.0
PREFIX = "mfa-remember:"
PURPOSE = "mfa_remember_browser_cookie"
COOKIE_BYTES = 32
MAX_COOKIE_CHARS = 512


@dataclass(frozen=True, slots=True)
class _Record:
    user_id: str
    created_at: float
    last_seen: float

    def encode(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def decode(cls, raw: str | None) -> _Record | None:
        if raw is None:
            return None
        try:
            data = json.loads(raw)
            return cls(str(data["user_id"]), float(data["created_at"]), float(data["last_seen"]))
        except (ValueError, TypeError, KeyError):
            return None


class RememberedBrowsers:
    def __init__(
        self,
        state: StateStore,
        clock: Clock,
        *,
        idle: float,
        absolute: float,
        rewrite_after: float = REWRITE_AFTER,
    ) -> None:
        self._state = state
        self._clock = clock
        self.lifetimes = Sliding(idle, absolute, rewrite_after)

    async def remember(self, user_id: str) -> str:
        """Remember this browser for the user; the cookie value that stands for it."""
        cookie = opaque_token(COOKIE_BYTES)
        now = self._clock.now()
        record = _Record(user_id, now, now)
        await self._state.put(_key(cookie), record.encode(), self.lifetimes.ttl(now, now, now))
        return cookie

    async def recognised(self, cookie: str | None, user: User) -> bool:
        """Whether the cookie remembers this browser for this user, still."""
        if not cookie or len(cookie) > MAX_COOKIE_CHARS:
            return False
        key = _key(cookie)
        raw = await self._state.get(key)
        record = _Record.decode(raw)
        now = self._clock.now()
        if record is None or record.user_id != user.user_id:
            # Another user's remembered browser stays theirs.
            return False
        forgotten = user.remember_browser_invalidated_at
        if forgotten is not None and record.created_at <= forgotten:
            await self._state.delete(key)  # never recognised again: no need to keep it
            return False
        if not self.lifetimes.live(record.created_at, record.last_seen, now):
            return False
        if self.lifetimes.due(record.last_seen, now):
            seen = replace(record, last_seen=now)
            ttl = self.lifetimes.ttl(seen.created_at, seen.last_seen, now)
            # Lost to a concurrent renewal or forgetting: either way this answer stands.
            await self._state.cas(key, raw, seen.encode(), ttl)
        return True

    async def forget(self, cookie: str | None) -> None:
        """Forget what the cookie remembers (before remembering the browser for another user,
        say); nothing remembered is no error."""
        if cookie and len(cookie) <= MAX_COOKIE_CHARS:
            await self._state.delete(_key(cookie))


def remembered_browsers(deps: Deps) -> RememberedBrowsers:
    """The remembered browsers under the operator's lifetimes (Policy)."""
    return RememberedBrowsers(
        deps.state,
        deps.clock,
        idle=deps.policy.remember_browser_idle,
        absolute=deps.policy.remember_browser_lifetime,
    )


def _key(cookie: str) -> str:
    return PREFIX + digest(cookie, PURPOSE)

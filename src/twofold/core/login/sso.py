"""The SSO session on the state store, so that every node sees the same sessions.

Two random values, never derived from each other:

- the cookie value, a 256-bit bearer secret only the browser holds. The store keys the record
  by its digest, so the store's contents open no session;
- the `sid`, public (ID tokens' `sid` claim, `logout_hint`). It keys a small entry pointing at
  the record, which is how `end` and `add_methods` find a session from a `BrowserSession`; a
  `sid` alone reaches nothing a browser could present.

A session lives `idle` seconds past its last use and `absolute` seconds at most after sign-in
(Auth0's tenant defaults: 3 days and 7 days). Using it (`current`) renews the idle limit, but
rewrites the record only when it was last written about a minute ago or more (lifetimes.py),
never per request; the rewrite is a compare-and-set, so it cannot bring back a session that
another node ended meanwhile.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace

from twofold.core.clock import Clock
from twofold.core.ids import digest, opaque_token
from twofold.core.login.lifetimes import Sliding
from twofold.core.ports import StateStore
from twofold.core.sessions import BrowserSession, SessionEnded

REWRITE_AFTER = 60.0
RECORD_PREFIX = "sso:"
SID_PREFIX = "sso-sid:"
PURPOSE = "sso_session_cookie"
# 256 bits: the cookie is the session; a stored digest of it cannot be brute-forced back.
COOKIE_BYTES = 32
# 192 bits: public, but unguessable all the same, so one cannot be made up to collide.
SID_BYTES = 24
# Longer cookie values are not ours (ours are 43 characters); refused before hashing.
MAX_COOKIE_CHARS = 512
# Concurrent writes to one session (two tabs stepping up at once) retry this often.
MAX_WRITE_TRIES = 8


@dataclass(frozen=True, slots=True)
class _Record:
    sid: str
    user_id: str
    auth_time: int
    amr: tuple[str, ...]
    created_at: float
    last_seen: float
    # The absolute limit as configured at sign-in, which the sid pointer lives until: a later,
    # longer limit applies to new sessions only, and a shorter one to every session.
    ends_by: float

    def encode(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def decode(cls, raw: str | None) -> _Record | None:
        if raw is None:
            return None
        try:
            data = json.loads(raw)
            record = cls(
                sid=str(data["sid"]),
                user_id=str(data["user_id"]),
                auth_time=int(data["auth_time"]),
                amr=tuple(str(m) for m in data["amr"]),
                created_at=float(data["created_at"]),
                last_seen=float(data["last_seen"]),
                ends_by=float(data["ends_by"]),
            )
        except (ValueError, TypeError, KeyError):
            # Not a record this module wrote: no session, rather than an error page.
            return None
        return record

    def session(self) -> BrowserSession:
        return BrowserSession(self.sid, self.user_id, self.auth_time, self.amr)


def merged(first: tuple[str, ...], then: tuple[str, ...]) -> tuple[str, ...]:
    """`first` followed by what `then` adds to it, each method once, in order of first use."""
    return tuple(dict.fromkeys((*first, *then)))


class SsoSessions:
    """`BrowserSessions` on a `StateStore`; the composition root builds one per process."""

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

    async def start(
        self, user_id: str, auth_time: int, amr: tuple[str, ...]
    ) -> tuple[str, BrowserSession]:
        cookie, sid = opaque_token(COOKIE_BYTES), opaque_token(SID_BYTES)
        now = self._clock.now()
        ends_by = now + self.lifetimes.absolute
        record = _Record(sid, user_id, auth_time, merged(amr, ()), now, now, ends_by)
        key_digest = digest(cookie, PURPOSE)
        # The pointer first: a record is never left that `end` could not find. It lives as long
        # as the record can; one left behind by a failed start points at nothing.
        await self._state.put(SID_PREFIX + sid, key_digest, ends_by - now)
        await self._state.put(RECORD_PREFIX + key_digest, record.encode(), self._ttl(record, now))
        return cookie, record.session()

    async def current(self, cookie: str | None) -> BrowserSession | None:
        if not cookie or len(cookie) > MAX_COOKIE_CHARS:
            return None
        key = RECORD_PREFIX + digest(cookie, PURPOSE)
        raw = await self._state.get(key)
        record = self._live(raw)
        if record is None:
            return None
        now = self._clock.now()
        if self.lifetimes.due(record.last_seen, now):
            seen = replace(record, last_seen=now)
            if await self._state.cas(key, raw, seen.encode(), self._ttl(seen, now)):
                return seen.session()
            # Another node renewed or changed it, or ended it: the store has the last word.
            record = self._live(await self._state.get(key))
        return record.session() if record is not None else None

    async def end(self, session: BrowserSession) -> None:
        pointer = SID_PREFIX + session.sid
        key_digest = await self._state.get(pointer)
        if key_digest is None:
            return  # ended (or expired) already
        # The record before the pointer: should this stop halfway, a retry still finds it.
        await self._state.delete(RECORD_PREFIX + key_digest)
        await self._state.delete(pointer)

    async def add_methods(self, session: BrowserSession, amr: tuple[str, ...]) -> BrowserSession:
        key_digest = await self._state.get(SID_PREFIX + session.sid)
        if key_digest is None:
            raise SessionEnded(session.sid)
        key = RECORD_PREFIX + key_digest
        for _ in range(MAX_WRITE_TRIES):
            raw = await self._state.get(key)
            record = self._live(raw)
            if record is None or record.sid != session.sid:
                raise SessionEnded(session.sid)
            now = self._clock.now()
            updated = replace(record, amr=merged(record.amr, amr), last_seen=now)
            if updated.amr == record.amr and not self.lifetimes.due(record.last_seen, now):
                return record.session()  # nothing new to record
            if await self._state.cas(key, raw, updated.encode(), self._ttl(updated, now)):
                return updated.session()
        raise RuntimeError("the session kept changing while its methods were recorded")

    def _live(self, raw: str | None) -> _Record | None:
        record = _Record.decode(raw)
        if record is None:
            return None
        # The store's expiry was set under the lifetimes of the time; today's apply too.
        return record if self._ttl(record, self._clock.now()) > 0 else None

    def _ttl(self, record: _Record, now: float) -> float:
        return min(
            self.lifetimes.ttl(record.created_at, record.last_seen, now), record.ends_by - now
        )

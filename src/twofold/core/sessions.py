"""The browser's single sign-on session: the interface the hosted login and logout use.

The hosted login keeps an SSO session behind a cookie: `/authorize` answers from it
(`prompt=none`, a second app's login), and logging out (`/v2/logout`, `/oidc/logout`) ends the
one the browser carries. `core/login/sso.py` implements it on the state store.
`NoBrowserSessions` stands in where no session may exist (unit tests of logout): no browser has
one, so logout ends nothing on the server and only validates and redirects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class SessionEnded(LookupError):
    """The session ended (logged out, expired) before it could be changed."""


@dataclass(frozen=True, slots=True)
class BrowserSession:
    # The session id, as the ID token's `sid` claim and `logout_hint` carry it.
    sid: str
    user_id: str
    # When the user last entered a password or used a passkey in this session.
    auth_time: int = 0
    # The methods used in this session so far, e.g. ("pwd",) then ("pwd", "mfa", "otp").
    amr: tuple[str, ...] = ()


class BrowserSessions(Protocol):
    async def current(self, cookie: str | None) -> BrowserSession | None:
        """The live session the session cookie's value stands for, or None."""
        ...

    async def end(self, session: BrowserSession) -> None:
        """End the session on every node; a session already ended is no error."""
        ...

    async def start(
        self, user_id: str, auth_time: int, amr: tuple[str, ...]
    ) -> tuple[str, BrowserSession]:
        """A new session; answers the cookie value that stands for it, and the session."""
        ...

    async def add_methods(self, session: BrowserSession, amr: tuple[str, ...]) -> BrowserSession:
        """Record methods used later in the session (a step-up's second factor); the session
        as it now is. SessionEnded when it ended meanwhile (the browser must sign in again)."""
        ...


class NoBrowserSessions:
    async def current(self, cookie: str | None) -> BrowserSession | None:
        return None

    async def end(self, session: BrowserSession) -> None:
        return None

    async def start(
        self, user_id: str, auth_time: int, amr: tuple[str, ...]
    ) -> tuple[str, BrowserSession]:
        raise NotImplementedError("no browser sessions are kept here")

    async def add_methods(self, session: BrowserSession, amr: tuple[str, ...]) -> BrowserSession:
        raise NotImplementedError("no browser sessions are kept here")

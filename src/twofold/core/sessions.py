"""The browser's single sign-on session, as logout sees it.

The hosted login will keep an SSO session behind a cookie; logging out (`/v2/logout`,
`/oidc/logout`) ends the one the browser carries. This is the narrow interface the session
module implements. Until it exists, `NoBrowserSessions` stands in: no browser has a session,
so logout ends nothing on the server and only validates and redirects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class BrowserSession:
    # The session id, as the ID token's `sid` claim and `logout_hint` carry it.
    sid: str
    user_id: str


class BrowserSessions(Protocol):
    async def current(self, cookie: str | None) -> BrowserSession | None:
        """The live session the session cookie's value stands for, or None."""
        ...

    async def end(self, session: BrowserSession) -> None:
        """End the session on every node; a session already ended is no error."""
        ...


class NoBrowserSessions:
    async def current(self, cookie: str | None) -> BrowserSession | None:
        return None

    async def end(self, session: BrowserSession) -> None:
        return None

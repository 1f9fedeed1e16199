"""The hosted login's cookies, as data the web layer turns into `Set-Cookie` headers.

- `twofold_session`, the SSO session (sso.py): `SameSite=None`, because the session must also
  reach `/authorize` loaded in an iframe of the app's site (silent authentication with
  `prompt=none`), which `Lax` would not send it to. It lasts as long as the session can.
- `twofold_mfa_remember`, the remembered browser (remembered.py): `SameSite=Lax`; it is read on
  our own login pages and on top-level navigations to them only. It lasts as long as the
  remembering can.

Both are `HttpOnly` (no script reads them) and host-only (no `Domain`) at path `/`.

Browsers refuse `SameSite=None` without `Secure`, and a `Secure` cookie set over plain HTTP.
When the issuer is `http://` (development only: production refuses it) both cookies are
therefore sent without `Secure` and with `SameSite=Lax`: sign-in and logout by redirects work,
silent authentication from another site does not. The issuer's scheme decides, not whether
this process terminates TLS: behind a TLS proxy the browser still sees https.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from twofold.core.deps import Policy

SESSION_COOKIE = "twofold_session"
REMEMBER_COOKIE = "twofold_mfa_remember"


@dataclass(frozen=True, slots=True)
class CookieSpec:
    name: str
    # Seconds the browser keeps it (`Max-Age`).
    max_age: int
    secure: bool
    # Lower case, as `Set-Cookie` writers take it.
    same_site: Literal["none", "lax", "strict"]
    http_only: bool = True
    path: str = "/"


@dataclass(frozen=True, slots=True)
class LoginCookies:
    session: CookieSpec
    remember: CookieSpec


def login_cookies(issuer: str, policy: Policy) -> LoginCookies:
    """The cookies for this issuer (its scheme) and the operator's lifetimes."""
    secure = issuer.startswith("https://")
    return LoginCookies(
        session=CookieSpec(
            SESSION_COOKIE,
            max_age=policy.session_absolute_lifetime,
            secure=secure,
            same_site="none" if secure else "lax",
        ),
        remember=CookieSpec(
            REMEMBER_COOKIE,
            max_age=policy.remember_browser_lifetime,
            secure=secure,
            same_site="lax",
        ),
    )

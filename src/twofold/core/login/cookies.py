"""The hosted login's cookies, as data the web layer turns into `Set-Cookie` headers.

- `twofold_session`, the SSO session (sso.py): `SameSite=None`, because the session must also
  reach `/authorize` loaded in an iframe of the app's site (silent authentication with
  `prompt=none`), which `Lax` would not send it to. It lasts as long as the session can.
- `twofold_mfa_remember`, the remembered browser (remembered.py): `SameSite=None` too. A user
  who skipped the second factor on a remembered browser has a session without it; the silent
  authentication in the app's iframe must see the same cookie to skip it again, or it would
  answer "Multifactor authentication required" where the redirect does not. It lasts as long
  as the remembering can.
- `twofold_browser`, which binds a login transaction to the browser that started it
  (transactions.py): `SameSite=Lax`, since only top-level navigations and our own pages' forms
  need it. It carries no authority by itself.

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
BROWSER_COOKIE = "twofold_browser"
# Browsers cap cookie lifetimes at 400 days.
BROWSER_COOKIE_LIFETIME = 400 * 86_400


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
    browser: CookieSpec


def login_cookies(issuer: str, policy: Policy) -> LoginCookies:
    """The cookies for this issuer (its scheme) and the operator's lifetimes."""
    secure = issuer.startswith("https://")
    cross_site: Literal["none", "lax"] = "none" if secure else "lax"
    return LoginCookies(
        session=CookieSpec(
            SESSION_COOKIE,
            max_age=policy.session_absolute_lifetime,
            secure=secure,
            same_site=cross_site,
        ),
        remember=CookieSpec(
            REMEMBER_COOKIE,
            max_age=policy.remember_browser_lifetime,
            secure=secure,
            same_site=cross_site,
        ),
        browser=CookieSpec(
            BROWSER_COOKIE, max_age=BROWSER_COOKIE_LIFETIME, secure=secure, same_site="lax"
        ),
    )

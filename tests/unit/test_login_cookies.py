"""The hosted login's cookies: names, attributes and lifetimes, over https and plain http."""

from __future__ import annotations

from twofold.core.deps import Policy
from twofold.core.login.cookies import CookieSpec, login_cookies

POLICY = Policy(session_absolute_lifetime=1000, remember_browser_lifetime=5000)


def test_over_https() -> None:
    cookies = login_cookies("https://auth.example.com/", POLICY)

    assert cookies.session == CookieSpec(
        "twofold_session", max_age=1000, secure=True, same_site="none", http_only=True, path="/"
    )
    assert cookies.remember == CookieSpec(
        "twofold_mfa_remember",
        max_age=5000,
        secure=True,
        same_site="none",
        http_only=True,
        path="/",
    )


def test_over_plain_http_nothing_is_secure_and_nothing_is_same_site_none() -> None:
    # Browsers drop SameSite=None without Secure, and Secure cookies over http.
    cookies = login_cookies("http://127.0.0.1:8080/", POLICY)

    for cookie in (cookies.session, cookies.remember):
        assert cookie.secure is False
        assert cookie.same_site == "lax"
        assert cookie.http_only is True
    assert (cookies.session.max_age, cookies.remember.max_age) == (1000, 5000)


def test_the_defaults_are_auth0_s() -> None:
    cookies = login_cookies("https://auth.example.com/", Policy())
    assert cookies.session.max_age == 7 * 86_400
    assert cookies.remember.max_age == 30 * 86_400

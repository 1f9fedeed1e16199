"""The URLs a client registers: callbacks, allowed logout URLs, web origins.

Each is matched exactly, character for character, as Auth0 matches them: a URL with another
query string, path or trailing slash is another URL. Wildcards (`https://*.example.com`) are
not supported. What may be registered:

- an absolute `https` URL, or `http` on `localhost` or `127.0.0.1` (development only);
- with a host, without user or password, without a fragment, without spaces or control
  characters, at most 2,048 characters;
- a web origin is scheme, host and port only; it is stored as browsers send the `Origin`
  header (lower case, without a default port or trailing slash), so that header can be
  compared with it directly.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

MAX_URL_LENGTH = 2048
MAX_URLS_PER_LIST = 100
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1"})
_DEFAULT_PORTS = {"https": 443, "http": 80}


class UrlRefused(ValueError):
    """A URL that cannot be registered; the message names it and says why."""


def _checked(url: str, what: str) -> tuple[str, str, int | None, str]:
    """scheme, host, port and the text after the authority of an acceptable URL."""
    if not url or len(url) > MAX_URL_LENGTH:
        raise UrlRefused(f"{what} {url[:80]!r}: empty or longer than {MAX_URL_LENGTH} characters")
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        raise UrlRefused(f"{what} {url[:80]!r}: contains spaces or control characters")
    if "*" in url:
        raise UrlRefused(f"{what} {url!r}: wildcards are not supported, register each URL")
    if "#" in url:
        raise UrlRefused(f"{what} {url!r}: a fragment (#…) is not allowed")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UrlRefused(f"{what} {url!r}: not a valid URL") from None
    host = parts.hostname or ""
    if parts.scheme not in _DEFAULT_PORTS or not host:
        raise UrlRefused(f"{what} {url!r}: must be an absolute https URL")
    if parts.scheme == "http" and host not in _LOCAL_HOSTS:
        raise UrlRefused(f"{what} {url!r}: http is allowed on localhost and 127.0.0.1 only")
    if parts.username is not None or parts.password is not None:
        raise UrlRefused(f"{what} {url!r}: must not carry a user or password")
    rest = parts.path + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, host, port, rest


def check_url(url: str, what: str = "URL") -> str:
    """A callback or logout URL as registered (unchanged), or UrlRefused."""
    _checked(url, what)
    return url


def normalize_origin(origin: str) -> str:
    """A web origin in the form browsers send it, or UrlRefused."""
    scheme, host, port, rest = _checked(origin, "web origin")
    if rest not in ("", "/"):
        raise UrlRefused(f"web origin {origin!r}: an origin has no path or query")
    default = _DEFAULT_PORTS[scheme]
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}" + ("" if port in (None, default) else f":{port}")


def url_list(urls: Iterable[str], what: str) -> tuple[str, ...]:
    """Callbacks or logout URLs, checked, each once, in the operator's order."""
    checked = tuple(dict.fromkeys(check_url(u, what) for u in urls))
    return _capped(checked, what)


def origin_list(origins: Iterable[str]) -> tuple[str, ...]:
    checked = tuple(dict.fromkeys(normalize_origin(o) for o in origins))
    return _capped(checked, "web origin")


def _capped(urls: tuple[str, ...], what: str) -> tuple[str, ...]:
    if len(urls) > MAX_URLS_PER_LIST:
        raise UrlRefused(f"at most {MAX_URLS_PER_LIST} of each list ({what})")
    return urls

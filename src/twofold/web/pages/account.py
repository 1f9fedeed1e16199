"""GET /account: the self-service security page, its static files and the headers that keep it
to itself.

The page is one HTML document; `static/account.js` does the rest against the page's sign-in
endpoints (`account_api.py`) and the My Account API, holding the access token in memory only
(no cookie, no storage: a reload signs the user out). The Content-Security-Policy allows
scripts, styles and connections from this origin only: no inline script or style, no framing.
"""

from __future__ import annotations

import hashlib
from importlib import resources

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from twofold.web.errors import NO_STORE
from twofold.web.pages import account_api

PACKAGE = "twofold.web.pages"
STATIC_PATH = "/account/static"
STATIC_FILES = ("account.js", "account.css")

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        # The TOTP QR code is an SVG the script fetches and shows through a blob: URL.
        "img-src 'self' blob:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
PAGE_HEADERS = {
    **NO_STORE,
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}

_templates = Jinja2Templates(
    env=Environment(
        loader=PackageLoader(PACKAGE, "templates"),
        autoescape=select_autoescape(default=True),
        auto_reload=False,
    )
)


def _fingerprint(name: str) -> str:
    """A short hash of a static file: its URL changes with its content, so a cached old script
    never meets a new page."""
    data = resources.files(PACKAGE).joinpath("static", name).read_bytes()
    return hashlib.sha256(data).hexdigest()[:12]


_VERSIONS = {name: _fingerprint(name) for name in STATIC_FILES}


def static_url(name: str) -> str:
    return f"{STATIC_PATH}/{name}?v={_VERSIONS[name]}"


async def page(request: Request) -> Response:
    return _templates.TemplateResponse(
        request,
        "account.html",
        {"script": static_url("account.js"), "style": static_url("account.css")},
        headers=PAGE_HEADERS,
    )


ROUTES: list[BaseRoute] = [
    Route("/account", page, methods=["GET"]),
    Mount(STATIC_PATH, app=StaticFiles(packages=[(PACKAGE, "static")]), name="account-static"),
    *account_api.ROUTES,
]

"""Rendering the hosted login: the answer to the app in its response mode, the pages' headers
and cookies.

- `query` and `fragment` redirect (302 from `/authorize`, 303 after a form).
- `form_post` is a page whose form the browser posts to the redirect URI; a script of ours
  submits it (no inline script anywhere, so the CSP allows scripts from this origin only).
- `web_message` is a page that posts `{type: "authorization_response", response}` to the window
  that opened or framed it, at the redirect URI's origin only. Only that answer may be framed,
  and only by the application's registered web origins.

Every page's `form-action` allows this origin and the redirect URI's: Chromium applies it to the
redirect that follows a form's POST too.
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from urllib.parse import urlencode, urlsplit

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from twofold.core.login.cookies import LoginCookies
from twofold.core.login.flow import Answer, Outcome
from twofold.core.login.request import AuthorizeRequest
from twofold.web.errors import NO_STORE

PACKAGE = "twofold.web.pages"
STATIC_PATH = "/u/static"
STATIC_FILES = ("login.js", "login.css", "respond.js")

templates = Jinja2Templates(
    env=Environment(
        loader=PackageLoader(PACKAGE, "templates"),
        autoescape=select_autoescape(default=True),
        auto_reload=False,
    )
)


def _fingerprint(name: str) -> str:
    data = resources.files(PACKAGE).joinpath("static", name).read_bytes()
    return hashlib.sha256(data).hexdigest()[:12]


_VERSIONS = {name: _fingerprint(name) for name in STATIC_FILES}


def static_url(name: str) -> str:
    return f"{STATIC_PATH}/{name}?v={_VERSIONS[name]}"


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def page_headers(
    form_targets: tuple[str, ...] = (), frame_ancestors: tuple[str, ...] = ()
) -> dict[str, str]:
    ancestors = " ".join(frame_ancestors) if frame_ancestors else "'none'"
    policy = "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action " + " ".join(("'self'", *form_targets)),
            "frame-ancestors " + ancestors,
        )
    )
    headers = {**NO_STORE, "Content-Security-Policy": policy, "Referrer-Policy": "no-referrer"}
    if not frame_ancestors:
        headers["X-Frame-Options"] = "DENY"
    return headers


def answer_response(
    request: Request, answer: Answer, web_origins: tuple[str, ...], *, after_form: bool
) -> Response:
    req: AuthorizeRequest = answer.request
    mode = req.response_mode
    if mode in ("query", "fragment"):
        separator = (
            "#" if mode == "fragment" else ("&" if urlsplit(req.redirect_uri).query else "?")
        )
        target = req.redirect_uri + separator + urlencode(answer.params)
        return RedirectResponse(target, status_code=303 if after_form else 302, headers=NO_STORE)
    origin = origin_of(req.redirect_uri)
    context = {"script": static_url("respond.js"), "mode": mode, "params": answer.params}
    if mode == "form_post":
        context["redirect_uri"] = req.redirect_uri
        headers = page_headers(form_targets=(origin,))
    else:
        context["origin"] = origin
        context["response_json"] = json.dumps(answer.params)
        headers = page_headers(frame_ancestors=web_origins)
    return templates.TemplateResponse(request, "login/respond.html", context, headers=headers)


def apply_cookies(response: Response, outcome: Outcome, cookies: LoginCookies) -> None:
    """The login cookies an outcome sets, with the attributes `core/login/cookies.py` gives."""
    for spec, value in (
        (cookies.session, outcome.session_cookie),
        (cookies.remember, outcome.remember_cookie),
        (cookies.browser, outcome.browser_cookie),
    ):
        if value is not None:
            response.set_cookie(
                spec.name,
                value,
                max_age=spec.max_age,
                path=spec.path,
                secure=spec.secure,
                httponly=spec.http_only,
                samesite=spec.same_site,
            )

"""GET /v2/logout (Auth0's) and GET /oidc/logout (OIDC RP-initiated logout).

A refused request is answered with a short plain-text 400, never with a redirect; a request
with nowhere to return to is answered with a plain "OK", as Auth0's is. The session cookie is
the one the hosted login sets (core/login/cookies.py); when a session was ended it is cleared
here, with the attributes it was set with (a browser ignores a clearing it would not accept as a
setting, such as `Secure` over plain HTTP).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from twofold.core import logout as logout_uc
from twofold.core.deps import Deps
from twofold.core.login.cookies import SESSION_COOKIE, login_cookies
from twofold.web.context import runtime
from twofold.web.errors import NO_STORE

_MAX_PARAM = 8192
OIDC_PARAMS = ("id_token_hint", "client_id", "post_logout_redirect_uri", "logout_hint", "state")


def _param(request: Request, name: str) -> str | None:
    values = request.query_params.getlist(name)
    if len(values) > 1:
        raise logout_uc.LogoutRefused(f'"{name}" is given more than once')
    value = values[0] if values else None
    if value is not None and (len(value) > _MAX_PARAM or "\x00" in value):
        raise logout_uc.LogoutRefused(f'"{name}" is not valid')
    return value or None


def _answer(deps: Deps, outcome: logout_uc.LogoutOutcome) -> Response:
    response: Response
    if outcome.redirect is None:
        response = PlainTextResponse("OK", headers=NO_STORE)
    else:
        response = RedirectResponse(outcome.redirect, status_code=302, headers=NO_STORE)
    if outcome.ended:
        cookie = login_cookies(deps.issuer, deps.policy).session
        response.delete_cookie(
            cookie.name,
            path=cookie.path,
            secure=cookie.secure,
            httponly=cookie.http_only,
            samesite=cookie.same_site,
        )
    return response


def _refused(exc: logout_uc.LogoutRefused) -> Response:
    return PlainTextResponse(f"invalid_request: {exc}", status_code=400, headers=NO_STORE)


async def v2_logout(request: Request) -> Response:
    deps = runtime(request).deps
    try:
        outcome = await logout_uc.v2_logout(
            deps,
            client_id=_param(request, "client_id"),
            return_to=_param(request, "returnTo"),
            cookie=request.cookies.get(SESSION_COOKIE),
        )
    except logout_uc.LogoutRefused as exc:
        return _refused(exc)
    return _answer(deps, outcome)


async def oidc_logout(request: Request) -> Response:
    deps = runtime(request).deps
    try:
        params = {name: _param(request, name) for name in OIDC_PARAMS}
        outcome = await logout_uc.oidc_logout(
            deps, params, cookie=request.cookies.get(SESSION_COOKIE)
        )
    except logout_uc.LogoutRefused as exc:
        return _refused(exc)
    return _answer(deps, outcome)

"""The single route table and the Starlette application around it."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from twofold.core.errors import MethodNotAllowed, NotFound, OAuthError
from twofold.web.dispatch import FixedPathRouter
from twofold.web.endpoints import (
    jobs,
    logout,
    management,
    mfa,
    my_account,
    oidc,
    openapi,
    ops,
    passkey,
    push,
    token,
    wellknown,
)
from twofold.web.envelope import Envelope
from twofold.web.errors import error_response, oauth_error_handler
from twofold.web.pages import account, login

ROUTES = [
    Route("/oauth/token", token.token, methods=["POST"]),
    Route("/oauth/revoke", oidc.revoke, methods=["POST"]),
    Route("/userinfo", oidc.userinfo, methods=["GET", "POST"]),
    Route("/v2/logout", logout.v2_logout, methods=["GET"]),
    Route("/oidc/logout", logout.oidc_logout, methods=["GET"]),
    Route("/mfa/challenge", mfa.challenge, methods=["POST"]),
    Route("/mfa/associate", mfa.associate, methods=["POST"]),
    Route("/mfa/authenticators", mfa.list_authenticators, methods=["GET"]),
    Route(
        "/mfa/authenticators/{authenticator_id:path}",
        mfa.delete_authenticator,
        methods=["DELETE"],
    ),
    Route("/passkey/register", passkey.register, methods=["POST"]),
    Route("/passkey/challenge", passkey.challenge, methods=["POST"]),
    Route("/push/enroll", push.enroll, methods=["POST"]),
    Route("/push/pending", push.pending, methods=["POST"]),
    Route("/push/transactions/{transaction_id}/{decision}", push.decide, methods=["POST"]),
    Route("/.well-known/openid-configuration", wellknown.openid_configuration, methods=["GET"]),
    Route("/.well-known/jwks.json", wellknown.jwks, methods=["GET"]),
    Route("/healthz", ops.healthz, methods=["GET"]),
    Route("/readyz", ops.readyz, methods=["GET"]),
    Route("/openapi.yaml", openapi.openapi, methods=["GET"]),
    *management.ROUTES,
    *jobs.ROUTES,
    *my_account.ROUTES,
    Route("/authorize", login.authorize, methods=["GET"]),
]


async def http_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code in (404, 405) and request.url.path.startswith(management.PREFIX):
        return management.unrouted(exc.status_code)
    if my_account.is_my_account_path(request.url.path):
        # The My Account API answers everything, an unknown path or method too, as a problem.
        return my_account.routing_problem(request, exc.status_code)
    if exc.status_code == 405:
        return error_response(MethodNotAllowed())
    if exc.status_code == 404:
        return error_response(NotFound())
    err = OAuthError(str(exc.detail)[:200])
    return error_response(err)


def make_app(
    *,
    hsts: bool,
    lifespan: Callable[[Starlette], AbstractAsyncContextManager[None]] | None = None,
    account_page: bool = True,
) -> Starlette:
    # The operator may switch the account page off (TWOFOLD_ACCOUNT_PAGE=false): then nothing of
    # it is routed, its endpoints included, and /account is the 404 of any unknown path.
    routes = [*ROUTES, *login.PAGE_ROUTES]
    if account_page:
        routes += account.ROUTES
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(Envelope, hsts=hsts),
        ],
        exception_handlers={OAuthError: oauth_error_handler, HTTPException: http_error_handler},
        lifespan=lifespan,
    )
    # Before the first request builds the middleware stack around it.
    app.router = FixedPathRouter(routes, lifespan=lifespan)
    return app

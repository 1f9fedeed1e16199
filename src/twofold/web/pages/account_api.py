"""The account page's own endpoints under /account/api/: its sign-in steps (token, the MFA
challenge, the passkey challenge), run by `twofold.core.account_page` for the page's built-in
client, and the QR code of a TOTP enrolment drawn as SVG.

They take JSON only and refuse a request from another origin: a page elsewhere can send JSON here
only after a CORS preflight, which gets no CORS answer, and a browser names its origin on every
POST. No cookie is read or set: there is no ambient credential to abuse, every call carries
what it needs. Errors are the token endpoint's OAuth JSON (`mfa_required` with its mfa_token
included), as the script reads them.
"""

from __future__ import annotations

import io
from urllib.parse import urlsplit

import segno
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from twofold.core import account_page
from twofold.core.deps import Deps
from twofold.core.errors import (
    AccessDenied,
    InvalidRequest,
    InvalidToken,
    OAuthError,
    UnsupportedMediaType,
)
from twofold.core.my_account import caller as callers
from twofold.core.my_account.problems import Problem
from twofold.web import parsing
from twofold.web.context import runtime
from twofold.web.errors import NO_STORE, json_response

PREFIX = "/account/api"
OTPAUTH = "otpauth://"
MAX_URI_CHARS = 512
QR_HEADERS = {
    **NO_STORE,
    # Opened on its own, the picture may do nothing but be a picture.
    "Content-Security-Policy": "default-src 'none'; style-src 'none'; sandbox",
}


def _origin(issuer: str) -> str:
    parts = urlsplit(issuer)
    return f"{parts.scheme}://{parts.netloc}"


async def _params(request: Request) -> dict[str, str]:
    """The JSON body as the token endpoint's string parameters, from this origin only."""
    deps = runtime(request).deps
    origin = request.headers.get("origin")
    if origin is not None and origin != _origin(deps.issuer):
        raise AccessDenied("Cross-origin request refused")
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != parsing.JSON:
        raise UnsupportedMediaType("Content-Type must be application/json")
    return parsing.token_params(await parsing.parse_body(request, runtime(request).max_body_bytes))


async def token(request: Request) -> Response:
    params = await _params(request)
    ip = request.client.host if request.client else None
    return json_response(await account_page.token(runtime(request).deps, params, ip))


async def challenge(request: Request) -> Response:
    params = await _params(request)
    return json_response(await account_page.challenge(runtime(request).deps, params))


async def passkey_challenge(request: Request) -> Response:
    params = await _params(request)
    return json_response(await account_page.passkey_challenge(runtime(request).deps, params))


async def _signed_in(deps: Deps, authorization: str | None) -> None:
    """Only a user signed in to the page (a My Account token) has a QR code drawn."""
    try:
        await callers.from_bearer(deps, authorization)
    except (Problem, OAuthError):
        raise InvalidToken("A My Account access token is required") from None


def qr_svg(uri: str) -> bytes:
    out = io.BytesIO()
    segno.make(uri, error="m").save(
        out, kind="svg", scale=5, border=4, dark="#000", light="#fff", xmldecl=False
    )
    return out.getvalue()


async def qr(request: Request) -> Response:
    params = await _params(request)
    await _signed_in(runtime(request).deps, request.headers.get("authorization"))
    uri = params.get("uri", "")
    if set(params) != {"uri"} or not uri.startswith(OTPAUTH) or len(uri) > MAX_URI_CHARS:
        raise InvalidRequest("uri must be one otpauth:// URI")
    return Response(qr_svg(uri), media_type="image/svg+xml", headers=QR_HEADERS)


ROUTES = [
    Route(f"{PREFIX}/token", token, methods=["POST"]),
    Route(f"{PREFIX}/challenge", challenge, methods=["POST"]),
    Route(f"{PREFIX}/passkey-challenge", passkey_challenge, methods=["POST"]),
    Route(f"{PREFIX}/qr", qr, methods=["POST"]),
]

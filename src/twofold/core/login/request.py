"""`GET /authorize`: reading and checking the request before anyone signs in.

Two kinds of refusal, in Auth0's order:

- Until the client and its redirect URI are known good, nothing may be sent to the redirect
  URI: the browser is shown a page (`Refused`). An unknown client, a redirect URI that is not
  one of the client's callbacks (matched exactly), duplicate parameters, a bad response mode.
- After that, errors go back to the app the way it asked for the answer (`Rejected`: query,
  fragment, form_post or web_message), with `state` echoed, so the SDK can show them.

Parameters Twofold has no use for (`auth0Client`, `screen_hint`, `connection`, `organization`,
...) are accepted and ignored, as Auth0's SDKs send them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

from twofold.core.deps import Deps
from twofold.core.models import Client
from twofold.core.signin import MULTI_FACTOR_ACR

GRANT_AUTHORIZATION_CODE = "authorization_code"
GRANT_IMPLICIT = "implicit"
RESPONSE_TYPES = {"code": GRANT_AUTHORIZATION_CODE, "id_token": GRANT_IMPLICIT}
RESPONSE_MODES = ("query", "fragment", "form_post", "web_message")
PROMPTS = frozenset({"none", "login", "consent", "select_account"})
# RFC 7636: S256 of a 43-128 character verifier is 43 base64url characters.
_CODE_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")
# The parameters read here; any may appear once only.
KNOWN = (
    "client_id",
    "redirect_uri",
    "response_type",
    "response_mode",
    "state",
    "nonce",
    "scope",
    "audience",
    "code_challenge",
    "code_challenge_method",
    "prompt",
    "max_age",
    "acr_values",
    "login_hint",
    "ui_locales",
)
MAX_PARAMETER = 2048


class Refused(ValueError):
    """A request that cannot be answered to its redirect URI: shown on a page (400)."""


class Rejected(Exception):
    """An OAuth error answered to the app, through the request's response mode."""

    def __init__(self, request: AuthorizeRequest, error: str, description: str) -> None:
        super().__init__(description)
        self.request, self.error, self.description = request, error, description


@dataclass(frozen=True, slots=True)
class AuthorizeRequest:
    client_id: str
    redirect_uri: str
    response_type: str
    response_mode: str
    state: str | None = None
    nonce: str | None = None
    scope: str = "openid"
    audience: str | None = None
    code_challenge: str | None = None
    prompt: str | None = None
    max_age: int | None = None
    # Whether the app asked for multi-factor authentication (acr_values): step-up.
    wants_mfa: bool = False
    login_hint: str | None = None
    ui_locales: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AuthorizeRequest:
        return cls(**data)

    @property
    def prompts(self) -> frozenset[str]:
        return frozenset((self.prompt or "").split())


def _single(pairs: Sequence[tuple[str, str]]) -> dict[str, str]:
    params: dict[str, str] = {}
    for name, value in pairs:
        if name in KNOWN:
            if name in params:
                raise Refused(f'The parameter "{name}" appears more than once.')
            if len(value) > MAX_PARAMETER:
                raise Refused(f'The parameter "{name}" is too long.')
            params[name] = value
    return params


async def _client(deps: Deps, params: Mapping[str, str]) -> Client:
    client_id = params.get("client_id")
    if not client_id:
        raise Refused('The parameter "client_id" is required.')
    client = await deps.client(client_id)
    if client is None:
        raise Refused("Unknown client: the application is not registered.")
    return client


def _redirect_uri(client: Client, params: Mapping[str, str]) -> str:
    wanted = params.get("redirect_uri")
    if wanted is None:
        # Auth0 sends the browser to the application's first callback when none is named.
        if not client.callbacks:
            raise Refused('The parameter "redirect_uri" is required.')
        return client.callbacks[0]
    if wanted not in client.callbacks:
        raise Refused(
            "Callback URL mismatch: the redirect_uri is not one of the application's "
            "allowed callback URLs."
        )
    return wanted


def _response_mode(params: Mapping[str, str], response_type: str | None) -> str:
    mode = params.get("response_mode")
    if mode is None:
        return "fragment" if response_type == "id_token" else "query"
    if mode not in RESPONSE_MODES:
        raise Refused(f'Unsupported response_mode: "{mode[:40]}".')
    if mode == "query" and response_type == "id_token":
        # Tokens never travel in a query string (OAuth 2.0 Multiple Response Types, 2.1).
        raise Refused('response_mode "query" cannot carry an ID token.')
    return mode


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _max_age(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or len(raw) > 10:
        raise ValueError('"max_age" must be a whole number of seconds')
    return int(raw)


async def parse(deps: Deps, pairs: Sequence[tuple[str, str]]) -> tuple[AuthorizeRequest, Client]:
    """The checked request, or Refused (a page) or Rejected (an answer to the app)."""
    params = _single(pairs)
    client = await _client(deps, params)
    redirect_uri = _redirect_uri(client, params)
    response_type = params.get("response_type")
    mode = _response_mode(params, response_type)
    if mode == "web_message" and _origin(redirect_uri) not in client.web_origins:
        # The answer is posted to that origin's window, which may frame the page: it must be
        # one the application registered.
        raise Refused(
            "The redirect_uri's origin is not one of the application's allowed web origins."
        )
    try:
        max_age = _max_age(params.get("max_age"))
        max_age_error = None
    except ValueError as bad:
        max_age, max_age_error = None, str(bad)
    request = AuthorizeRequest(
        client_id=client.client_id,
        redirect_uri=redirect_uri,
        response_type=response_type or "",
        response_mode=mode,
        state=params.get("state"),
        nonce=params.get("nonce"),
        scope=params.get("scope") or "openid",
        audience=params.get("audience") or None,
        code_challenge=params.get("code_challenge"),
        prompt=params.get("prompt"),
        max_age=max_age,
        wants_mfa=MULTI_FACTOR_ACR in (params.get("acr_values") or "").split(),
        login_hint=params.get("login_hint"),
        ui_locales=params.get("ui_locales"),
    )
    _check(request, client, params, max_age_error)
    return request, client


def _check(
    request: AuthorizeRequest, client: Client, params: Mapping[str, str], max_age_error: str | None
) -> None:
    def reject(error: str, description: str) -> Rejected:
        return Rejected(request, error, description)

    if not request.response_type:
        raise reject("invalid_request", 'Missing required parameter: "response_type"')
    grant = RESPONSE_TYPES.get(request.response_type)
    if grant is None:
        raise reject(
            "unsupported_response_type",
            f"Unsupported response type: {request.response_type[:60]}",
        )
    if grant not in client.grant_types:
        raise reject(
            "unauthorized_client",
            f'The client is not allowed the "{grant}" grant, which response_type '
            f'"{request.response_type}" needs.',
        )
    if max_age_error is not None:
        raise reject("invalid_request", max_age_error)
    prompts = request.prompts
    if not prompts <= PROMPTS:
        raise reject("invalid_request", f"Unsupported prompt: {request.prompt or ''}"[:120])
    if "none" in prompts and len(prompts) > 1:
        raise reject("invalid_request", 'prompt "none" cannot be combined with other values')
    if request.response_type == "id_token" and not request.nonce:
        raise reject("invalid_request", 'Missing required parameter: "nonce"')
    method = params.get("code_challenge_method")
    if request.code_challenge is None:
        if method is not None:
            raise reject("invalid_request", '"code_challenge_method" needs "code_challenge"')
        if request.response_type == "code" and client.auth_method == "none":
            # A public client has no secret: without PKCE a stolen code is as good as tokens.
            raise reject("invalid_request", 'Missing required parameter: "code_challenge"')
    else:
        if request.response_type != "code":
            raise reject("invalid_request", "PKCE applies to response_type code only")
        if method != "S256":
            # "plain" sends the verifier itself through the browser: refused, as OAuth 2.1 does.
            raise reject("invalid_request", 'Unsupported "code_challenge_method": use S256')
        if not _CODE_CHALLENGE.fullmatch(request.code_challenge):
            raise reject("invalid_request", '"code_challenge" is not a base64url S256 digest')

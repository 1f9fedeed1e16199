"""Logging a browser out: Auth0's `GET /v2/logout` and OIDC RP-initiated logout (`GET
/oidc/logout`).

Both send the browser back only to one of the client's allowed logout URLs, matched exactly;
anything else is refused (`LogoutRefused`, shown as a plain error, never redirected to). With
no URL asked for, a known client's first allowed logout URL is used, as Auth0 does; with no
client, there is nowhere to go back to. Twofold has no tenant-wide list of logout URLs, so a
`returnTo` without `client_id` is refused.

The browser's SSO session (`core/sessions.py`) is ended only after every check passed:

- `/v2/logout` ends it unconditionally, as Auth0's does.
- `/oidc/logout` ends it when the request proves it is about that session: an `id_token_hint`
  whose subject is the session's user (and whose `sid`, when present, is the session's), or a
  `logout_hint` equal to the session id. Any disagreement is refused. A request with neither
  would need the user's confirmation on a page; until that page exists, it is refused while a
  session exists (and harmless, so accepted, while none does).

An `id_token_hint` must be an ID token we signed (our issuer and keys); an expired one is
accepted, since it only names whom to log out and an app's session often outlives it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from twofold.core.claims import TokenInvalid, unverified
from twofold.core.deps import Deps
from twofold.core.models import Client


class LogoutRefused(ValueError):
    """A logout request that cannot be followed; the message is safe to show."""


@dataclass(frozen=True, slots=True)
class LogoutOutcome:
    # Where to send the browser (None: answer without a redirect).
    redirect: str | None
    # Whether a session was ended (the web layer then clears its cookie).
    ended: bool


async def v2_logout(
    deps: Deps, *, client_id: str | None, return_to: str | None, cookie: str | None
) -> LogoutOutcome:
    client = await _client(deps, client_id)
    target = _target(client, return_to, "returnTo")
    session = await deps.sessions.current(cookie)
    if session is not None:
        await deps.sessions.end(session)
    return LogoutOutcome(target, session is not None)


async def oidc_logout(
    deps: Deps, params: Mapping[str, str | None], *, cookie: str | None
) -> LogoutOutcome:
    """`params`: id_token_hint, client_id, post_logout_redirect_uri, logout_hint, state."""
    id_token_hint, logout_hint = params.get("id_token_hint"), params.get("logout_hint")
    hint = await _hint_claims(deps, id_token_hint) if id_token_hint else None
    client_id = params.get("client_id")
    if hint is not None:
        if client_id and client_id != hint["aud"]:
            raise LogoutRefused('"client_id" does not match the audience of "id_token_hint"')
        client_id = hint["aud"]
        if logout_hint and logout_hint != hint.get("sid"):
            raise LogoutRefused('"logout_hint" does not match the "sid" of "id_token_hint"')
    client = await _client(deps, client_id)
    target = _target(client, params.get("post_logout_redirect_uri"), "post_logout_redirect_uri")
    session = await deps.sessions.current(cookie)
    if session is not None:
        sid = (hint or {}).get("sid") or logout_hint
        if hint is not None and hint.get("sub") != session.user_id:
            raise LogoutRefused('"id_token_hint" is not about the signed-in user')
        if sid is not None and sid != session.sid:
            raise LogoutRefused("the logout hints do not match the current session")
        if hint is None and logout_hint is None:
            raise LogoutRefused('logging out needs "id_token_hint" or "logout_hint"')
        await deps.sessions.end(session)
    if target is not None and (state := params.get("state")):
        # Appended, not re-encoded: the registered URL's own query stays byte for byte.
        target += ("&" if urlsplit(target).query else "?") + urlencode({"state": state})
    return LogoutOutcome(target, session is not None)


async def _client(deps: Deps, client_id: str | None) -> Client | None:
    if not client_id:
        return None
    client = await deps.client(client_id)
    if client is None:
        raise LogoutRefused('unknown "client_id"')
    return client


def _target(client: Client | None, wanted: str | None, parameter: str) -> str | None:
    if wanted is None:
        urls = client.allowed_logout_urls if client is not None else ()
        return urls[0] if urls else None
    if client is None:
        raise LogoutRefused(f'"{parameter}" needs "client_id" to say whose logout URLs apply')
    if wanted not in client.allowed_logout_urls:
        raise LogoutRefused(
            f'the "{parameter}" URL is not one of the application\'s allowed logout URLs'
        )
    return wanted


async def _hint_claims(deps: Deps, token: str) -> dict[str, Any]:
    """The verified claims of an ID token we issued; its `aud` is one client id."""
    aud = unverified(token).get("aud")
    if isinstance(aud, list) and len(aud) == 1:
        aud = aud[0]
    if not isinstance(aud, str) or not aud:
        raise LogoutRefused('"id_token_hint" is not a valid ID token')
    signer = await deps.signer()
    try:
        claims = signer.verify(
            token, audience=aud, issuer=deps.issuer, now=deps.clock.now(), expired_ok=True
        )
    except TokenInvalid:
        raise LogoutRefused('"id_token_hint" is not a valid ID token') from None
    # An access token is no hint: it names an API, not the client the user signed in to.
    if "scope" in claims or not isinstance(claims.get("sub"), str):
        raise LogoutRefused('"id_token_hint" is not a valid ID token')
    return {**claims, "aud": aud}

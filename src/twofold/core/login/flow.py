"""Where an `/authorize` request goes next, and how it ends.

    /authorize → the SSO session answers it (no page), or a transaction starts at
    the login page → (password or passkey) → the MFA page or the first enrolment, when a second
    factor is needed and has not run → finish: the SSO session starts (or records the step-up),
    an authorization code or an ID token goes back to the app.

A second factor is needed when the tenant's MFA policy asks for one for the requested API (the
password grant's rule), or the app asked for it (`acr_values` with the multi-factor URI:
step-up). It is skipped when it already ran in the SSO session or the browser is remembered.

`prompt=none` never shows a page: what would need one answers `login_required` (with
"Multifactor authentication required" when only the second factor is missing), so an SDK's
silent sign-in degrades quietly.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from urllib.parse import urlencode

from twofold.core import audience, issuance
from twofold.core import authorization_codes as codes
from twofold.core.deps import Deps
from twofold.core.errors import OAuthError
from twofold.core.login import remembered, transactions
from twofold.core.login.client import LOGIN_CLIENT_ID
from twofold.core.login.request import AuthorizeRequest, Rejected
from twofold.core.login.transactions import Transaction
from twofold.core.mfa import mfa_tokens, policy
from twofold.core.mfa.enrolled import is_enrolled
from twofold.core.models import Client, User
from twofold.core.sessions import BrowserSession, SessionEnded
from twofold.core.signin import MULTI_FACTOR_ACR, CodeGrant, SignIn

LOGIN_REQUIRED = "Login required"
MFA_REQUIRED = "Multifactor authentication required"
USER_BLOCKED = "user is blocked"
# What a remembered browser adds to a sign-in: the second factor counts as passed (the tokens
# are MFA tokens, as Auth0's are), though none ran now, so no factor method and no `acr`.
REMEMBERED = ("mfa",)


@dataclass(frozen=True, slots=True)
class Answer:
    """What goes back to the app, through the request's response mode."""

    request: AuthorizeRequest
    params: dict[str, str]


@dataclass(frozen=True, slots=True)
class Cookies:
    """The login cookies the browser sent."""

    session: str | None = None
    remember: str | None = None
    browser: str | None = None


@dataclass(slots=True)
class Outcome:
    """One step's result: an answer to the app or the next page, and the cookies to change."""

    answer: Answer | None = None
    # A path of ours to send the browser to ("/u/login?state=...").
    page: str | None = None
    session_cookie: str | None = None
    remember_cookie: str | None = None
    browser_cookie: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


def rejected(request: AuthorizeRequest, error: str, description: str) -> Answer:
    params = {"error": error, "error_description": description}
    if request.state is not None:
        params["state"] = request.state
    return Answer(request, params)


def answer_of(refusal: Rejected) -> Answer:
    return rejected(refusal.request, refusal.error, refusal.description)


def page_path(step: str, tx: Transaction) -> str:
    path = {"login": "/u/login", "mfa": "/u/mfa", "enroll": "/u/mfa-enroll"}[step]
    return f"{path}?{urlencode({'state': tx.id})}"


def restart_path(request: AuthorizeRequest) -> str:
    """The authorize request again, as the app sent it (what a stale page falls back to)."""
    params: dict[str, str] = {
        "client_id": request.client_id,
        "redirect_uri": request.redirect_uri,
        "response_type": request.response_type,
        "response_mode": request.response_mode,
        "scope": request.scope,
    }
    optional = {
        "state": request.state,
        "nonce": request.nonce,
        "audience": request.audience,
        "code_challenge": request.code_challenge,
        "code_challenge_method": "S256" if request.code_challenge else None,
        "max_age": str(request.max_age) if request.max_age is not None else None,
        "acr_values": MULTI_FACTOR_ACR if request.wants_mfa else None,
        "login_hint": request.login_hint,
        "ui_locales": request.ui_locales,
    }
    params.update({k: v for k, v in optional.items() if v is not None})
    # A restarted request must not loop on prompt=login: the user is about to sign in anyway.
    if request.prompt and "login" not in request.prompts:
        params["prompt"] = request.prompt
    return "/authorize?" + urlencode(params)


async def _mfa_needed(deps: Deps, request: AuthorizeRequest, user: User) -> bool:
    if request.wants_mfa:
        return True
    try:
        target = await audience.resolve(deps, request.audience)
    except OAuthError as refused:
        raise Rejected(request, refused.error, refused.description) from None
    needed: bool = await policy.mfa_needed(deps, target, user.user_id)
    return needed


async def _remembered(deps: Deps, cookies: Cookies, user: User) -> bool:
    if not cookies.remember:
        return False
    return await remembered.remembered_browsers(deps).recognised(cookies.remember, user)


async def authorize(deps: Deps, request: AuthorizeRequest, cookies: Cookies) -> Outcome:
    """A checked request: answered from the SSO session, or a page."""
    session = await deps.sessions.current(cookies.session)
    user = await deps.storage.users.get(session.user_id) if session is not None else None
    if session is not None and user is None:
        await deps.sessions.end(session)
        session = None
    if user is not None and user.blocked:
        return Outcome(answer=rejected(request, "unauthorized", USER_BLOCKED))
    now = deps.clock.now()
    fresh = (
        session is not None
        and user is not None
        and "login" not in request.prompts
        and (request.max_age is None or now - session.auth_time <= request.max_age)
    )
    if not fresh or session is None or user is None:
        if "none" in request.prompts:
            return Outcome(answer=rejected(request, "login_required", LOGIN_REQUIRED))
        return await _start(deps, request, cookies, "login")
    needs_mfa = await _mfa_needed(deps, request, user)
    if needs_mfa and "mfa" not in session.amr and await _remembered(deps, cookies, user):
        with contextlib.suppress(SessionEnded):
            session = await deps.sessions.add_methods(session, REMEMBERED)
    if needs_mfa and "mfa" not in session.amr:
        if "none" in request.prompts:
            return Outcome(answer=rejected(request, "login_required", MFA_REQUIRED))
        return await _start(
            deps,
            request,
            cookies,
            "mfa",
            user=user,
            auth_time=session.auth_time,
            amr=session.amr,
            sid=session.sid,
        )
    sign_in = SignIn(
        user_id=user.user_id,
        sid=session.sid,
        auth_time=session.auth_time,
        amr=session.amr,
        acr=MULTI_FACTOR_ACR if request.wants_mfa and "mfa" in session.amr else None,
    )
    client = await deps.client(request.client_id)
    if client is None:
        return Outcome(answer=rejected(request, "unauthorized_client", "Unknown client"))
    return Outcome(answer=await respond(deps, request, client, sign_in))


async def _start(
    deps: Deps,
    request: AuthorizeRequest,
    cookies: Cookies,
    step: transactions.Step,
    *,
    user: User | None = None,
    auth_time: int | None = None,
    amr: tuple[str, ...] = (),
    sid: str | None = None,
) -> Outcome:
    browser = cookies.browser or transactions.new_browser_cookie()
    tx = await transactions.start(deps, request, browser)
    outcome = Outcome(browser_cookie=None if cookies.browser else browser)
    if user is None:
        outcome.page = page_path("login", tx)
        return outcome
    tx = await transactions.advance(
        deps, tx, user_id=user.user_id, auth_time=auth_time, amr=amr, sid=sid
    )
    outcome.page = await second_factor_page(deps, tx, user)
    return outcome


async def second_factor_page(deps: Deps, tx: Transaction, user: User) -> str:
    """The MFA page, or the first enrolment for a user with no factor yet. Either runs the MFA
    grants as the built-in login client, through an mfa_token issued to it now."""
    token = await mfa_tokens.issue(
        deps,
        user_id=user.user_id,
        client_id=LOGIN_CLIENT_ID,
        audience=deps.userinfo_audience,
        scope="",
        realm=user.realm,
    )
    step: transactions.Step = (
        "mfa" if await is_enrolled(deps, user.user_id, user=user) else "enroll"
    )
    tx = await transactions.advance(deps, tx, step=step, mfa_token=token)
    return page_path(step, tx)


async def respond(deps: Deps, request: AuthorizeRequest, client: Client, sign_in: SignIn) -> Answer:
    """The app's answer for a finished sign-in: a code, or an ID token."""
    params: dict[str, str] = {}
    if request.response_type == "code":
        grant = CodeGrant(
            client_id=client.client_id,
            redirect_uri=request.redirect_uri,
            scope=request.scope,
            audience=request.audience,
            nonce=request.nonce,
            code_challenge=request.code_challenge,
            sign_in=sign_in,
        )
        params["code"] = await codes.issue(deps, grant)
    else:
        user = await deps.storage.users.get(sign_in.user_id)
        if user is None:
            return rejected(request, "access_denied", "The user no longer exists")
        params["id_token"] = await issuance.id_token_only(
            deps, user, client, sign_in, scope=request.scope, nonce=request.nonce or ""
        )
    if request.state is not None:
        params["state"] = request.state
    return Answer(request, params)


async def finish(deps: Deps, tx: Transaction, cookies: Cookies) -> Outcome:
    """The sign-in in `tx` is complete: start or step up the SSO session and answer the app."""
    if tx.user_id is None or tx.auth_time is None:
        raise transactions.Stale(tx)
    if not await transactions.finish(deps, tx):
        raise transactions.Stale(tx)
    outcome = Outcome()
    session: BrowserSession | None = None
    if tx.sid is not None:
        current = await deps.sessions.current(cookies.session)
        if current is not None and current.sid == tx.sid:
            with contextlib.suppress(SessionEnded):
                # Ended meanwhile (a logout in another tab): the step-up starts a new one.
                session = await deps.sessions.add_methods(current, tx.amr)
    if session is None:
        outcome.session_cookie, session = await deps.sessions.start(
            tx.user_id, tx.auth_time, tx.amr
        )
    if tx.remember and tx.mfa_ran:
        browsers = remembered.remembered_browsers(deps)
        # One user per remembered browser: another user's remembering ends here.
        await browsers.forget(cookies.remember)
        outcome.remember_cookie = await browsers.remember(tx.user_id)
    client = await deps.client(tx.request.client_id)
    if client is None:
        outcome.answer = rejected(tx.request, "unauthorized_client", "Unknown client")
        return outcome
    sign_in = SignIn(
        user_id=tx.user_id,
        sid=session.sid,
        auth_time=tx.auth_time,
        amr=tx.amr,
        acr=MULTI_FACTOR_ACR if tx.mfa_ran else None,
    )
    outcome.answer = await respond(deps, tx.request, client, sign_in)
    return outcome


async def after_first_factor(
    deps: Deps, tx: Transaction, user: User, amr: tuple[str, ...], cookies: Cookies
) -> Outcome:
    """The password (or a passkey) is right: on to the second factor, or done."""
    if user.blocked:
        await transactions.finish(deps, tx)
        return Outcome(answer=rejected(tx.request, "unauthorized", USER_BLOCKED))
    tx = await transactions.advance(
        deps, tx, user_id=user.user_id, auth_time=int(deps.clock.now()), amr=amr
    )
    if "mfa" not in amr and await _mfa_needed(deps, tx.request, user):
        if not await _remembered(deps, cookies, user):
            return Outcome(page=await second_factor_page(deps, tx, user))
        tx = await transactions.advance(deps, tx, amr=(*amr, *REMEMBERED))
    return await finish(deps, tx, cookies)

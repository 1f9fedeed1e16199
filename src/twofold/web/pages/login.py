"""GET /authorize and the hosted login pages under /u/.

Thin: read the request and the login cookies, call `core/login`, render what it decided.
A transaction that has run out or already answered restarts its authorize request (303 to
`/authorize?...`); one that is unknown or belongs to another browser is a page saying so.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl

import segno
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from twofold.core.deps import Deps
from twofold.core.login import flow, steps, transactions
from twofold.core.login import request as authorize_request
from twofold.core.login.cookies import (
    BROWSER_COOKIE,
    REMEMBER_COOKIE,
    SESSION_COOKIE,
    login_cookies,
)
from twofold.core.login.flow import Cookies, Outcome
from twofold.core.login.transactions import Transaction
from twofold.web import parsing
from twofold.web.context import runtime
from twofold.web.errors import NO_STORE
from twofold.web.pages.answers import (
    PACKAGE,
    STATIC_PATH,
    answer_response,
    apply_cookies,
    origin_of,
    page_headers,
    static_url,
    templates,
)
from twofold.web.pages.messages import Words

FORM_LIMIT = 64 * 1024


def _cookies(request: Request) -> Cookies:
    return Cookies(
        session=request.cookies.get(SESSION_COOKIE),
        remember=request.cookies.get(REMEMBER_COOKIE),
        browser=request.cookies.get(BROWSER_COOKIE),
    )


def _ip(request: Request) -> str | None:
    return request.client.host if request.client else None


async def _web_origins(deps: Deps, client_id: str) -> tuple[str, ...]:
    client = await deps.client(client_id)
    return client.web_origins if client is not None else ()


async def _render_outcome(request: Request, outcome: Outcome, *, after_form: bool) -> Response:
    deps = runtime(request).deps
    response: Response
    if outcome.answer is not None:
        origins = await _web_origins(deps, outcome.answer.request.client_id)
        response = answer_response(request, outcome.answer, origins, after_form=after_form)
    else:
        assert outcome.page is not None
        response = RedirectResponse(
            outcome.page, status_code=303 if after_form else 302, headers=NO_STORE
        )
    apply_cookies(response, outcome, login_cookies(deps.issuer, deps.policy))
    return response


def error_page(request: Request, words: Words, message: str, status: int = 400) -> Response:
    return templates.TemplateResponse(
        request,
        "login/error.html",
        {
            "t": words,
            "error": message,
            "style": static_url("login.css"),
            "script": static_url("login.js"),
        },
        status_code=status,
        headers=page_headers(),
    )


# ----- GET /authorize


async def authorize(request: Request) -> Response:
    deps = runtime(request).deps
    words = Words(request.query_params.get("ui_locales"))
    try:
        parsed, _client = await authorize_request.parse(deps, request.query_params.multi_items())
        outcome = await flow.authorize(deps, parsed, _cookies(request))
    except authorize_request.Refused as refused:
        return error_page(request, words, str(refused))
    except authorize_request.Rejected as rejected:
        outcome = Outcome(answer=flow.answer_of(rejected))
    return await _render_outcome(request, outcome, after_form=False)


# ----- the pages


async def _form(request: Request) -> dict[str, str]:
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != "application/x-www-form-urlencoded":
        return {}
    raw = await parsing.read_body(request, FORM_LIMIT)
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=32)
    except (UnicodeDecodeError, ValueError):
        return {}
    return dict(pairs)


Handler = Callable[[Request, Deps, Transaction, Words], Awaitable[Response]]


def _page(get: Handler, post: Handler) -> Callable[[Request], Awaitable[Response]]:
    """A hosted page: load the transaction, then GET renders and POST acts (CSRF-checked)."""

    async def endpoint(request: Request) -> Response:
        deps = runtime(request).deps
        words = Words(None)
        try:
            tx = await transactions.load(
                deps, request.query_params.get("state"), request.cookies.get(BROWSER_COOKIE)
            )
            words = Words(tx.request.ui_locales)
            if request.method == "GET":
                return await get(request, deps, tx, words)
            return await post(request, deps, tx, words)
        except transactions.Stale as stale:
            return RedirectResponse(
                flow.restart_path(stale.transaction.request), status_code=303, headers=NO_STORE
            )
        except transactions.Gone:
            return error_page(request, words, words("err.gone"))
        except authorize_request.Rejected as rejected:
            outcome = Outcome(answer=flow.answer_of(rejected))
            return await _render_outcome(request, outcome, after_form=True)

    return endpoint


async def _checked_form(request: Request, tx: Transaction) -> dict[str, str] | None:
    form = await _form(request)
    return form if transactions.check_csrf(tx, form.get("csrf")) else None


def _context(tx: Transaction, words: Words, **more: Any) -> dict[str, Any]:
    return {
        "t": words,
        "tx": tx.id,
        "csrf": tx.csrf,
        "style": static_url("login.css"),
        "script": static_url("login.js"),
        **more,
    }


def _headers(tx: Transaction) -> dict[str, str]:
    return page_headers(form_targets=(origin_of(tx.request.redirect_uri),))


async def _login_get(
    request: Request,
    deps: Deps,
    tx: Transaction,
    words: Words,
    error: str | None = None,
    status: int = 200,
) -> Response:
    if tx.step != "login":
        raise transactions.Stale(tx)
    client = await deps.client(tx.request.client_id)
    context = _context(
        tx,
        words,
        app=client.name if client is not None else "",
        username=tx.request.login_hint,
        error=error,
    )
    return templates.TemplateResponse(
        request, "login/login.html", context, status_code=status, headers=_headers(tx)
    )


async def _login_post(request: Request, deps: Deps, tx: Transaction, words: Words) -> Response:
    form = await _checked_form(request, tx)
    if form is None:
        return error_page(request, words, words("err.forbidden"), 403)
    try:
        outcome = await steps.password(
            deps,
            tx,
            form.get("username", ""),
            form.get("password", ""),
            _ip(request),
            _cookies(request),
        )
    except steps.PageError as refused:
        return await _login_get(request, deps, tx, words, words("err." + refused.key), 400)
    return await _render_outcome(request, outcome, after_form=True)


async def _mfa_get(
    request: Request,
    deps: Deps,
    tx: Transaction,
    words: Words,
    error: str | None = None,
    status: int = 200,
) -> Response:
    wanted = request.query_params.get("factor") if request.method == "GET" else None
    try:
        if wanted and tx.step == "mfa" and wanted != tx.factor:
            tx = await steps.choose(deps, tx, wanted)
        view = await steps.mfa_view(deps, tx)
    except steps.PageError as refused:
        view, error = steps.MfaView((), None, None), words("err." + refused.key)
    context = _context(
        tx,
        words,
        factors=view.factors,
        current=view.current,
        recovery_code=view.recovery_code,
        action="/u/mfa",
        error=error,
    )
    return templates.TemplateResponse(
        request, "login/mfa.html", context, status_code=status, headers=_headers(tx)
    )


async def _mfa_post(request: Request, deps: Deps, tx: Transaction, words: Words) -> Response:
    form = await _checked_form(request, tx)
    if form is None:
        return error_page(request, words, words("err.forbidden"), 403)
    action, cookies = form.get("action"), _cookies(request)
    try:
        if action == "recovery-shown":
            outcome = await steps.recovery_shown(deps, tx, cookies)
        elif action == "resend":
            tx = await steps.resend(deps, tx)
            return RedirectResponse(flow.page_path("mfa", tx), status_code=303, headers=NO_STORE)
        elif action == "poll":
            if form.get("remember") == "1" and not tx.remember:
                tx = await transactions.advance(deps, tx, remember=True)
            approved = await steps.poll(deps, tx, _ip(request))
            if approved is None:
                return RedirectResponse(
                    flow.page_path("mfa", tx), status_code=303, headers=NO_STORE
                )
            outcome = await steps.approved(deps, approved, cookies)
        else:
            outcome = await steps.code(
                deps, tx, form.get("code", ""), form.get("remember") == "1", _ip(request), cookies
            )
    except steps.PageError as refused:
        return await _mfa_get(request, deps, tx, words, words("err." + refused.key), 400)
    return await _render_outcome(request, outcome, after_form=True)


def qr_data_uri(uri: str) -> str:
    # A standalone SVG document (with its namespace): an <img> shows nothing of an inline one.
    return str(segno.make(uri, error="m").svg_data_uri(scale=4, border=2))


async def _enrol_get(
    request: Request,
    deps: Deps,
    tx: Transaction,
    words: Words,
    error: str | None = None,
    status: int = 200,
) -> Response:
    try:
        view = await steps.enrol_view(deps, tx)
    except steps.PageError as refused:
        view, error = steps.EnrolView(None, None, None), words("err." + refused.key)
    context = _context(
        tx,
        words,
        secret=view.secret,
        qr=qr_data_uri(view.uri) if view.uri else "",
        recovery_code=view.recovery_code,
        error=error,
    )
    return templates.TemplateResponse(
        request, "login/enroll.html", context, status_code=status, headers=_headers(tx)
    )


async def _enrol_post(request: Request, deps: Deps, tx: Transaction, words: Words) -> Response:
    form = await _checked_form(request, tx)
    if form is None:
        return error_page(request, words, words("err.forbidden"), 403)
    try:
        if form.get("action") == "recovery-shown":
            outcome = await steps.recovery_shown(deps, tx, _cookies(request))
        else:
            outcome = await steps.enrol(
                deps, tx, form.get("code", ""), _ip(request), _cookies(request)
            )
    except steps.PageError as refused:
        return await _enrol_get(request, deps, tx, words, words("err." + refused.key), 400)
    if outcome.page is not None and outcome.answer is None:
        return RedirectResponse(outcome.page, status_code=303, headers=NO_STORE)
    return await _render_outcome(request, outcome, after_form=True)


async def _no_get(request: Request, deps: Deps, tx: Transaction, words: Words) -> Response:
    raise transactions.Stale(tx)


async def _passkey_options(request: Request, deps: Deps, tx: Transaction, words: Words) -> Response:
    if await _checked_form(request, tx) is None:
        return JSONResponse({"error": words("err.forbidden")}, status_code=403, headers=NO_STORE)
    options = await steps.passkey_options(deps, tx)
    return JSONResponse(options, headers=NO_STORE)


async def _passkey_post(request: Request, deps: Deps, tx: Transaction, words: Words) -> Response:
    form = await _checked_form(request, tx)
    if form is None:
        return error_page(request, words, words("err.forbidden"), 403)
    again = _login_get if tx.step == "login" else _mfa_get
    try:
        response = json.loads(form.get("response") or "null")
        if not isinstance(response, Mapping):
            raise steps.PageError("passkey-failed")
        if form.get("remember") == "1":
            tx = await transactions.advance(deps, tx, remember=True)
        outcome = await steps.passkey(
            deps, tx, form.get("auth_session", ""), response, _ip(request), _cookies(request)
        )
    except ValueError:
        return await again(request, deps, tx, words, words("err.passkey-failed"), 400)
    except steps.PageError as refused:
        return await again(request, deps, tx, words, words("err." + refused.key), 400)
    return await _render_outcome(request, outcome, after_form=True)


async def _passkey_enrol_options(
    request: Request, deps: Deps, tx: Transaction, words: Words
) -> Response:
    if await _checked_form(request, tx) is None:
        return JSONResponse({"error": words("err.forbidden")}, status_code=403, headers=NO_STORE)
    try:
        options = await steps.passkey_enrol_options(deps, tx)
    except steps.PageError as refused:
        return JSONResponse(
            {"error": words("err." + refused.key)}, status_code=400, headers=NO_STORE
        )
    return JSONResponse(options, headers=NO_STORE)


async def _passkey_enrol(request: Request, deps: Deps, tx: Transaction, words: Words) -> Response:
    form = await _checked_form(request, tx)
    if form is None:
        return error_page(request, words, words("err.forbidden"), 403)
    try:
        response = json.loads(form.get("response") or "null")
        if not isinstance(response, Mapping):
            raise steps.PageError("passkey-failed")
        outcome = await steps.passkey_enrol(
            deps, tx, form.get("auth_session", ""), response, _cookies(request)
        )
    except ValueError:
        return await _enrol_get(request, deps, tx, words, words("err.passkey-failed"), 400)
    except steps.PageError as refused:
        return await _enrol_get(request, deps, tx, words, words("err." + refused.key), 400)
    return await _render_outcome(request, outcome, after_form=True)


async def _poll(request: Request, deps: Deps, tx: Transaction, words: Words) -> Response:
    """The push poll, for the page's script: JSON, never a page. Once approved, the script
    posts the page's form, whose answer is the normal one."""
    form = await _checked_form(request, tx)
    if form is None:
        return JSONResponse({"error": words("err.forbidden")}, status_code=403, headers=NO_STORE)
    try:
        done = await steps.poll(deps, tx, _ip(request))
    except steps.PageError as refused:
        return JSONResponse({"error": words("err." + refused.key)}, headers=NO_STORE)
    return JSONResponse({"approved": done is not None}, headers=NO_STORE)


# The pages are HTML for people, not part of the API contract (openapi.yaml documents /authorize).
PAGE_ROUTES: list[BaseRoute] = [
    Route("/u/login", _page(_login_get, _login_post), methods=["GET", "POST"]),
    Route("/u/mfa", _page(_mfa_get, _mfa_post), methods=["GET", "POST"]),
    Route("/u/mfa-enroll", _page(_enrol_get, _enrol_post), methods=["GET", "POST"]),
    Route("/u/passkey", _page(_no_get, _passkey_post), methods=["POST"]),
    Route("/u/passkey/options", _page(_no_get, _passkey_options), methods=["POST"]),
    Route("/u/mfa/poll", _page(_no_get, _poll), methods=["POST"]),
    Route("/u/passkey/enroll", _page(_no_get, _passkey_enrol), methods=["POST"]),
    Route("/u/passkey/enroll-options", _page(_no_get, _passkey_enrol_options), methods=["POST"]),
    Mount(STATIC_PATH, app=StaticFiles(packages=[(PACKAGE, "static")]), name="login-static"),
]

"""OAuthError → JSON response (the last line of defence, for anything else, is the envelope's
500 server_error).

A backend outage is not "anything else": the adapters raise `BackendUnavailable`, an OAuthError
rendered like any other (503 temporarily_unavailable with Retry-After)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from twofold.core import json_codec
from twofold.core.errors import BackendUnavailable, OAuthError

log = logging.getLogger("twofold.web")

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


_NO_STORE_RAW = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in NO_STORE.items()]


class _NoStoreJSON(JSONResponse):
    """A JSONResponse whose usual headers are laid out in advance, in the order Starlette
    writes them; with extra headers (or no body to measure), Starlette's own way. The body is
    the compact UTF-8 JSON Starlette writes, by the core's faster encoder."""

    def render(self, content: Any) -> bytes:
        return json_codec.dumps(content)

    def init_headers(self, headers: Mapping[str, str] | None = None) -> None:
        if headers or self.status_code < 200 or self.status_code in (204, 304):
            super().init_headers({**NO_STORE, **(headers or {})})
            return
        self.raw_headers = [
            *_NO_STORE_RAW,
            (b"content-length", str(len(self.body)).encode("latin-1")),
            (b"content-type", b"application/json"),
        ]


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return _NoStoreJSON(body, status_code=status, headers=headers)


def error_response(exc: OAuthError) -> Response:
    if exc.status >= 500:
        # A backend outage (503) or our own failure: the operator's business, not the client's.
        log.warning("server error %s: %s", exc.error, exc.debug or exc.description)
    elif exc.debug:
        log.info("oauth error %s: %s", exc.error, exc.debug)
    return json_response(exc.body(), exc.status, exc.headers)


async def oauth_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, OAuthError)
    if isinstance(exc, BackendUnavailable):
        runtime = getattr(request.app.state, "runtime", None)
        if runtime is not None:
            runtime.deps.metrics.backend_error(exc.backend)
    return error_response(exc)

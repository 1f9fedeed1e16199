"""The ceiling: a bare Starlette app under the same uvicorn settings as `twofold serve`.

It does what every Twofold token request does at the edges and nothing in between: read the
form body, parse it (rejecting duplicate parameters, as Twofold does), and answer a JSON document
of the same size as Twofold's mfa-otp token response (BENCH_CEILING_BYTES), with the same
no-store headers. Whatever rate it reaches on this machine is the most any Twofold endpoint can
reach with this server stack; bench/run.py reports every scenario as a fraction of it.

    python bench/ceiling.py --port 18001 --workers 2
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

RESPONSE_BYTES = int(os.environ.get("BENCH_CEILING_BYTES", "1800"))
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}

# Twofold's workers log at the level TWOFOLD_LOG_LEVEL sets on the root logger; so do we, so
# that uvicorn's access log costs the same (nothing) in both.
logging.getLogger().setLevel(os.environ.get("TWOFOLD_LOG_LEVEL", "warning").upper())


def _padding(size: int) -> int:
    """Token length that makes the compact JSON (as JSONResponse renders it) `size` bytes."""
    empty = len(JSONResponse(_body("")).body)
    return max(0, size - empty)


def _body(access_token: str) -> dict[str, object]:
    return {
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": 86400,
        "scope": "openid profile email",
    }


PAD = _padding(RESPONSE_BYTES)


async def token(request: Request) -> Response:
    raw = await request.body()
    pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, errors="strict")
    params: dict[str, str] = {}
    for key, value in pairs:
        if key in params:
            return JSONResponse({"error": "invalid_request"}, status_code=400, headers=NO_STORE)
        params[key] = value
    # Rendered per request, as Twofold renders its token response.
    return JSONResponse(_body("x" * PAD), headers=NO_STORE)


app = Starlette(routes=[Route("/oauth/token", token, methods=["POST"])])


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    from twofold.serving import HeadTimeoutProtocol

    # The same keyword arguments `twofold serve` passes to uvicorn.run, and its HTTP protocol
    # (uvicorn's httptools one with the head timer and one write per response).
    uvicorn.run(
        "ceiling:app",
        http=HeadTimeoutProtocol,
        app_dir=str(Path(__file__).resolve().parent),
        host="127.0.0.1",
        port=args.port,
        workers=args.workers,
        server_header=False,
        log_config=None,
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()

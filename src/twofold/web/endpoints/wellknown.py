"""Discovery and keys."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from twofold.core import discovery
from twofold.web.context import runtime

# Public documents: cacheable for a short while so a key rotation is seen within minutes.
_CACHE = {"Cache-Control": "public, max-age=60"}


async def openid_configuration(request: Request) -> Response:
    rt = runtime(request)
    signer = await rt.deps.signer()
    doc = discovery.document(rt.deps.issuer, signing_algs=signer.algs)
    return JSONResponse(doc, headers=_CACHE)


async def jwks(request: Request) -> Response:
    signer = await runtime(request).deps.signer()
    return JSONResponse(signer.jwks(), headers=_CACHE)

"""GET /openapi.yaml: the hand-written contract (web/openapi.yaml), served as it is."""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from starlette.requests import Request
from starlette.responses import Response

_CACHE = {"Cache-Control": "public, max-age=3600"}


@cache
def _document() -> bytes:
    return files("twofold.web").joinpath("openapi.yaml").read_bytes()


async def openapi(request: Request) -> Response:
    return Response(_document(), media_type="application/yaml", headers=_CACHE)

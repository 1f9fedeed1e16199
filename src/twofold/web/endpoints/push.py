"""Twofold's push device protocol (docs/push-protocol.md): enrol, list pending, approve/reject.

Every request body is one compact JWS (`application/jose`) signed by the device's key; the core
checks it. Answers are JSON; errors use the OAuth envelope like the rest of the API.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from twofold.core.errors import InvalidRequest, NotFound
from twofold.core.factors import push_device
from twofold.web import parsing
from twofold.web.context import runtime
from twofold.web.errors import NO_STORE, json_response


async def _jws(request: Request) -> str:
    rt = runtime(request)
    raw = await parsing.read_body(request, min(rt.max_body_bytes, push_device.MAX_JWS_CHARS + 64))
    try:
        return raw.decode("ascii").strip()
    except UnicodeDecodeError:
        raise InvalidRequest("The body must be a compact JWS") from None


async def enroll(request: Request) -> Response:
    rt = runtime(request)
    return json_response(await push_device.device_enroll(rt.deps, await _jws(request)), status=201)


async def pending(request: Request) -> Response:
    rt = runtime(request)
    transactions = await push_device.device_pending(rt.deps, await _jws(request))
    return json_response({"transactions": transactions})


async def decide(request: Request) -> Response:
    rt = runtime(request)
    decision = request.path_params["decision"]
    if decision not in ("approve", "reject"):
        raise NotFound()
    request_id = request.path_params["transaction_id"][:64]
    await push_device.device_decide(rt.deps, await _jws(request), request_id, decision == "approve")
    return Response(status_code=204, headers=NO_STORE)

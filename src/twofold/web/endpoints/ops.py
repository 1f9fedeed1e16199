"""Health for load balancers and orchestrators.

- `/healthz`: the process is up and serving (liveness); touches nothing else.
- `/readyz`: this node can do its work: every backend it needs answers (the database, and Redis
  when state lives there). 503 with the same JSON shape when one does not, so a load balancer
  takes the node out of rotation until it recovers. Which checks run is the composition root's
  business: it puts an async `readiness()` returning `{name: ok}` on the app's state.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from twofold.web.context import runtime

Readiness = Callable[[], Awaitable[Mapping[str, bool]]]
_NO_STORE = {"Cache-Control": "no-store"}


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"}, headers=_NO_STORE)


async def _database_only(request: Request) -> Mapping[str, bool]:
    # Fallback when the app was built without a readiness probe: read the tenant row uncached.
    try:
        await runtime(request).deps.storage.tenant.get()
    except Exception:  # any failure to reach the database means "not ready"
        return {"database": False}
    return {"database": True}


async def readyz(request: Request) -> Response:
    probe: Readiness | None = getattr(request.app.state, "readiness", None)
    checks = await probe() if probe is not None else await _database_only(request)
    ready = all(checks.values())
    body = {
        "status": "ok" if ready else "unavailable",
        "checks": {name: "ok" if ok else "unavailable" for name, ok in sorted(checks.items())},
    }
    return JSONResponse(body, status_code=200 if ready else 503, headers=_NO_STORE)

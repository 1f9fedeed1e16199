"""What the web layer needs from the composition root, found on the app's state."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from twofold.core.deps import Deps


@dataclass(frozen=True, slots=True)
class Runtime:
    deps: Deps
    max_body_bytes: int
    tls: bool = False


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt

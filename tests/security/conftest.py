"""Security suite fixtures.

In-process tests reuse the web suite's harness (a fresh SQLite database, services and app per
test, a FrozenClock); real-process tests reuse the e2e suite's `TwofoldServer`. Both suites sit
beside this one under `tests/`, which pytest puts on the import path.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from web.conftest import anyio_backend, clock, env, http, services, smtp, twilio  # noqa: F401

__all__ = ["trust_forwarding"]


def trust_forwarding(svc: Any, *client_ids: str) -> None:
    """Believe these clients' auth0-forwarded-for (as TWOFOLD_TRUSTED_FORWARDING_CLIENTS does)."""
    deps = svc.deps
    deps.policy = dataclasses.replace(deps.policy, trusted_forwarding_clients=frozenset(client_ids))


@pytest.fixture
def trust(services: Any) -> Any:  # noqa: F811 - the imported fixture
    return lambda *ids: trust_forwarding(services, *ids)

"""Scale-out: several Twofold nodes on one PostgreSQL schema and one Redis prefix.

`test_services.py` checks the composition root in-process (schema check, readiness, racing
start-ups); `test_cluster.py` runs three real server processes behind nginx. Both are part of
`make test`: PostgreSQL, Redis and nginx are set up (nginx installed from Debian if missing),
never skipped.
"""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "scaleout: several nodes on PostgreSQL + Redis (behind nginx for the e2e)"
    )


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"

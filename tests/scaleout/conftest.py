"""Scale-out: several Twofold nodes on one PostgreSQL schema and one Redis prefix.

`test_services.py` checks the composition root in-process (schema check, readiness, racing
start-ups); `test_cluster.py` runs three real server processes behind nginx. Both are part of
`make test`: PostgreSQL, Redis and nginx are set up (nginx installed from Debian if missing),
never skipped.
"""

from __future__ import annotations

import secrets
from collections.abc import Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest

from contract._backends import REDIS_URL, delete_redis_prefix_sync, postgres_schema
from e2e._server import Tls

from ._cluster import Client, Cluster, User, ensure_nginx


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "scaleout: several nodes on PostgreSQL + Redis (behind nginx for the e2e)"
    )


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


# ---- the cluster: 3 nodes + nginx, one per test module -----------------------------------------


@dataclass(frozen=True)
class Tenant:
    """What the tests log in with: made with the CLI after the nodes started."""

    client: Client
    m2m: Client
    api: str
    users: dict[str, User]


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return Tls.create(tmp_path_factory.mktemp("scaleout-tls"))


@pytest.fixture(scope="session")
def nginx_binary() -> str:
    return ensure_nginx()


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, tls: Tls, nginx_binary: str
) -> Iterator[Cluster]:
    prefix = f"twofold-test:scaleout:{secrets.token_hex(6)}:"
    with postgres_schema("scaleout") as database_url:
        cluster = Cluster(
            workdir=tmp_path_factory.mktemp("scaleout"),
            database_url=database_url,
            redis_url=REDIS_URL,
            redis_prefix=prefix,
            tls=tls,
            pycache_dir=tmp_path_factory.getbasetemp() / "pycache",
        )
        try:
            cluster.cli("migrate")  # the separate step: serve does not migrate PostgreSQL
            cluster.start(nginx_binary)
            yield cluster
        finally:
            cluster.stop()
            delete_redis_prefix_sync(prefix)


@pytest.fixture(scope="module")
def tenant(cluster: Cluster) -> Tenant:
    api = "https://api.scaleout.twofold.test/"
    cluster.cli("apis", "create", "--identifier", api, "--scope", "read:things")
    labels = ("flow", "racer", "guesser")
    with ThreadPoolExecutor(len(labels) + 2) as pool:  # independent CLI processes
        client = pool.submit(cluster.create_client, "scale-out app")
        m2m = pool.submit(
            cluster.create_client,
            "scale-out service",
            "--grant-types",
            "client_credentials",
            "--audience",
            api,
        )
        users = {label: pool.submit(cluster.create_user, label) for label in labels}
        return Tenant(
            client=client.result(),
            m2m=m2m.result(),
            api=api,
            users={label: future.result() for label, future in users.items()},
        )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    """Attach the nodes' and nginx's logs to every failed scale-out test."""
    outcome = yield
    report = outcome.get_result()
    found = (getattr(item, "funcargs", None) or {}).get("cluster")
    if report.failed and isinstance(found, Cluster):
        report.sections.append(("scale-out cluster", found.describe()))

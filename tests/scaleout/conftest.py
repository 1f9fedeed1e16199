"""Scale-out: several Twofold nodes on one PostgreSQL schema and one Redis prefix.

`test_services.py` checks the composition root in-process (schema check, readiness, racing
start-ups); `test_cluster.py` runs three real server processes behind nginx. Both are part of
`make test`: PostgreSQL, Redis and nginx are set up (nginx installed from Debian if missing),
never skipped.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from contract._backends import REDIS_URL, delete_redis_prefix_sync, postgres_schema
from e2e._oob import SmtpSink
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
def smtp() -> Iterator[SmtpSink]:
    """Where every node sends its email (aiosmtpd on 127.0.0.1)."""
    with SmtpSink.running() as sink:
        yield sink


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, tls: Tls, nginx_binary: str, smtp: SmtpSink
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
            extra_settings={
                "smtp_url": smtp.url,
                "email_from": "Twofold <no-reply@scaleout.twofold.test>",
            },
        )
        try:
            cluster.cli("migrate")  # the separate step: serve does not migrate PostgreSQL
            cluster.start(nginx_binary)
            yield cluster
        finally:
            cluster.stop()
            delete_redis_prefix_sync(prefix)


async def _seed(cluster: Cluster, api: str, labels: tuple[str, ...]) -> Tenant:
    """An API, two clients, users and the tenant's factors, written to the shared database by
    the code the CLI runs (`Admin`), in this process: as seven `twofold …` processes this took
    ~15 s on two cores. (`twofold migrate` and `twofold keys rotate` stay real CLI calls.)"""
    from twofold.app import create_services
    from twofold.config import Settings

    settings = Settings.model_validate(cluster.settings())
    services = await create_services(settings)
    try:
        admin = services.admin
        # No node has read the tenant yet (start-up and /readyz do not): nothing to wait for.
        # The users have verified addresses and enrol beside them with their mfa_token: the
        # lenient mode, where email does not count (the strict default is in tests/security).
        await admin.update_tenant(
            enabled_factors=frozenset({"otp", "email", "recovery-code"}),
            email_counts_as_factor=False,
        )
        created_api = await admin.create_api(api, scopes=["read:things"])
        client, secret = await admin.create_client("scale-out app")
        m2m, m2m_secret = await admin.create_client(
            "scale-out service",
            grant_types=["client_credentials"],
            api_grants={api: created_api.scopes},
        )
        assert secret is not None
        assert m2m_secret is not None
        users = {}
        for label in labels:
            email = f"{label}-{secrets.token_hex(4)}@scaleout.twofold.test"
            password = f"pw-{label}-{secrets.token_urlsafe(12)}"
            user = await admin.create_user(email, password, email_verified=True)
            users[label] = User(email=email, password=password, user_id=user.user_id)
    finally:
        await services.close()
    return Tenant(
        client=Client(client.client_id, secret),
        m2m=Client(m2m.client_id, m2m_secret),
        api=api,
        users=users,
    )


@pytest.fixture(scope="module")
def tenant(cluster: Cluster) -> Tenant:
    labels = ("flow", "racer", "guesser", "mailer", "viewer", "stale", "associator")
    return asyncio.run(_seed(cluster, "https://api.scaleout.twofold.test/", labels))


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

"""End-to-end fixtures: a real `twofold serve` over HTTPS, driven by the official Auth0 SDKs.

Per test module: a fresh temp dir, database and port; `twofold migrate`; one first-party client,
one API and the users the module asks for, all made with the CLI; then the server process. The
test CA exists only in the temp dir. A failing test gets the server's log attached to its report.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from ._server import Client, Tls, TwofoldServer, User, free_port

API_IDENTIFIER = "https://api.e2e.twofold.test/"
API_SCOPES = ("read:things", "write:things")


@dataclass(frozen=True)
class Deployment:
    server: TwofoldServer
    client: Client
    users: dict[str, User]
    api_identifier: str

    def http(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(
            base_url=self.server.base_url, verify=self.server.tls.client_context(), **kwargs
        )

    def async_http(self, **kwargs: object) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.server.base_url, verify=self.server.tls.client_context(), **kwargs
        )


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return Tls.create(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="session")
def pycache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pycache")


@pytest.fixture(scope="module")
def sdk_trust(tls: Tls) -> Iterator[Path]:
    """Make both SDKs trust the test CA (and only it) without turning verification off.

    auth0-python -> requests -> REQUESTS_CA_BUNDLE. auth0-server-python's MfaClient -> a new
    httpx.AsyncClient per call (trust_env=True) -> httpx 0.28 reads SSL_CERT_FILE.
    """
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("REQUESTS_CA_BUNDLE", str(tls.ca_file))
        mp.setenv("SSL_CERT_FILE", str(tls.ca_file))
        mp.delenv("CURL_CA_BUNDLE", raising=False)  # requests' fallback; never reached, but tidy
        mp.delenv("SSL_CERT_DIR", raising=False)
        no_proxy = ",".join(filter(None, [os.environ.get("NO_PROXY"), "127.0.0.1", "localhost"]))
        mp.setenv("NO_PROXY", no_proxy)
        mp.setenv("no_proxy", no_proxy)
        yield tls.ca_file


@pytest.fixture(scope="module")
def server_workers() -> int:
    """Uvicorn worker processes; a module may override (or parametrize) this fixture."""
    return 1


@pytest.fixture(scope="module")
def user_labels() -> tuple[str, ...]:
    """Users a module needs, created before the server starts; a module may override this."""
    return ("alice",)


@pytest.fixture(scope="module")
def deployment(
    tmp_path_factory: pytest.TempPathFactory,
    tls: Tls,
    sdk_trust: Path,
    server_workers: int,
    user_labels: tuple[str, ...],
    pycache_dir: Path,
) -> Iterator[Deployment]:
    workdir = tmp_path_factory.mktemp("twofold")
    server = TwofoldServer(
        workdir=workdir,
        port=free_port(),
        tls=tls,
        workers=server_workers,
        pycache_dir=pycache_dir,
    )
    server.migrate()
    client = server.create_client("e2e first-party app")
    server.create_api(API_IDENTIFIER, *API_SCOPES)
    users = server.create_users(user_labels, "e2e.twofold.test")
    server.start()
    try:
        yield Deployment(server=server, client=client, users=users, api_identifier=API_IDENTIFIER)
    finally:
        server.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    """Attach the server's log (and the CLI calls) to every failed e2e test's report."""
    outcome = yield
    report = outcome.get_result()
    if not report.failed:
        return
    funcargs = getattr(item, "funcargs", {}) or {}
    found = funcargs.get("deployment")
    if isinstance(found, Deployment):
        report.sections.append(("twofold server", found.server.describe()))

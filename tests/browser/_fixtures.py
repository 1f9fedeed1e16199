"""Fixtures of the hosted-login tests (re-exported by conftest.py): the two-site certificate,
Twofold on auth.twofold.test with its users, and the single-page app's server on
app.example.test. A module picks the tenant's settings by overriding `tenant_settings`."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from e2e._server import Tls, User, free_port

from ._sites import AuthServer, hosts_resolved, two_site_tls
from ._static import SpaSite, serving_spa


@dataclass(frozen=True)
class AuthSite:
    server: AuthServer
    users: dict[str, User]
    workdir: Path

    @property
    def tls(self) -> Tls:
        return self.server.tls

    def http(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.server.base_url, verify=self.server.tls.client_context(), timeout=10
        )


@pytest.fixture(scope="session")
def resolved_hosts() -> Iterator[None]:
    """This process finds auth.twofold.test and app.example.test on 127.0.0.1."""
    with hosts_resolved():
        yield


@pytest.fixture(scope="session")
def sites_tls(tls: Tls, tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return two_site_tls(tls, tmp_path_factory.mktemp("sites-tls"))


@pytest.fixture(scope="module")
def tenant_settings() -> tuple[str, ...]:
    """`twofold tenant set` options for this module's server: by default the password alone
    signs in (the tenant's own default asks every user for a second factor); a module that
    tests the second factor overrides this."""
    return ("--mfa-policy", "never")


@pytest.fixture(scope="module")
def auth_site(
    tmp_path_factory: pytest.TempPathFactory,
    sites_tls: Tls,
    pycache_dir: Path,
    resolved_hosts: None,
    tenant_settings: tuple[str, ...],
) -> Iterator[AuthSite]:
    """Twofold at https://auth.twofold.test:PORT, one per module, with users alice, bob and
    carol (no factor yet: a test gives them what it needs)."""
    workdir = tmp_path_factory.mktemp("twofold")
    server = AuthServer(workdir=workdir, port=free_port(), tls=sites_tls, pycache_dir=pycache_dir)
    server.migrate()
    server.cli("tenant", "set", *tenant_settings)
    users = server.create_users(("alice", "bob", "carol"), "hosted.twofold.test")
    server.start()
    try:
        yield AuthSite(server=server, users=users, workdir=workdir)
    finally:
        server.stop()


@pytest.fixture
def fresh_user(auth_site: AuthSite, request: pytest.FixtureRequest) -> User:
    """A user of the test's own, with no factor yet: what the test gives them changes no other
    test, whatever order they run in."""
    label = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower())[:24].strip("-")
    email = f"{label}-{secrets.token_hex(4)}@hosted.twofold.test"
    return auth_site.server.create_user(label, email, f"pw-{secrets.token_urlsafe(18)}")


@pytest.fixture(scope="module")
def spa_site(sites_tls: Tls, resolved_hosts: None) -> Iterator[SpaSite]:
    """The single-page app's server at https://app.example.test:PORT/."""
    with serving_spa(sites_tls) as site:
        yield site

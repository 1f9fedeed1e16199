"""Browser fixtures: a real `twofold serve` over HTTPS, and Debian's Chromium driven by Playwright
for Python (`executable_path`; Playwright never downloads a browser here).

The server is reached as https://localhost:PORT: WebAuthn needs a domain for its RP ID, never an
IP address. Chromium trusts the test CA the way a machine trusts a private CA: it is added to an
NSS database (`certutil`) under a fresh HOME, beside a fresh user-data-dir; certificate errors
are not ignored. Screenshots go to test-output/browser/<test>/ (ignored by git).

`make test` installs chromium and certutil (libnss3-tools) when they are missing; on CI a missing
one fails the tests rather than skipping them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import BrowserContext, ConsoleMessage, Page, Playwright, sync_playwright

from e2e._server import Tls, TwofoldServer, User, free_port
from e2e.conftest import pycache_dir, tls

from ._fixtures import (
    AuthSite,
    auth_site,
    fresh_user,
    resolved_hosts,
    sites_tls,
    spa_site,
    tenant_settings,
)
from ._sites import launch

__all__ = [
    "auth_site",
    "fresh_user",
    "pycache_dir",
    "resolved_hosts",
    "sites_tls",
    "spa_site",
    "tenant_settings",
    "tls",
]

CHROMIUM = Path(os.environ.get("TWOFOLD_TEST_CHROMIUM", "/usr/bin/chromium"))
CERTUTIL = "certutil"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
EXPECTED_ANSWER = "Failed to load resource: the server responded with a status of 4"
OUTPUT = Path(__file__).resolve().parents[2] / "test-output" / "browser"
# The grants the seeding client uses to give a user a first factor before the browser starts.
SEED_GRANTS = "password http://auth0.com/oauth/grant-type/mfa-otp"


def require_tools() -> None:
    """Chromium and certutil, or a clear failure on CI (a skip elsewhere)."""
    missing = [str(CHROMIUM)] if not CHROMIUM.exists() else []
    if shutil.which(CERTUTIL) is None:
        missing.append(CERTUTIL)
    if missing:
        reason = f"{', '.join(missing)} missing: `make browser-deps` installs them"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)


class LocalhostServer(TwofoldServer):
    """A TwofoldServer whose clients use https://localhost:PORT (the certificate names both)."""

    extra_env: dict[str, str]

    @property
    def domain(self) -> str:
        return f"localhost:{self.port}"

    def env(self) -> dict[str, str]:
        return {**super().env(), **getattr(self, "extra_env", {})}


@dataclass(frozen=True)
class Site:
    server: LocalhostServer
    users: dict[str, User]

    @property
    def page_url(self) -> str:
        return f"{self.server.base_url}/account"

    def http(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.server.base_url, verify=self.server.tls.client_context(), timeout=10
        )


def start_server(
    directory: Path, tls: Tls, pycache: Path, labels: tuple[str, ...], **env: str
) -> Site:
    server = LocalhostServer(workdir=directory, port=free_port(), tls=tls, pycache_dir=pycache)
    server.extra_env = env
    server.migrate()
    users = server.create_users(labels, "browser.twofold.test")
    server.start()
    return Site(server=server, users=users)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, tls: Tls, pycache_dir: Path) -> Iterator[Site]:
    """One server per module, with two users: alice (given a TOTP factor by the test) and bob
    (no factor)."""
    require_tools()
    found = start_server(tmp_path_factory.mktemp("twofold"), tls, pycache_dir, ("alice", "bob"))
    try:
        yield found
    finally:
        found.server.stop()


@pytest.fixture(scope="session")
def browser_home(tmp_path_factory: pytest.TempPathFactory, tls: Tls) -> Path:
    """A HOME whose NSS database trusts the test CA (and nothing else was added)."""
    require_tools()
    home = tmp_path_factory.mktemp("home")
    nssdb = home / ".pki" / "nssdb"
    nssdb.mkdir(parents=True)
    database = f"sql:{nssdb}"
    subprocess.run([CERTUTIL, "-N", "-d", database, "--empty-password"], check=True)
    subprocess.run(
        [
            CERTUTIL,
            "-A",
            "-d",
            database,
            "-n",
            "twofold-test-ca",
            "-t",
            "C,,",
            "-i",
            str(tls.ca_file),
        ],
        check=True,
    )
    return home


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    """Playwright's driver, stopped after each module so that no loop of its outlives the
    browser tests."""
    with sync_playwright() as driver:
        yield driver


@pytest.fixture
def context(playwright: Playwright, browser_home: Path, tmp_path: Path) -> Iterator[BrowserContext]:
    """A fresh Chromium profile for each test, trusting the test CA through browser_home and
    finding the hosted-login tests' two hosts."""
    launched = launch(
        playwright,
        chromium=CHROMIUM,
        args=CHROMIUM_ARGS,
        home=browser_home,
        profile=tmp_path / "profile",
    )
    try:
        yield launched
    finally:
        launched.close()


@pytest.fixture
def page(context: BrowserContext) -> Iterator[Page]:
    """The page, failing the test on any console error (a CSP violation is one) or uncaught
    exception. An API's 4xx answer is logged by Chromium too ("Failed to load resource"): the
    page expects those (mfa_required is one), so they are not errors here."""
    opened = context.pages[0] if context.pages else context.new_page()
    errors: list[str] = []

    def console(message: ConsoleMessage) -> None:
        if message.type == "error" and not message.text.startswith(EXPECTED_ANSWER):
            errors.append(message.text)

    opened.on("console", console)
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    yield opened
    assert not errors, errors


@pytest.fixture
def shots(request: pytest.FixtureRequest, page: Page) -> Callable[..., Path]:
    """shots("step") writes the page as NN-step.png into this test's output folder;
    shots("step", other) writes another page (a popup, a second tab)."""
    folder = OUTPUT / request.node.name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    taken: list[Any] = []

    def shoot(step: str, target: Page | None = None) -> Path:
        taken.append(step)
        path = folder / f"{len(taken):02d}-{step}.png"
        (target or page).screenshot(path=str(path), full_page=True)
        return path

    return shoot


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item) -> Generator[None, pytest.TestReport, Any]:
    """A failed browser test's report carries the server's log and CLI calls."""
    report = yield
    if report.failed:
        for found in getattr(item, "funcargs", {}).values():
            if isinstance(found, Site | AuthSite):
                report.sections.append(("twofold server", found.server.describe()))
    return report

"""Prometheus metrics from a real `twofold serve --workers 2`: every scrape, of the metrics port
or of /metrics on the main port, reports the sum over both workers; each worker's own samples
are in the server's private PROMETHEUS_MULTIPROC_DIR, which is gone once the server stops."""

from __future__ import annotations

import secrets
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from ._server import Tls, TwofoldServer, free_port

pytestmark = pytest.mark.e2e

TOKEN = secrets.token_urlsafe(32)
ROUTE = "/.well-known/jwks.json"
REQUESTS_PER_ROUND = 24
MAX_ROUNDS = 10
SETTLE_SECONDS = 10.0


@dataclass
class MetricsServer(TwofoldServer):
    metrics_port: int = 0

    @property
    def temp_dir(self) -> Path:
        return self.workdir / "tmp"

    def env(self) -> dict[str, str]:
        env = super().env()
        self.temp_dir.mkdir(exist_ok=True)
        env.update(
            {
                "TWOFOLD_METRICS_PORT": str(self.metrics_port),
                "TWOFOLD_METRICS_TOKEN": TOKEN,
                # Where `twofold serve` makes its private directory (tempfile honours TMPDIR).
                "TMPDIR": str(self.temp_dir),
            }
        )
        return env


def start_server(
    tmp_path_factory: pytest.TempPathFactory, tls: Tls, pycache_dir: Path, workers: int
) -> MetricsServer:
    server = MetricsServer(
        workdir=tmp_path_factory.mktemp("metrics"),
        port=free_port(),
        tls=tls,
        workers=workers,
        pycache_dir=pycache_dir,
        metrics_port=free_port(),
    )
    server.migrate()
    server.start()
    return server


@pytest.fixture
def server(
    tmp_path_factory: pytest.TempPathFactory, tls: Tls, pycache_dir: Path
) -> Iterator[MetricsServer]:
    server = start_server(tmp_path_factory, tls, pycache_dir, workers=2)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def single(
    tmp_path_factory: pytest.TempPathFactory, tls: Tls, pycache_dir: Path
) -> Iterator[MetricsServer]:
    server = start_server(tmp_path_factory, tls, pycache_dir, workers=1)
    try:
        yield server
    finally:
        server.stop()


def requests_counted(text: str, route: str = ROUTE) -> float:
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if (
                sample.name == "twofold_http_requests_total"
                and sample.labels.get("route") == route
                and sample.labels.get("status") == "200"
            ):
                total += sample.value
    return total


def per_worker(directory: Path) -> dict[str, float]:
    """Each worker's own count of ROUTE requests, read from its file alone."""
    counts: dict[str, float] = {}
    for path in sorted(directory.glob("counter_*.db")):
        pid = path.stem.split("_", 1)[1]
        for metric in MultiProcessCollector.merge([str(path)], accumulate=False):
            for sample in metric.samples:
                if (
                    sample.name == "twofold_http_requests_total"
                    and sample.labels.get("route") == ROUTE
                ):
                    counts[pid] = counts.get(pid, 0.0) + sample.value
    return counts


def fetch_on_fresh_connections(server: MetricsServer, count: int) -> None:
    """`count` requests at once, each on a connection of its own, so both workers take some."""

    def one(_: int) -> int:
        with httpx.Client(verify=server.tls.client_context(), timeout=10.0) as http:
            return http.get(f"{server.base_url}{ROUTE}").status_code

    with ThreadPoolExecutor(max_workers=count) as pool:
        assert set(pool.map(one, range(count))) == {200}


def test_every_scrape_reports_the_sum_over_both_workers(server: MetricsServer) -> None:
    [directory] = server.temp_dir.glob("twofold-metrics-*")
    sent = 0
    for _ in range(MAX_ROUNDS):
        fetch_on_fresh_connections(server, REQUESTS_PER_ROUND)
        sent += REQUESTS_PER_ROUND
        workers = {pid: n for pid, n in per_worker(directory).items() if n}
        if len(workers) >= 2:
            break
    assert len(workers) == 2, f"one worker took every request: {workers}\n{server.describe()}"
    # A request is counted just after its response went out: the last few may lag a moment.
    deadline = time.monotonic() + SETTLE_SECONDS
    while sum(per_worker(directory).values()) != sent and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sum(per_worker(directory).values()) == sent

    # The metrics port: plain HTTP on loopback, served by the supervising process.
    resp = httpx.get(f"http://127.0.0.1:{server.metrics_port}/metrics", timeout=10.0)
    assert resp.status_code == 200, resp.text
    assert requests_counted(resp.text) == sent

    # /metrics on the main port, whichever worker answers: the same sum, never one worker's.
    with httpx.Client(verify=server.tls.client_context(), timeout=10.0) as http:
        refused = http.get(f"{server.base_url}/metrics")
        assert refused.status_code == 401
        assert refused.json()["error"] == "invalid_token"
    for _ in range(6):
        with httpx.Client(verify=server.tls.client_context(), timeout=10.0) as http:
            resp = http.get(
                f"{server.base_url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}
            )
        assert resp.status_code == 200, resp.text
        assert requests_counted(resp.text) == sent


def test_one_worker_reports_its_own_samples_and_the_directory_goes_with_it(
    single: MetricsServer,
) -> None:
    [directory] = single.temp_dir.glob("twofold-metrics-*")
    fetch_on_fresh_connections(single, 5)
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:  # a request is counted just after its response went out
        resp = httpx.get(f"http://127.0.0.1:{single.metrics_port}/metrics", timeout=10.0)
        assert resp.status_code == 200, resp.text
        if requests_counted(resp.text) == 5 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert requests_counted(resp.text) == 5
    assert single.stop() in (0, -signal.SIGTERM)
    assert not directory.exists()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{single.metrics_port}/metrics", timeout=2.0)

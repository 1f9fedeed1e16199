"""Prometheus metrics: the core's `Metrics` port, the HTTP middleware, and their exposition.

Names and labels are documented in docs/deploy.md ("Metrics"). Every label value is chosen from a
small fixed set: a route *template* (`/mfa/authenticators/{authenticator_id:path}`, never the
path a client sent, which carries ids), a known HTTP method or "other", a status code, and the
core's factor, channel, algorithm and OAuth error names. Nothing a client types becomes a label.

Several worker processes (`twofold serve --workers N`): prometheus_client's multi-process mode.
`twofold serve` points PROMETHEUS_MULTIPROC_DIR at a fresh private directory before it starts the
workers (serving.py); each worker, importing prometheus_client with it set, writes its samples to
its own files there, and an exposition merges every file in the directory: whichever worker
answers a scrape at /metrics, and the supervisor behind TWOFOLD_METRICS_PORT, report the sums
over all workers (including workers that were restarted: counters never go back). A single
process keeps its samples in memory and exposes its own registry.
"""

from __future__ import annotations

import functools
import hmac
import os
import time
from typing import Final

import anyio.to_thread
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    start_http_server,
    values,
)
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from twofold.core.errors import InvalidToken, MethodNotAllowed, OAuthError
from twofold.web.middleware import HttpMiddleware

MULTIPROC_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"
METRICS_PATH: Final = "/metrics"
# A request that matched no route (404) is counted under this instead of its path.
UNMATCHED: Final = "unmatched"
METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

HTTP_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# An RS256 signature with a 2048-bit key takes about a millisecond; ES256 and EdDSA far less.
SIGNING_BUCKETS: Final = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1)
BACKENDS: Final = ("database", "redis")
CHANNELS: Final = ("sms", "voice", "email", "push")


# The registry of this process's own `PrometheusMetrics` (`process_metrics`): what the metrics
# port exposes when one process serves (the port's server starts before the app is loaded).
PROCESS_REGISTRY: Final = CollectorRegistry()


def multiprocess_dir() -> str | None:
    """The directory this process's samples are written to, or None when they stay in memory.

    prometheus_client decides once, when it is imported: multi-process mode if
    PROMETHEUS_MULTIPROC_DIR was set then. Whatever the environment says now, that decision is
    what counts for where this process's samples are.
    """
    if values.ValueClass is values.MutexValue:
        return None
    return os.environ.get(MULTIPROC_ENV) or None


def merged_registry(directory: str) -> CollectorRegistry:
    """A registry that reads every process's files in `directory` at each collection."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    return registry


class PrometheusMetrics:
    """The core's `Metrics` port on prometheus_client, plus the HTTP request metrics.

    One per process in production (`app.asgi` makes it): in multi-process mode two instances in
    one process would write the same samples. Tests may make one per test with its own registry.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self._http_requests = Counter(
            "twofold_http_requests",
            "HTTP requests answered, by method, route template and status code.",
            ["method", "route", "status"],
            registry=r,
        )
        self._http_duration = Histogram(
            "twofold_http_request_duration_seconds",
            "Time from a request's head to the end of its response, by method and route template.",
            ["method", "route"],
            buckets=HTTP_BUCKETS,
            registry=r,
        )
        self._grants = Counter(
            "twofold_token_grants",
            "/oauth/token exchanges by grant type and outcome (success or the OAuth error code).",
            ["grant_type", "outcome"],
            registry=r,
        )
        self._mfa_failures = Counter(
            "twofold_mfa_failures",
            "Wrong second-factor codes, by factor.",
            ["factor"],
            registry=r,
        )
        self._mfa_rate_limited = Counter(
            "twofold_mfa_rate_limited",
            "429 answers of the MFA flows, by factor and the limit that refused "
            "(attempts, user, destination, tenant).",
            ["factor", "limit"],
            registry=r,
        )
        self._send_cap_trips = Counter(
            "twofold_send_cap_trips",
            "Messages refused by a channel's tenant-wide send cap (the breaker), by channel.",
            ["channel"],
            registry=r,
        )
        self._deliveries = Counter(
            "twofold_deliveries",
            "Messages handed to a delivery channel, by channel and outcome "
            "(sent, failed, timeout, unconfigured).",
            ["channel", "outcome"],
            registry=r,
        )
        self._signing = Histogram(
            "twofold_token_signing_seconds",
            "JWT signatures (access and ID tokens) by algorithm, and the time each took.",
            ["alg"],
            buckets=SIGNING_BUCKETS,
            registry=r,
        )
        self._backend_errors = Counter(
            "twofold_backend_errors",
            "Requests refused 503 because a backend was unavailable, by backend.",
            ["backend"],
            registry=r,
        )
        # The children every token request labels, each looked up once per set of label values:
        # `labels()` takes a lock and checks its arguments on every call (about a microsecond,
        # four or five calls a request). The values are bounded sets (methods, route templates,
        # statuses, grant types, algorithms), and nothing removes a child from these metrics.
        self._http_request_child = functools.cache(self._http_requests.labels)
        self._http_duration_child = functools.cache(self._http_duration.labels)
        self._grant_child = functools.cache(self._grants.labels)
        self._signing_child = functools.cache(self._signing.labels)
        # Series that alerts watch exist from the start (at 0), so that rate() sees the first one.
        for backend in BACKENDS:
            self._backend_errors.labels(backend)
        for channel in CHANNELS:
            self._send_cap_trips.labels(channel)

    # ----- the core's port

    def grant(self, grant_type: str, outcome: str) -> None:
        self._grant_child(grant_type, outcome).inc()

    def mfa_failure(self, factor: str) -> None:
        self._mfa_failures.labels(factor).inc()

    def mfa_rate_limited(self, factor: str, limit: str) -> None:
        self._mfa_rate_limited.labels(factor, limit).inc()

    def send_cap_tripped(self, channel: str) -> None:
        self._send_cap_trips.labels(channel).inc()

    def delivery(self, channel: str, outcome: str) -> None:
        self._deliveries.labels(channel, outcome).inc()

    def token_signed(self, alg: str, seconds: float) -> None:
        self._signing_child(alg).observe(seconds)

    def backend_error(self, backend: str) -> None:
        self._backend_errors.labels(backend).inc()

    # ----- HTTP

    def http_request(self, method: str, route: str, status: int, seconds: float) -> None:
        method = method if method in METHODS else "other"
        self._http_request_child(method, route, str(status)).inc()
        self._http_duration_child(method, route).observe(seconds)

    # ----- exposition

    def exposition_registry(self) -> CollectorRegistry:
        """What a scrape reports: every worker's files merged, or this process's registry."""
        directory = multiprocess_dir()
        return merged_registry(directory) if directory else self.registry

    def exposition(self) -> bytes:
        return generate_latest(self.exposition_registry())


@functools.cache
def process_metrics() -> PrometheusMetrics:
    """This process's metrics, on PROCESS_REGISTRY: one instance however often it is asked."""
    return PrometheusMetrics(PROCESS_REGISTRY)


def exposed_registry(workers_dir: str | None = None) -> CollectorRegistry:
    """What the metrics port reports: the files of every worker in `workers_dir` (the
    supervisor of several workers), else this process's samples wherever they are."""
    directory = workers_dir or multiprocess_dir()
    return merged_registry(directory) if directory else PROCESS_REGISTRY


def route_template(scope: Scope, root_path: str) -> str:
    """The template of the route that answered (as Starlette's router left it in the scope),
    never the path itself. Routes under a Mount (at a fixed path) keep the mount's prefix."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if not isinstance(path, str) or not path:
        return UNMATCHED
    prefix = str(scope.get("root_path", ""))[len(root_path) :]
    if isinstance(route, Mount):
        # A mount that answered itself (static files): its path is already the root path's end.
        return prefix
    return prefix + path


def _bearer(scope: Scope) -> bytes | None:
    """The credentials of an `Authorization: Bearer …` header, as sent (bytes)."""
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, token = bytes(value).partition(b" ")
            token = token.strip()
            return token if scheme.lower() == b"bearer" and token else None
    return None


def _error(exc: OAuthError, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(
        exc.body(),
        status_code=exc.status,
        headers={"Cache-Control": "no-store", "Pragma": "no-cache", **(headers or {})},
    )


class HttpMetrics(HttpMiddleware):
    """Pure ASGI middleware: counts and times every HTTP request by route template and status;
    with a token, also answers GET /metrics for `Authorization: Bearer <token>` (401
    invalid_token otherwise, compared in constant time)."""

    def __init__(self, app: ASGIApp, metrics: PrometheusMetrics, token: str | None = None) -> None:
        super().__init__(app)
        self.metrics = metrics
        self._token = token.encode() if token else None

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        root_path = str(scope.get("root_path", ""))
        status: int | None = None

        async def counting_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        route = UNMATCHED
        try:
            if self._token is not None and scope["path"] == METRICS_PATH:
                route = METRICS_PATH
                response = await self._scrape(scope)
                await response(scope, receive, counting_send)
            else:
                try:
                    await self.app(scope, receive, counting_send)
                finally:
                    route = route_template(scope, root_path)
        except Exception:
            # The server answers 500 if nothing was sent yet. A cancelled request (the server's
            # body timeout) is not counted: its answer is the server's, not the app's.
            self._record(scope, route, status or 500, started)
            raise
        self._record(scope, route, status or 500, started)

    def _record(self, scope: Scope, route: str, status: int, started: float) -> None:
        self.metrics.http_request(scope["method"], route, status, time.perf_counter() - started)

    async def _scrape(self, scope: Scope) -> Response:
        assert self._token is not None
        presented = _bearer(scope)
        # compare_digest: the time taken does not tell how much of a guess was right.
        if presented is None or not hmac.compare_digest(presented, self._token):
            description = "Missing authorization header" if presented is None else "Invalid token"
            return _error(InvalidToken(description), {"WWW-Authenticate": 'Bearer realm="metrics"'})
        if scope["method"] not in ("GET", "HEAD"):
            return _error(MethodNotAllowed(), {"Allow": "GET, HEAD"})
        # Reading the workers' files is disk I/O: off the event loop.
        body = await anyio.to_thread.run_sync(self.metrics.exposition)
        headers = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
        return Response(body, media_type=CONTENT_TYPE_LATEST, headers=headers)


# ------------------------------------------------------------------------------ metrics port


class MetricsPort:
    """TWOFOLD_METRICS_PORT: prometheus_client's HTTP server in a thread of this process."""

    def __init__(self, host: str, port: int, registry: CollectorRegistry) -> None:
        self._server, self._thread = start_http_server(port, host, registry)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

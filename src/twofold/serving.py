"""How `twofold serve` runs uvicorn: read timeouts, and X-Forwarded-For believed only as an address.

uvicorn bounds neither how long a client may take to send a request head nor how long it may
take to send a body: a client that trickles bytes holds its connection (and, for a body, a task
waiting in the app) for as long as it likes. Three pieces close that:

- `HeadTimeoutProtocol`, uvicorn's httptools protocol with one more timer: a request head (request
  line and headers) must be complete within `header_read_timeout` seconds of the connection
  opening or of its first byte on a kept-alive connection, or the connection is closed. Idle
  kept-alive connections stay uvicorn's business (`timeout_keep_alive`, 5 s).
- `BodyTimeout`, an ASGI middleware: once the head is in, the body must arrive within
  `body_read_timeout` seconds. If it does not, the app is cancelled where it waits for the body
  (it has done nothing yet) and the client gets a 408 JSON error and a closed connection. A
  response sent without reading the whole body also closes the connection, so a body the app
  never reads cannot be trickled after it.
- `ProxyHeaders` (proxy_headers.py), in place of uvicorn's middleware of the same purpose:
  `X-Forwarded-For` from a trusted proxy is believed only when it names an IP address.

The same protocol also sends each response in one write (`OneWriteTransport`): uvicorn writes a
head and its body separately, two system calls and two TCP segments where one does.

`run` puts them together in a `uvicorn.Config` subclass and runs the server like `uvicorn.run`.
It also prepares Prometheus metrics (observability/metrics.py) for the workers: a fresh private
PROMETHEUS_MULTIPROC_DIR per start, removed when the server stops, and with TWOFOLD_METRICS_PORT
the port that reports them, served by this (the supervising) process.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any, NotRequired, TypedDict, Unpack

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState
from uvicorn.supervisors import Multiprocess

from twofold.observability import metrics
from twofold.proxy_headers import ProxyHeaders
from twofold.web.middleware import HttpMiddleware

DEFAULT_HEADER_READ_TIMEOUT = 10.0
DEFAULT_BODY_READ_TIMEOUT = 30.0
# uvicorn's exit status when the server did not start.
STARTUP_FAILURE = 3

log = logging.getLogger("twofold.serving")


# ------------------------------------------------------------------------------ one write


class OneWriteTransport(asyncio.Transport):
    """A connection's transport that holds a write back until the next write or until the event
    loop runs the callbacks scheduled meanwhile (`call_soon`), whichever comes first, and sends
    what it holds in one write.

    uvicorn writes a response's head and its body in two calls, one right after the other in
    the same task step. Each call is a send() system call and, on loopback or a proxy's
    connection, a TCP segment the peer wakes up for; held together they are one. Nothing is
    held past the loop's next round of callbacks, so a streamed response's head, a `100
    Continue` or a lone chunk go out as soon as the code that wrote them yields. What is held
    goes to the transport as uvicorn's own write would have, even if the transport has started
    closing meanwhile (the client half-closed): the transport decides, as before.
    """

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None
        self._flush: asyncio.Handle | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        held = self._held
        if held is None:
            self._held = bytes(data)
            self._flush = self._loop.call_soon(self._send_held)
            return
        self._held = None
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        self._transport.write(held + data)

    def _send_held(self) -> None:
        held, self._held, self._flush = self._held, None, None
        if held is not None:
            self._transport.write(held)

    def _release(self) -> None:
        if self._flush is not None:
            self._flush.cancel()
        self._send_held()

    def writelines(self, list_of_data: Iterable[bytes | bytearray | memoryview]) -> None:
        self.write(b"".join(list_of_data))

    def write_eof(self) -> None:
        self._release()
        self._transport.write_eof()

    def can_write_eof(self) -> bool:
        return self._transport.can_write_eof()

    def close(self) -> None:
        self._release()
        self._transport.close()

    def abort(self) -> None:
        if self._flush is not None:
            self._flush.cancel()
        self._held = self._flush = None
        self._transport.abort()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def is_reading(self) -> bool:
        return self._transport.is_reading()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._transport.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._transport.get_protocol()

    def get_write_buffer_size(self) -> int:
        held = self._held
        return self._transport.get_write_buffer_size() + (len(held) if held is not None else 0)

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._transport.get_write_buffer_limits()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._transport.set_write_buffer_limits(high, low)


# ------------------------------------------------------------------------------ head timeout


class HeadTimeoutProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, closing connections whose request head is too slow."""

    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.header_read_timeout = float(
            getattr(config, "header_read_timeout", DEFAULT_HEADER_READ_TIMEOUT)
        )
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(OneWriteTransport(transport, self.loop))
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        # The first byte of a request on a kept-alive connection starts the clock; on a new
        # connection it has run since the connection opened.
        if self._head_timer is None:
            self._arm_head_timer()

    def on_headers_complete(self) -> None:
        self._cancel_head_timer()
        super().on_headers_complete()

    def _arm_head_timer(self) -> None:
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(self.header_read_timeout, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self.transport.close()


# ------------------------------------------------------------------------------ body timeout

TIMEOUT_BODY = json.dumps(
    {"error": "invalid_request", "error_description": "The request body did not arrive in time"},
    separators=(",", ":"),
).encode()


def _declares_body(scope: Scope) -> bool:
    for name, value in scope.get("headers", []):
        if name == b"transfer-encoding":
            return True
        if name == b"content-length" and value.strip() not in (b"", b"0"):
            return True
    return False


class BodyTimeout(HttpMiddleware):
    """Pure ASGI middleware: the request body must be in within `timeout` seconds of the head.

    One timer per request, armed when the head is in: at the deadline, an app waiting for the
    body is cancelled there (it has done nothing yet), and one that asks for more of it later
    is refused the same way. Every POST pays for this layer: anyio's cancel scopes (one around
    the app, one around each read) cost about twelve microseconds a request, the timer one.
    """

    def __init__(self, app: ASGIApp, timeout: float = DEFAULT_BODY_READ_TIMEOUT) -> None:
        super().__init__(app)
        self.timeout = timeout

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not _declares_body(scope):
            # Nothing to wait for, and nothing to close: uvicorn's own receive and send.
            await self.app(scope, receive, send)
            return
        task = asyncio.current_task()
        assert task is not None  # an ASGI app always runs in a task
        complete = False
        reading = False
        timed_out = False
        cancelled = False  # by the timer
        started = False

        def late() -> None:  # never runs once the body is complete: the timer is cancelled
            nonlocal timed_out, cancelled
            timed_out = True
            if reading:
                cancelled = True
                task.cancel()

        timer = asyncio.get_running_loop().call_later(self.timeout, late)

        async def timed_receive() -> Message:
            nonlocal complete, reading
            if complete:
                return await receive()
            if timed_out:
                raise asyncio.CancelledError
            reading = True
            try:
                message = await receive()
            finally:
                reading = False
            if message["type"] != "http.request" or not message.get("more_body"):
                complete = True
                timer.cancel()
            return message

        async def closing_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if not complete:
                    # Answered before the body was read: the rest of the body must not be
                    # trickled into a kept-alive connection afterwards.
                    headers = [(k, v) for k, v in message.get("headers", []) if k != b"connection"]
                    message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        try:
            await self.app(scope, timed_receive, closing_send)
        except asyncio.CancelledError:
            # Ours, unless the task was cancelled from outside too (the client left, the
            # server stops): that one goes on.
            if not timed_out or (task.uncancel() if cancelled else task.cancelling()) > 0:
                raise
        finally:
            timer.cancel()

        if timed_out and not started:
            log.info("request body timed out after %.0f s", self.timeout)
            await send(
                {
                    "type": "http.response.start",
                    "status": 408,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(TIMEOUT_BODY)).encode()),
                        (b"cache-control", b"no-store"),
                        (b"pragma", b"no-cache"),
                        (b"connection", b"close"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": TIMEOUT_BODY})


# ------------------------------------------------------------------------------ the server


class TwofoldConfig(uvicorn.Config):
    """uvicorn's Config with Twofold's middleware and read timeouts."""

    def __init__(
        self,
        app: str,
        *,
        header_read_timeout: float = DEFAULT_HEADER_READ_TIMEOUT,
        body_read_timeout: float = DEFAULT_BODY_READ_TIMEOUT,
        **kwargs: Any,
    ) -> None:
        super().__init__(app, http=HeadTimeoutProtocol, **kwargs)
        self.header_read_timeout = header_read_timeout
        self.body_read_timeout = body_read_timeout
        # uvicorn's own proxy middleware would believe any text; ours is applied in load().
        self.validated_proxy_headers = self.proxy_headers
        self.proxy_headers = False

    def load(self) -> None:
        super().load()
        app: ASGIApp = BodyTimeout(self.loaded_app, self.body_read_timeout)
        if self.validated_proxy_headers:
            app = ProxyHeaders(app, self.forwarded_allow_ips)
        self.loaded_app = app


class ServeOptions(TypedDict):
    """What `twofold serve` asks of the server: where it listens, its TLS files, its read
    timeouts, and (optional) where Prometheus metrics are served."""

    host: str
    port: int
    workers: int
    ssl_certfile: str | None
    ssl_keyfile: str | None
    header_read_timeout: float
    body_read_timeout: float
    metrics_port: NotRequired[int | None]
    metrics_host: NotRequired[str]


def run(**options: Unpack[ServeOptions]) -> None:
    """Serve `twofold.app:asgi` the way `uvicorn.run` would, with `TwofoldConfig`; with
    `metrics_port`, Prometheus metrics on `metrics_host:metrics_port` too."""
    # Set before the workers start (they import prometheus_client with it set), and new for
    # every start: nothing left by an earlier run, or by another server, is ever counted.
    samples = tempfile.mkdtemp(prefix="twofold-metrics-")
    os.environ[metrics.MULTIPROC_ENV] = samples
    try:
        with _removed_on_sigterm(samples):
            _run(options, samples)
    finally:
        shutil.rmtree(samples, ignore_errors=True)


@contextmanager
def _removed_on_sigterm(path: str) -> Iterator[None]:
    """Remove `path` on SIGTERM too. One uvicorn server ends by raising the SIGTERM it caught
    again once it has shut down, so that the exit status says "ended by SIGTERM" as service
    managers expect; no `finally` runs then. This handler, which uvicorn puts back before
    raising it, removes the directory and then lets the signal end the process as before."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    # None: a handler set outside Python; the default is the nearest thing to put back.
    previous = signal.getsignal(signal.SIGTERM) or signal.SIG_DFL

    def removing(signum: int, frame: FrameType | None) -> None:
        shutil.rmtree(path, ignore_errors=True)
        signal.signal(signum, previous)
        signal.raise_signal(signum)

    signal.signal(signal.SIGTERM, removing)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _metrics_port(host: str, port: int, workers_dir: str | None) -> metrics.MetricsPort:
    try:
        return metrics.MetricsPort(host, port, metrics.exposed_registry(workers_dir))
    except OSError as exc:
        log.error("cannot listen on the metrics port %s:%d: %s", host, port, exc.strerror)
        sys.exit(STARTUP_FAILURE)


def _run(options: ServeOptions, samples: str) -> None:
    metrics_port = options.get("metrics_port")
    metrics_host = options.get("metrics_host", "127.0.0.1")
    # The event loop stays uvicorn's choice, uvloop: asyncio's own loop takes in a burst of new
    # connections faster, but served 10-18 % fewer client_credentials requests a second on two
    # workers (bench/README.md, "uvloop or asyncio's loop").
    config = TwofoldConfig(
        "twofold.app:asgi",
        factory=True,
        host=options["host"],
        port=options["port"],
        workers=options["workers"],
        ssl_certfile=options["ssl_certfile"],
        ssl_keyfile=options["ssl_keyfile"],
        server_header=False,
        log_config=None,
        timeout_graceful_shutdown=10,
        header_read_timeout=options["header_read_timeout"],
        body_read_timeout=options["body_read_timeout"],
    )
    server = uvicorn.Server(config=config)
    # Several workers: the port merges their files. One: it is this process, which reports its
    # own samples (kept in memory: prometheus_client was imported here before `samples` was set).
    exporter = (
        _metrics_port(metrics_host, metrics_port, samples if config.workers > 1 else None)
        if metrics_port is not None
        else None
    )
    try:
        if config.workers > 1:
            Multiprocess(config, sockets=[config.bind_socket()]).run()
        else:
            server.run()
    except KeyboardInterrupt:
        pass
    finally:
        if exporter is not None:
            exporter.close()
    if not server.started and config.workers == 1:
        sys.exit(STARTUP_FAILURE)

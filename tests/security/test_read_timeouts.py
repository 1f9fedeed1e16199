"""Slow clients (real sockets against `twofold serve`): a request head or body that does not
arrive in time no longer holds its connection.

The server runs with 1-second read timeouts (TWOFOLD_HEADER_READ_TIMEOUT,
TWOFOLD_BODY_READ_TIMEOUT). Every wait below is bounded far above that (HELD_FOR), so a loaded
machine cannot make a test fail; before the timeouts existed each of these connections was still
open when the bound ran out.
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from e2e._server import Tls, TwofoldServer, free_port

pytestmark = pytest.mark.e2e

TIMEOUT = "1"
HELD_FOR = 20.0  # a connection still open after this long is held "indefinitely"


class SlowClientServer(TwofoldServer):
    def env(self) -> dict[str, str]:
        env = super().env()
        env["TWOFOLD_HEADER_READ_TIMEOUT"] = TIMEOUT
        env["TWOFOLD_BODY_READ_TIMEOUT"] = TIMEOUT
        return env


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlowClientServer]:
    tmp: Path = tmp_path_factory.mktemp("slow")
    srv = SlowClientServer(
        workdir=tmp, port=free_port(), tls=Tls.create(tmp), pycache_dir=tmp / "pyc"
    )
    srv.migrate()
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@contextlib.contextmanager
def _connect(server: TwofoldServer) -> Iterator[ssl.SSLSocket]:
    raw = socket.create_connection(("127.0.0.1", server.port), timeout=HELD_FOR)
    sock = server.tls.client_context().wrap_socket(raw, server_hostname="127.0.0.1")
    try:
        yield sock
    finally:
        sock.close()


def _read_until_closed(sock: ssl.SSLSocket) -> bytes:
    """Everything the server sends until it closes; AssertionError if it is still open after
    HELD_FOR seconds."""
    received = b""
    deadline = time.monotonic() + HELD_FOR
    while time.monotonic() < deadline:
        sock.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65_536)
        except TimeoutError:
            break
        except (ssl.SSLError, ConnectionError):
            return received
        if not chunk:
            return received
        received += chunk
    raise AssertionError(f"connection still open after {HELD_FOR:.0f} s; got {received[:200]!r}")


def _closed_by_server(sock: ssl.SSLSocket) -> bool:
    """Whether the server has closed the connection (without waiting)."""
    if sock.pending() == 0 and not select.select([sock], [], [], 0)[0]:
        return False
    try:
        sock.settimeout(1.0)
        return sock.recv(65_536) == b""
    except (ssl.SSLError, ConnectionError):
        return True


HEAD = (
    "POST /oauth/token HTTP/1.1\r\n"
    "Host: 127.0.0.1\r\n"
    "Content-Type: application/x-www-form-urlencoded\r\n"
)


def test_half_a_request_head_is_closed(server):
    with _connect(server) as sock:
        sock.sendall(HEAD.encode())  # no blank line: the head never ends

        assert _read_until_closed(sock) == b""


def test_a_silent_connection_is_closed(server):
    with _connect(server) as sock:
        assert _read_until_closed(sock) == b""


def test_a_head_trickled_byte_by_byte_is_closed(server):
    # Each byte resets no timer: the head as a whole must arrive in time.
    with _connect(server) as sock:
        sock.sendall(HEAD.encode())
        deadline = time.monotonic() + HELD_FOR
        closed = False
        while time.monotonic() < deadline and not closed:
            with contextlib.suppress(ssl.SSLError, ConnectionError):
                sock.sendall(b"X")
            time.sleep(0.2)
            closed = _closed_by_server(sock)
        assert closed, f"still open after {HELD_FOR:.0f} s of trickling"


def test_a_body_that_does_not_arrive_gets_408_and_is_closed(server):
    with _connect(server) as sock:
        sock.sendall((HEAD + "Content-Length: 200\r\n\r\ngrant_type=pass").encode())

        answer = _read_until_closed(sock)

    status, _, rest = answer.partition(b"\r\n")
    assert status == b"HTTP/1.1 408 Request Timeout", answer[:300]
    head, _, body = rest.partition(b"\r\n\r\n")
    assert b"connection: close" in head.lower(), head
    assert b"application/json" in head.lower(), head
    assert json.loads(body)["error"] == "invalid_request", body


def test_a_chunked_body_that_stops_gets_408(server):
    with _connect(server) as sock:
        sock.sendall((HEAD + "Transfer-Encoding: chunked\r\n\r\n5\r\ngrant\r\n").encode())

        answer = _read_until_closed(sock)

    assert answer.startswith(b"HTTP/1.1 408 "), answer[:300]


def test_normal_requests_are_unaffected(server):
    with httpx.Client(
        base_url=server.base_url, verify=server.tls.client_context(), timeout=HELD_FOR
    ) as http:
        first = http.post("/oauth/token", data={"grant_type": "password"})
        # A kept-alive connection idle for longer than the head timeout, then reused.
        time.sleep(1.5)
        second = http.post("/oauth/token", data={"grant_type": "password"})
        health = http.get("/healthz")

    for resp in (first, second):
        assert resp.status_code in (400, 401), resp.text
        assert "error" in resp.json()
    assert health.status_code == 200


def test_a_body_sent_in_parts_in_time_is_answered(server):
    body = b"grant_type=password"
    with _connect(server) as sock:
        sock.sendall((HEAD + f"Content-Length: {len(body)}\r\n\r\n").encode())
        time.sleep(0.2)
        sock.sendall(body[:5])
        time.sleep(0.2)
        sock.sendall(body[5:])
        sock.settimeout(HELD_FOR)
        answer = sock.recv(65_536)

    assert answer.startswith((b"HTTP/1.1 400 ", b"HTTP/1.1 401 ")), answer[:300]

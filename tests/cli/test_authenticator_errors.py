"""`twofold authenticator` reports a server it cannot reach, or whose TLS fails, in one line."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from urllib.parse import quote

import pytest
from click.testing import CliRunner

from twofold.cli import main


def enroll(tmp_path: Path, base_url: str) -> tuple[int, list[str]]:
    uri = f"otpauth://totp/Demo:ada?enrollment_tx_id=tx1&base_url={quote(base_url, safe='')}"
    state = str(tmp_path / "authenticator.json")
    result = CliRunner().invoke(main, ["authenticator", "--state", state, "enroll", uri])
    return result.exit_code, result.stderr.strip().splitlines()


class Quiet(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def plain_http_port() -> Iterator[int]:
    server = HTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_a_refused_connection_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    status, lines = enroll(tmp_path, f"http://127.0.0.1:{port}")
    assert status == 1
    assert len(lines) == 1
    assert lines[0].startswith(f"Error: cannot reach the server at http://127.0.0.1:{port}: ")


def test_https_to_a_plain_http_server_is_one_tls_line(tmp_path: Path, plain_http_port: int) -> None:
    status, lines = enroll(tmp_path, f"https://127.0.0.1:{plain_http_port}")
    assert status == 1
    assert len(lines) == 1
    assert "TLS failed" in lines[0]
    assert "plain HTTP" in lines[0]
    assert not (tmp_path / "authenticator.json").exists()

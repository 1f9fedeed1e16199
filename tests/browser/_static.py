"""The single-page app's web server: static files over HTTPS on the app host, in a thread of
this process. It serves the test app (sdk/spa/), auth0-spa-js as npm installed it, and the
app's configuration as /config.json (set by the test before it opens the page, so one server
serves every configuration a module tries)."""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from e2e._server import Tls, free_port

from ._sites import APP_HOST, LOOPBACK

SDK_DIR = Path(__file__).parent / "sdk"
SPA_DIR = SDK_DIR / "spa"
SPA_JS = SDK_DIR / "node_modules" / "@auth0" / "auth0-spa-js" / "dist"
FILES = {
    "/": (SPA_DIR / "index.html", "text/html; charset=utf-8"),
    "/spa.js": (SPA_DIR / "spa.js", "text/javascript; charset=utf-8"),
    "/auth0-spa-js.js": (SPA_JS / "auth0-spa-js.production.js", "text/javascript; charset=utf-8"),
}


@dataclass
class SpaSite:
    """The app's origin and what it serves; `config` is what the page reads at start."""

    port: int
    config: dict[str, Any] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)

    @property
    def origin(self) -> str:
        return f"https://{APP_HOST}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.origin}/"


STAND_IN = b"<!doctype html><title>The app</title><h1 id='app'>The app</h1>"


def _handler(site: SpaSite, stand_in: bool) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            site.requests.append(self.path)
            if stand_in:
                self._send(STAND_IN, "text/html; charset=utf-8")
                return
            if path == "/config.json":
                self._send(json.dumps(site.config).encode(), "application/json")
                return
            found = FILES.get(path)
            if found is None:
                self.send_error(HTTPStatus.NOT_FOUND)
                return
            file, content_type = found
            self._send(file.read_bytes(), content_type)

        def _send(self, body: bytes, content_type: str) -> None:
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return None  # the request list above is the log

    return Handler


@contextmanager
def serving_spa(tls: Tls, *, stand_in: bool = False) -> Iterator[SpaSite]:
    """The app's HTTPS server on 127.0.0.1 (reached as https://app.example.test:PORT). As a
    `stand_in` it answers every GET with one plain page: the app host of a server-side app
    whose own work (the callback) the test does itself; `requests` says what it was asked."""
    missing = [str(path) for path, _ in FILES.values() if not path.exists()]
    assert not missing, f"run `make test` (npm ci in {SDK_DIR}): missing {missing}"
    site = SpaSite(port=free_port())
    server = ThreadingHTTPServer((LOOPBACK, site.port), _handler(site, stand_in))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls.cert_file, tls.key_file)
    # The handshake then runs in the request's thread, not in the one that accepts.
    server.socket = context.wrap_socket(
        server.socket, server_side=True, do_handshake_on_connect=False
    )
    thread = threading.Thread(target=server.serve_forever, name="spa-site", daemon=True)
    thread.start()
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

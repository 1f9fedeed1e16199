"""The express-openid-connect test app (sdk/express-app.mjs) as a process: started over HTTPS on
the app host with the configuration a test gives, trusting the test CA (NODE_EXTRA_CA_CERTS)
and finding the test hosts, stopped when the test is done."""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from e2e._server import Tls, stop_process, tail, wait_until_ready

from ._sites import APP_HOST, node_env

SDK_DIR = Path(__file__).parent / "sdk"
APP_SCRIPT = SDK_DIR / "express-app.mjs"


@dataclass(frozen=True)
class ExpressApp:
    port: int
    log_file: Path

    @property
    def base_url(self) -> str:
        return f"https://{APP_HOST}:{self.port}"

    def url(self, path: str = "/") -> str:
        return f"{self.base_url}{path}"

    def log(self) -> str:
        return tail(self.log_file)


def node_ready() -> str:
    node = shutil.which("node")
    assert node is not None, "Node.js is needed for express-openid-connect (apt-get install nodejs)"
    assert (SDK_DIR / "node_modules" / ".package-lock.json").exists(), (
        f"the pinned npm packages are not installed: run `make test`, or `npm ci` in {SDK_DIR}"
    )
    return node


@contextmanager
def running_express(
    tls: Tls, workdir: Path, issuer: str, port: int, **auth: Any
) -> Iterator[ExpressApp]:
    """The app on `port` with express-openid-connect's `auth(...)` options `auth`
    (issuerBaseURL, baseURL and a session secret are filled in)."""
    app = ExpressApp(port=port, log_file=workdir / f"express-{port}.log")
    options = {
        "issuerBaseURL": issuer,
        "baseURL": app.base_url,
        "secret": secrets.token_urlsafe(32),
        **auth,
    }
    payload = {"port": port, "cert": str(tls.cert_file), "key": str(tls.key_file), "auth": options}
    with app.log_file.open("ab") as log:
        process = subprocess.Popen(
            [node_ready(), str(APP_SCRIPT)],
            cwd=SDK_DIR,
            env={**node_env(tls), "DEBUG": "express-openid-connect:*"},
            stdin=subprocess.PIPE,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    assert process.stdin is not None
    process.stdin.write(json.dumps(payload).encode())
    process.stdin.close()
    try:
        wait_until_ready(process, app.url("/healthz"), app.log, tls.client_context())
        yield app
    finally:
        stop_process(process)

"""Runs the Node.js side of the end-to-end tests: the scripts in tests/e2e/node/, with the SDKs
pinned in its package.json and package-lock.json (`make test` runs `npm ci` there).

Node's fetch trusts the test CA through NODE_EXTRA_CA_CERTS, added to its built-in roots, so
verification stays on. Each step is a fresh `node` process reading its input as JSON on stdin
(secrets stay off the command line) and printing its output as JSON.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from ._server import Client, TwofoldServer

NODE_DIR = Path(__file__).parent / "node"
STEP_TIMEOUT = 60.0


def node_ready() -> str:
    """The `node` executable, once the pinned packages are installed; fails saying how if not."""
    node = shutil.which("node")
    assert node is not None, "Node.js is needed for the Node SDK tests (apt-get install nodejs)"
    assert (NODE_DIR / "node_modules" / ".package-lock.json").exists(), (
        f"the pinned npm packages are not installed: run `make test`, or `npm ci` in {NODE_DIR}"
    )
    return node


def run_step(server: TwofoldServer, client: Client, script: str, step: str, **args: Any) -> Any:
    """`node SCRIPT STEP` with the client's credentials and `args`; its JSON output."""
    env = dict(os.environ)
    env["NODE_EXTRA_CA_CERTS"] = str(server.tls.ca_file)
    payload = {
        "domain": server.domain,
        "clientId": client.client_id,
        "clientSecret": client.client_secret,
        "args": args,
    }
    done = subprocess.run(
        [node_ready(), script, step],
        input=json.dumps(payload),
        cwd=NODE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, (
        f"node {script} {step} exited {done.returncode}\n--- stderr ---\n{done.stderr}\n"
        f"--- stdout ---\n{done.stdout}"
    )
    return json.loads(done.stdout)

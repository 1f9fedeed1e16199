"""A worker hides what it built at startup from the garbage collector.

Every full collection used to walk the ~150,000 objects a worker builds once (modules, the app,
the services): 85 ms on the event loop every few seconds under load, which every request in
flight waited for. The worker runs in a subprocess here: the lifespan configures logging and
freezes the collector's objects, neither of which may leak into the test process.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from twofold.storage import migrate

_WORKER = """
import gc, json
from starlette.testclient import TestClient
from twofold import app

gc.unfreeze()
before = gc.get_freeze_count()
with TestClient(app.asgi()) as client:
    frozen = gc.get_freeze_count()
    status = client.get("/healthz").status_code
    # What a full collection still walks: only what was made since startup.
    walked = len(gc.get_objects())
print(json.dumps({"before": before, "frozen": frozen, "status": status, "walked": walked}))
"""


def test_a_worker_freezes_what_it_built_at_startup(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'twofold.db'}"
    migrate.upgrade(url)
    env = {
        "PATH": "/usr/bin:/bin",
        "TWOFOLD_DATABASE_URL": url,
        "TWOFOLD_DATA_DIR": str(tmp_path),
        "TWOFOLD_LOG_LEVEL": "warning",
    }
    done = subprocess.run(
        [sys.executable, "-c", _WORKER], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["before"] == 0
    assert seen["status"] == 200
    # The app, its services and the modules they import are out of the collector's sight...
    assert seen["frozen"] > 50_000
    # ...and what it still walks is a small part of the process.
    assert seen["walked"] * 5 < seen["frozen"]

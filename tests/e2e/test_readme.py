"""README.md's shell blocks, run in order against a real `twofold serve --demo`, so that the
README cannot drift from what Twofold does.

The server is started as `make run` starts it (`twofold serve --demo`, console delivery) on a
free port, in a fresh directory holding a `.venv` link to this interpreter's environment. The
blocks run in one bash session (variables carry over), with `set -eo pipefail`, from that
directory, with `PORT` set. The only edits are the ones a reader makes: each `<…>` placeholder
becomes the value the server printed (the demo credentials, the code in an email on its
console). A block preceded by a `<!-- not run by tests/e2e/test_readme.py … -->` comment is
skipped (it starts a server, or needs real providers).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ._server import free_port, spawn_serve, stop_process, tail, wait_until_ready

README = Path(__file__).resolve().parents[2] / "README.md"
SKIP = "<!-- not run by tests/e2e/test_readme.py"
BLOCK = re.compile(r"^```sh\n(.*?)^```", re.MULTILINE | re.DOTALL)
PLACEHOLDER = re.compile(r"<([^<>\n]+)>")
BLOCK_TIMEOUT = 120.0


def readme_blocks(text: str) -> list[str]:
    blocks = []
    for match in BLOCK.finditer(text):
        before = text[: match.start()].rstrip().splitlines()
        if before and before[-1].startswith(SKIP):
            continue
        blocks.append(match.group(1))
    return blocks


class Demo:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.log = workdir / "serve.log"
        self.env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("TWOFOLD_") or k.startswith(("TWOFOLD_TEST_", "TWOFOLD_E2E_"))
        }
        self.env.update(
            {
                "TWOFOLD_LOG_FORMAT": "console",
                "TWOFOLD_ARGON2_TIME_COST": "1",
                "TWOFOLD_ARGON2_MEMORY_COST": "1024",
                "TWOFOLD_AUTHENTICATOR_STATE": str(workdir / "authenticator.json"),
                "PORT": str(self.port),
                "PYTHONUNBUFFERED": "1",
            }
        )
        (workdir / ".venv").symlink_to(Path(sys.prefix))
        self.process = spawn_serve(
            ["--demo", "--port", str(self.port)], self.env, workdir, self.log
        )
        wait_until_ready(
            self.process, f"http://127.0.0.1:{self.port}/healthz", lambda: tail(self.log)
        )

    def printed(self, name: str) -> str:
        found = re.search(rf"^  {re.escape(name)} +(\S+)$", self.log.read_text(), re.MULTILINE)
        assert found, f"the demo did not print {name}\n{tail(self.log)}"
        return found.group(1)

    def email_code(self, address: str) -> str:
        text = self.log.read_text()
        start = text.rfind(f"[twofold console email to {address}]")
        assert start >= 0, f"no email to {address} on the console\n{tail(self.log)}"
        code = re.search(r"\b\d{6}\b", text[start:])
        assert code, text[start:]
        return code.group(0)

    def fill(self, placeholder: str) -> str:
        if placeholder in ("client_id", "client_secret", "password"):
            return self.printed(placeholder)
        email = re.search(r"email to (\S+@\S+)", placeholder)
        if email:
            return self.email_code(email.group(1))
        raise AssertionError(f"README placeholder <{placeholder}> means nothing to this test")


class Shell:
    """One bash session; each block's output up to a marker, and its status."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            ["bash", "--noprofile", "--norc"],
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        self.run("set -eo pipefail")

    def run(self, script: str) -> str:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        marker = f"__block_done_{uuid.uuid4().hex}__"
        self.process.stdin.write(f"{script}\necho; echo {marker}\n")
        self.process.stdin.flush()
        lines = []
        deadline = time.monotonic() + BLOCK_TIMEOUT
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:  # `set -e` ended the shell: a command failed
                raise AssertionError(
                    f"a command failed (status {self.process.wait()}):\n{script}\n"
                    f"output:\n{''.join(lines)}"
                )
            if line.strip() == marker:
                return "".join(lines)
            lines.append(line)
        raise AssertionError(f"block still running after {BLOCK_TIMEOUT:.0f} s:\n{script}")

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(timeout=10)


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    server = Demo(tmp_path)
    try:
        yield server
    finally:
        stop_process(server.process)


def test_every_readme_block_runs_in_order(demo: Demo) -> None:
    blocks = readme_blocks(README.read_text())
    assert len(blocks) >= 4, "the README lost its runnable blocks"
    shell = Shell(demo.workdir, demo.env)
    outputs = []
    try:
        for block in blocks:
            script = PLACEHOLDER.sub(lambda m: demo.fill(m.group(1)), block)
            output = shell.run(script)
            assert '"error"' not in output, f"{block}\n→\n{output}\nserver:\n{tail(demo.log)}"
            outputs.append(output)
    finally:
        shell.close()
    everything = "".join(outputs)
    # TOTP confirmation, the recovery-code grant, the email and the push grants: tokens each.
    assert everything.count('"access_token"') == 4, everything
    assert '{"challenge_type":"otp"}' in everything
    assert "enrolled push|dev_" in everything
    assert "enabled factors: otp, email, push-notification, recovery-code" in everything
    assert "gd_enrollment_complete" in outputs[-1]  # audit list --user by email

"""Run a real Twofold server as a subprocess, configured only through its CLI and environment.

Nothing here imports Twofold: the tests see it the way an operator does, through `twofold ...`
commands and HTTPS.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shlex
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import trustme

STARTUP_TIMEOUT = 20.0
SHUTDOWN_TIMEOUT = 15.0  # above uvicorn's graceful-shutdown timeout
CLI_TIMEOUT = 60.0
LOG_TAIL_CHARS = 12_000


def twofold_command() -> list[str]:
    """The `twofold` CLI: the venv's script, or TWOFOLD_E2E_COMMAND (e.g. another install)."""
    override = os.environ.get("TWOFOLD_E2E_COMMAND")
    if override:
        return shlex.split(override)
    return [str(Path(sys.executable).parent / "twofold")]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tail(path: Path, limit: int = LOG_TAIL_CHARS) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return "<no log file>"
    return text if len(text) <= limit else "…" + text[-limit:]


def spawn_serve(
    args: list[str], env: dict[str, str], cwd: Path, log_file: Path
) -> subprocess.Popen[bytes]:
    """`twofold serve <args>` in its own process group (so its workers end with it), its
    output appended to `log_file`."""
    with log_file.open("ab") as log:
        return subprocess.Popen(
            [*twofold_command(), "serve", *args],
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_until_ready(
    process: subprocess.Popen[bytes],
    url: str,
    describe: Callable[[], str],
    verify: ssl.SSLContext | bool = True,
    timeout: float = STARTUP_TIMEOUT,
) -> None:
    """Poll `url` until it answers 200; AssertionError (with `describe()`) if the process exits
    first or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    last_error = "no attempt made"
    with httpx.Client(verify=verify, timeout=2.0) as http:
        while time.monotonic() < deadline:
            code = process.poll()
            if code is not None:
                raise AssertionError(
                    f"twofold serve exited with {code} before becoming ready\n{describe()}"
                )
            try:
                response = http.get(url)
            except httpx.HTTPError as exc:
                last_error = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code == 200:
                    return
                last_error = f"GET {url} -> {response.status_code} {response.text[:500]}"
            time.sleep(0.1)
    raise AssertionError(
        f"twofold serve not ready within {timeout:.0f} s (last: {last_error})\n{describe()}"
    )


def stop_process(proc: subprocess.Popen[bytes] | None) -> int | None:
    """SIGTERM, then SIGKILL to the whole process group if it does not end in time."""
    if proc is None:
        return None
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=SHUTDOWN_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # the group spawn_serve created
            proc.wait(timeout=SHUTDOWN_TIMEOUT)
    return proc.returncode


@dataclass(frozen=True)
class Tls:
    """A throw-away CA and a server certificate for 127.0.0.1, written to files."""

    ca: trustme.CA
    ca_file: Path
    cert_file: Path
    key_file: Path

    @classmethod
    def create(cls, directory: Path) -> Tls:
        ca = trustme.CA(organization_name="Twofold e2e test CA")
        leaf = ca.issue_cert("127.0.0.1", "localhost")
        ca_file = directory / "ca.pem"
        cert_file = directory / "server-chain.pem"
        key_file = directory / "server-key.pem"
        ca.cert_pem.write_to_path(str(ca_file))
        cert_file.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
        leaf.private_key_pem.write_to_path(str(key_file))
        return cls(ca=ca, ca_file=ca_file, cert_file=cert_file, key_file=key_file)

    def client_context(self) -> ssl.SSLContext:
        """A verifying client context that trusts only the test CA."""
        ctx = ssl.create_default_context(cafile=str(self.ca_file))
        ctx.check_hostname = True
        return ctx


@dataclass(frozen=True)
class Client:
    client_id: str
    client_secret: str


@dataclass(frozen=True)
class User:
    label: str
    email: str
    password: str
    user_id: str


class CliError(AssertionError):
    pass


@dataclass
class TwofoldServer:
    """One Twofold instance: its data directory, database, port and (once started) process."""

    workdir: Path
    port: int
    tls: Tls
    workers: int = 1
    pycache_dir: Path | None = None
    process: subprocess.Popen[bytes] | None = None
    log_file: Path = field(init=False)
    cli_log: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_file = self.workdir / "server.log"

    # ---- addresses ---------------------------------------------------------------------------

    @property
    def domain(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"https://{self.domain}"

    @property
    def issuer(self) -> str:
        return f"https://{self.domain}/"

    @property
    def mfa_audience(self) -> str:
        return f"https://{self.domain}/mfa/"

    @property
    def data_dir(self) -> Path:
        return self.workdir / "data"

    @property
    def database_file(self) -> Path:
        return self.workdir / "twofold.db"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "TWOFOLD_DATABASE_URL": f"sqlite:///{self.database_file}",
                "TWOFOLD_DOMAIN": self.domain,
                "TWOFOLD_DATA_DIR": str(self.data_dir),
                "TWOFOLD_ENVIRONMENT": "test",
                "TWOFOLD_ARGON2_TIME_COST": "1",
                "TWOFOLD_ARGON2_MEMORY_COST": "1024",
                "TWOFOLD_LOG_FORMAT": "json",
                "PYTHONUNBUFFERED": "1",
            }
        )
        if self.pycache_dir is not None:
            # Every CLI call is a fresh interpreter; where the environment forbids bytecode
            # files (PYTHONDONTWRITEBYTECODE), each would compile the whole app again (~3 s).
            # Cache the bytecode under the test run's temp dir instead, never in the tree.
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = str(self.pycache_dir)
        return env

    # ---- CLI ---------------------------------------------------------------------------------

    def cli(self, *args: str) -> str:
        cmd = [*twofold_command(), *args]
        try:
            done = subprocess.run(
                cmd,
                env=self.env(),
                cwd=self.workdir,
                capture_output=True,
                text=True,
                timeout=CLI_TIMEOUT,
                check=False,
            )
        except FileNotFoundError as exc:
            raise CliError(f"cannot run {cmd[0]!r}: {exc}") from exc
        self.cli_log.append(f"$ {shlex.join(args)}\n{done.stdout}{done.stderr}")
        if done.returncode != 0:
            raise CliError(
                f"`twofold {shlex.join(args)}` exited {done.returncode}\n"
                f"--- stdout ---\n{done.stdout}\n--- stderr ---\n{done.stderr}"
            )
        return done.stdout

    def cli_json(self, *args: str) -> dict[str, Any]:
        out = self.cli(*args)
        with contextlib.suppress(ValueError):
            value = json.loads(out)
            if isinstance(value, dict):
                return value
        # Tolerate log lines around the JSON document: take the last line that is a JSON object.
        for line in reversed(out.splitlines()):
            with contextlib.suppress(ValueError):
                value = json.loads(line)
                if isinstance(value, dict):
                    return value
        raise CliError(f"`twofold {shlex.join(args)}` printed no JSON object:\n{out}")

    def migrate(self) -> None:
        self.cli("migrate")

    def create_client(self, name: str, *extra: str) -> Client:
        data = self.cli_json("clients", "create", "--name", name, *extra, "--json")
        return Client(client_id=str(data["client_id"]), client_secret=str(data["client_secret"]))

    def create_api(self, identifier: str, *scopes: str) -> None:
        args = ["apis", "create", "--identifier", identifier]
        for scope in scopes:
            args += ["--scope", scope]
        self.cli(*args)

    def create_user(self, label: str, email: str, password: str) -> User:
        data = self.cli_json(
            "users",
            "create",
            "--email",
            email,
            "--password",
            password,
            "--email-verified",
            "--json",
        )
        return User(label=label, email=email, password=password, user_id=str(data["user_id"]))

    def create_users(self, labels: tuple[str, ...], mail_domain: str) -> dict[str, User]:
        """A user per label, with a random email address at `mail_domain` and password."""
        return {
            label: self.create_user(
                label,
                email=f"{label}-{secrets.token_hex(4)}@{mail_domain}",
                password=f"pw-{label}-{secrets.token_urlsafe(18)}",
            )
            for label in labels
        }

    # ---- process -----------------------------------------------------------------------------

    def start(self) -> None:
        args = ["--host", "127.0.0.1", "--port", str(self.port)]
        args += ["--tls-cert", str(self.tls.cert_file), "--tls-key", str(self.tls.key_file)]
        args += ["--workers", str(self.workers)]
        self.process = spawn_serve(args, self.env(), self.workdir, self.log_file)
        try:
            wait_until_ready(
                self.process, f"{self.base_url}/healthz", self.describe, self.tls.client_context()
            )
        except AssertionError:
            self.stop()
            raise

    def stop(self) -> int | None:
        return stop_process(self.process)

    def describe(self) -> str:
        return (
            f"--- twofold server log ({self.log_file}) ---\n{tail(self.log_file)}\n"
            f"--- twofold CLI calls ---\n" + "\n".join(self.cli_log[-10:])
        )

    def log_text(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

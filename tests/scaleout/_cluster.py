"""Three Twofold nodes on one PostgreSQL schema and one Redis prefix, behind nginx.

Nothing here imports Twofold: nodes are `twofold serve` processes configured through the
environment, administered with `twofold …` CLI commands, and reached over HTTP(S) like an
operator's.
nginx runs as our own subprocess (its own prefix, pid and log files under the test's temp dir),
never as the system service; its server block is the one documented in docs/deploy.md.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from e2e._server import (
    Tls,
    free_port,
    spawn_serve,
    stop_process,
    tail,
    twofold_command,
    wait_until_ready,
)

REPO = Path(__file__).resolve().parents[2]
DEPLOY_DOC = REPO / "docs" / "deploy.md"
STARTUP_TIMEOUT = 30.0
SHUTDOWN_TIMEOUT = 15.0  # above uvicorn's 10 s graceful-shutdown timeout
CLI_TIMEOUT = 60.0
INSTALL_TIMEOUT = 600.0
# Short, so the key-rotation test waits seconds rather than the default 30.
SIGNING_KEY_CACHE_SECONDS = 2
NGINX_PACKAGES = ("nginx", "nginx-light")


class ClusterError(AssertionError):
    pass


# ---- nginx --------------------------------------------------------------------------------------


def _binary(program: str) -> str | None:
    found = shutil.which(program)
    if found:
        return found
    candidates = (f"/usr/sbin/{program}", f"/usr/local/sbin/{program}")
    return next((p for p in candidates if Path(p).is_file()), None)


def _apt(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    cmd = ["apt-get", "-o", "DPkg::Lock::Timeout=120", *args]
    return subprocess.run(
        cmd, env=env, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False
    )


def ensure_program(program: str, packages: tuple[str, ...]) -> str:
    """The program's binary, installed from Debian's packages (the first of `packages` that
    installs) when missing. Fails, never skips."""
    found = _binary(program)
    if found:
        return found
    if shutil.which("apt-get") is None:
        raise ClusterError(f"{program} is not installed and there is no apt-get to install it with")
    if os.geteuid() != 0:
        raise ClusterError(
            f"{program} is missing: install it (apt-get install {packages[0]}) or run as root"
        )
    log: list[str] = []
    for refresh in (False, True):
        if refresh:
            done = _apt("update")
            log.append(f"$ apt-get update -> {done.returncode}\n{done.stderr[-2000:]}")
        for package in packages:
            done = _apt("install", "-y", "--no-install-recommends", package)
            log.append(f"$ apt-get install {package} -> {done.returncode}\n{done.stderr[-2000:]}")
            found = _binary(program)
            if done.returncode == 0 and found:
                return found
    raise ClusterError(f"could not install {program}:\n" + "\n".join(log))


def ensure_nginx() -> str:
    """The nginx binary, installed from Debian's packages when missing. Fails, never skips."""
    return ensure_program("nginx", NGINX_PACKAGES)


def documented_nginx_server_config() -> str:
    """The ```nginx block of docs/deploy.md: what operators copy, and what this test runs."""
    match = re.search(r"```nginx\n(.*?)```", DEPLOY_DOC.read_text(), re.DOTALL)
    if match is None:
        raise ClusterError(f"no ```nginx block in {DEPLOY_DOC}")
    return match.group(1)


def _substitute(text: str, replacements: dict[str, str]) -> str:
    for old, new in replacements.items():
        if old not in text:
            raise ClusterError(f"docs/deploy.md's nginx block no longer contains {old!r}")
        text = text.replace(old, new)
    return text


@dataclass
class Nginx:
    binary: str
    workdir: Path
    port: int
    node_ports: list[int]
    tls: Tls
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def error_log(self) -> Path:
        return self.workdir / "error.log"

    def write_config(self) -> Path:
        server = _substitute(
            documented_nginx_server_config(),
            {
                "server 127.0.0.1:8081 ": f"server 127.0.0.1:{self.node_ports[0]} ",
                "server 127.0.0.1:8082 ": f"server 127.0.0.1:{self.node_ports[1]} ",
                "server 127.0.0.1:8083 ": f"server 127.0.0.1:{self.node_ports[2]} ",
                "listen 443 ssl;": f"listen 127.0.0.1:{self.port} ssl;",
                "/etc/ssl/twofold/fullchain.pem": str(self.tls.cert_file),
                "/etc/ssl/twofold/privkey.pem": str(self.tls.key_file),
            },
        )
        (self.workdir / "twofold.conf").write_text(server)
        w = self.workdir
        main = f"""
daemon off;
worker_processes 1;
pid {w}/nginx.pid;
error_log {w}/error.log notice;
events {{ worker_connections 1024; }}
http {{
    access_log {w}/access.log;
    client_body_temp_path {w}/client_body;
    proxy_temp_path {w}/proxy;
    fastcgi_temp_path {w}/fastcgi;
    uwsgi_temp_path {w}/uwsgi;
    scgi_temp_path {w}/scgi;
    include {w}/twofold.conf;
}}
"""
        path = self.workdir / "nginx.conf"
        path.write_text(main)
        return path

    def start(self) -> None:
        conf = self.write_config()
        base = [self.binary, "-p", str(self.workdir), "-c", str(conf), "-e", str(self.error_log)]
        check = subprocess.run(
            [*base, "-t"], capture_output=True, text=True, timeout=30, check=False
        )
        if check.returncode != 0:
            raise ClusterError(f"nginx -t refused the configuration:\n{check.stderr}")
        with (self.workdir / "stdout.log").open("ab") as out:
            self.process = subprocess.Popen(
                base, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + STARTUP_TIMEOUT
        with httpx.Client(verify=self.tls.client_context(), timeout=2.0) as http:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise ClusterError(f"nginx exited early:\n{tail(self.error_log)}")
                with contextlib.suppress(httpx.HTTPError):
                    if http.get(f"{self.base_url}/healthz").status_code == 200:
                        return
                time.sleep(0.1)
        raise ClusterError(f"nginx not ready in {STARTUP_TIMEOUT:.0f} s\n{tail(self.error_log)}")

    def stop(self) -> None:
        proc = self.process
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGQUIT)  # graceful: finish requests, then exit
        try:
            proc.wait(timeout=SHUTDOWN_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=SHUTDOWN_TIMEOUT)


# ---- Twofold nodes ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Client:
    client_id: str
    client_secret: str


@dataclass(frozen=True)
class User:
    email: str
    password: str
    user_id: str


@dataclass
class Node:
    name: str
    port: int
    workdir: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        """host:port, as nginx's $upstream_addr names it."""
        return f"127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"http://{self.address}"

    @property
    def log_file(self) -> Path:
        return self.workdir / f"{self.name}.log"

    def spawn(self) -> None:
        args = ["--host", "127.0.0.1", "--port", str(self.port)]
        self.process = spawn_serve(args, self.env, self.workdir, self.log_file)

    def wait_ready(self) -> None:
        assert self.process is not None
        describe = lambda: f"--- {self.name} ({self.log_file}) ---\n{tail(self.log_file)}"  # noqa: E731
        wait_until_ready(self.process, f"{self.base_url}/readyz", describe, timeout=STARTUP_TIMEOUT)

    def stop(self) -> int | None:
        return stop_process(self.process)


@dataclass
class Cluster:
    workdir: Path
    database_url: str
    redis_url: str
    redis_prefix: str
    tls: Tls
    pycache_dir: Path
    extra_settings: dict[str, str] = field(default_factory=dict)
    nodes: list[Node] = field(default_factory=list)
    nginx: Nginx | None = None
    cli_log: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.nginx_port = free_port()
        self.encryption_keys = f"k1:{base64.urlsafe_b64encode(os.urandom(32)).decode()}"

    # ---- configuration shared by every node and the CLI ------------------------------------

    @property
    def domain(self) -> str:
        return f"127.0.0.1:{self.nginx_port}"

    @property
    def issuer(self) -> str:
        return f"https://{self.domain}/"

    @property
    def base_url(self) -> str:
        return f"https://{self.domain}"

    def settings(self) -> dict[str, str]:
        """Every node's Twofold settings (TWOFOLD_* without the prefix, lower case)."""
        return {
            "environment": "production",
            "domain": self.domain,
            "database_url": self.database_url,
            "redis_url": self.redis_url,
            "redis_prefix": self.redis_prefix,
            "encryption_keys": self.encryption_keys,
            "data_dir": str(self.workdir / "data"),
            "signing_key_cache_seconds": str(SIGNING_KEY_CACHE_SECONDS),
            "argon2_time_cost": "1",
            "argon2_memory_cost": "1024",
            "log_format": "json",
            **self.extra_settings,
        }

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env.update({f"TWOFOLD_{k.upper()}": v for k, v in self.settings().items()})
        env["PYTHONUNBUFFERED"] = "1"
        # Each CLI call is a fresh interpreter: cache bytecode in the run's temp dir.
        env["PYTHONPYCACHEPREFIX"] = str(self.pycache_dir)
        return env

    # ---- CLI ---------------------------------------------------------------------------------

    def cli(self, *args: str) -> str:
        cmd = [*twofold_command(), *args]
        done = subprocess.run(
            cmd,
            env=self.env(),
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT,
            check=False,
        )
        # Never record secrets printed by `--json` commands; the exit code and stderr suffice.
        self.cli_log.append(f"$ twofold {shlex.join(args)} -> {done.returncode}\n{done.stderr}")
        if done.returncode != 0:
            raise ClusterError(
                f"`twofold {shlex.join(args)}` exited {done.returncode}\n{done.stdout}{done.stderr}"
            )
        return done.stdout

    # ---- processes ---------------------------------------------------------------------------

    def start(self, nginx_binary: str, count: int = 3) -> None:
        env = self.env()
        self.nodes = [
            Node(name=f"node{i + 1}", port=free_port(), workdir=self.workdir, env=env)
            for i in range(count)
        ]
        # Started together, as an orchestrator would: they race for the first signing key.
        for node in self.nodes:
            node.spawn()
        with ThreadPoolExecutor(len(self.nodes)) as pool:
            list(pool.map(lambda n: n.wait_ready(), self.nodes))
        self.nginx = Nginx(
            binary=nginx_binary,
            workdir=self.workdir / "nginx",
            port=self.nginx_port,
            node_ports=[n.port for n in self.nodes],
            tls=self.tls,
        )
        self.nginx.workdir.mkdir(parents=True, exist_ok=True)
        self.nginx.start()

    def stop(self) -> None:
        if self.nginx is not None:
            self.nginx.stop()
        for node in self.nodes:
            node.stop()

    def node_at(self, upstream: str) -> Node:
        return next(n for n in self.nodes if n.address == upstream)

    def describe(self) -> str:
        parts = [f"--- {n.name} ({n.address}) ---\n{tail(n.log_file, 4000)}" for n in self.nodes]
        if self.nginx is not None:
            parts.append(f"--- nginx error log ---\n{tail(self.nginx.error_log, 4000)}")
        parts.append("--- CLI calls ---\n" + "\n".join(self.cli_log[-12:]))
        return "\n".join(parts)

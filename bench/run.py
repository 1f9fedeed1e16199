"""`make bench`: Twofold under wrk, next to a bare-Starlette ceiling, on loopback, in one run.

    .venv/bin/python bench/run.py                        # full matrix (about 7 minutes)
    .venv/bin/python bench/run.py --quick                # smoke run (about 2 minutes)
    .venv/bin/python bench/run.py --scale 10000,1000000  # the same scenarios at two sizes
    .venv/bin/python bench/run.py --database-url postgresql://…   # a throw-away database
    .venv/bin/python bench/run.py --database-url postgresql://… --redis-url redis://…/12

Everything runs on 127.0.0.1 and is bounded: every wrk cell by -d, every wait by a deadline,
every body list by a count. See bench/README.md for what is measured and how to read it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import procs
import report
import sign_algs

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
LUA = BENCH_DIR / "wrk" / "bodies.lua"
TWOFOLD = Path(sys.executable).parent / "twofold"
DOMAIN = "bench.twofold.invalid"
PASSWORD = "bench-password-" + "x" * 8
SCOPE = "openid profile email"
# The API the client-credentials scenario asks a token for.
API = "https://bench.api.invalid/"
GRANT_OTP = "http://auth0.com/oauth/grant-type/mfa-otp"
GRANT_RECOVERY = "http://auth0.com/oauth/grant-type/mfa-recovery-code"
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
TOTP_PERIOD = 30
# Pool sizes for the cells whose bodies can repeat.
CHALLENGE_TOKENS = 2000
PASSWORD_USERS = 200


@dataclass(frozen=True)
class Scenario:
    name: str
    target: str  # "ceiling" or "twofold"
    method: str
    path: str
    content_type: str = FORM
    ok_status: int = 200
    ok_match: str = ""
    # Single-use bodies (mfa_token + code): each body is meant to be sent once.
    once: bool = False


SCENARIOS = {
    s.name: s
    for s in (
        Scenario("ceiling", "ceiling", "POST", "/oauth/token"),
        Scenario("jwks", "twofold", "GET", "/.well-known/jwks.json"),
        Scenario("challenge", "twofold", "POST", "/mfa/challenge", content_type=JSON),
        Scenario("mfa-otp", "twofold", "POST", "/oauth/token", once=True),
        Scenario("recovery-code", "twofold", "POST", "/oauth/token", once=True),
        Scenario(
            "password", "twofold", "POST", "/oauth/token", ok_status=403, ok_match="mfa_required"
        ),
        # One signature per request (the access token) and no user: the client's secret is
        # checked against its stored hash on every request (client_secret_post, reusable).
        Scenario("client-credentials", "twofold", "POST", "/oauth/token"),
    )
}


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


# --------------------------------------------------------------------------------------------
# wrk


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    log("wrk not found: installing the Debian package")
    install = ["apt-get", "install", "-y", "wrk"]
    if subprocess.run(install, check=False, timeout=600).returncode != 0:
        subprocess.run(["apt-get", "update"], check=True, timeout=600)
        subprocess.run(install, check=True, timeout=600)
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk is still missing after apt-get install wrk")
    return found


def wrk_version() -> str:
    out = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False, timeout=10)
    text = (out.stdout or out.stderr or "").strip()
    return text.splitlines()[0].split(" Copyright")[0].strip() if text else ""


def run_wrk(
    scn: Scenario,
    port: int,
    connections: int,
    duration: float,
    threads: int,
    bodies: Path | None,
    timeout_s: float,
) -> dict[str, Any]:
    threads = max(1, min(threads, connections))
    env = {
        **os.environ,
        "BENCH_METHOD": scn.method,
        "BENCH_PATH": scn.path,
        "BENCH_CONTENT_TYPE": scn.content_type,
        "BENCH_BODIES": str(bodies or ""),
        "BENCH_THREADS": str(threads),
        "BENCH_ONCE": "1" if scn.once else "0",
        "BENCH_OK_STATUS": str(scn.ok_status),
        "BENCH_OK_MATCH": scn.ok_match,
    }
    cmd = [
        "wrk",
        "-t",
        str(threads),
        "-c",
        str(connections),
        "-d",
        f"{duration:g}s",
        "--timeout",
        f"{timeout_s:g}s",
        "-s",
        str(LUA),
        f"http://{procs.HOST}:{port}{scn.path}",
    ]
    out = subprocess.run(
        cmd, env=env, capture_output=True, text=True, timeout=duration + 120, check=False
    )
    for line in out.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            result: dict[str, Any] = json.loads(line[len("BENCH_JSON ") :])
            return result
    raise RuntimeError(f"wrk gave no summary (rc={out.returncode}):\n{out.stdout}\n{out.stderr}")


# --------------------------------------------------------------------------------------------
# /healthz probe


class HealthProbe(threading.Thread):
    """GET /healthz on a new connection every `interval` seconds while the password cell runs:
    a new connection each time, so that with several workers every worker gets sampled."""

    def __init__(self, port: int, interval: float, max_seconds: float) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.interval = interval
        self.max_seconds = max_seconds
        self.latencies_ms: list[float] = []
        self.failures = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        max_samples = int(self.max_seconds / self.interval) + 10
        while (
            not self._stop_event.is_set()
            and time.monotonic() < deadline
            and len(self.latencies_ms) + self.failures < max_samples
        ):
            started = time.perf_counter()
            status = procs.http_status(self.port, "GET", "/healthz")
            elapsed = time.perf_counter() - started
            if status == 200:
                self.latencies_ms.append(elapsed * 1000)
            else:
                self.failures += 1
            self._stop_event.wait(max(0.0, self.interval - elapsed))

    def stop(self) -> dict[str, Any]:
        self._stop_event.set()
        self.join(timeout=10)
        lat = sorted(self.latencies_ms)
        return {
            "samples": len(lat),
            "failures": self.failures,
            "interval_ms": self.interval * 1000,
            "p50_ms": _pct(lat, 50),
            "p99_ms": _pct(lat, 99),
            "max_ms": round(lat[-1], 2) if lat else None,
        }


def _pct(sorted_values: Sequence[float], pct: float) -> float | None:
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, round(pct / 100 * len(sorted_values)) - 1))
    return round(sorted_values[index], 2)


# --------------------------------------------------------------------------------------------
# A shared machine


def busy_share(seconds: float = 1.0) -> float:
    """Share of the machine's CPU busy over `seconds` (our servers are idle when this runs)."""
    before = procs.machine_busy_seconds()
    time.sleep(seconds)
    return (procs.machine_busy_seconds() - before) / (seconds * (os.cpu_count() or 1))


def wait_for_idle_server(server: procs.Server, max_wait: float = 120.0) -> float:
    """Wait (at most `max_wait` seconds) until `server` has finished what the previous cell left
    it: wrk stops sending when its time is up, but a password cell leaves dozens of argon2
    checks queued in the server's threads, which would otherwise be counted as the next cell's
    CPU. The seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < max_wait:
        before = server.cpu_seconds()
        time.sleep(0.5)
        # Idle workers still tick (timers, the SQLite checkpoint): 2 % of a core is idle.
        if server.cpu_seconds() - before < 0.01:
            break
    return time.monotonic() - started


def wait_for_quiet(max_wait: float, threshold: float = 0.15) -> float:
    """Wait (at most `max_wait` seconds) until other processes leave the CPUs mostly idle;
    the seconds waited. 0 disables the wait: every cell still records what others used."""
    if max_wait <= 0:
        return 0.0
    started = time.monotonic()
    while time.monotonic() - started < max_wait:
        share = busy_share()
        if share < threshold:
            break
        log(f"  machine {share:.0%} busy with other work: waiting")
    return time.monotonic() - started


# --------------------------------------------------------------------------------------------
# The hashing ceiling


def measure_hashing(quick: bool) -> dict[str, Any]:
    """Time per argon2 verify with the server's parameters, one thread, quiet machine; and the
    rate `cores` threads reach through Twofold's own hasher (its thread pool)."""
    import asyncio

    import argon2

    from twofold.config import Settings
    from twofold.core.passwords import PasswordHasher

    settings = Settings()
    params = {
        "time_cost": settings.argon2_time_cost,
        "memory_cost": settings.argon2_memory_cost,
        "parallelism": settings.argon2_parallelism,
    }
    hasher = argon2.PasswordHasher(**params, type=argon2.Type.ID)
    hashed = hasher.hash(PASSWORD)
    times = []
    for _ in range(5 if quick else 9):
        started = time.perf_counter()
        hasher.verify(hashed, PASSWORD)
        times.append(time.perf_counter() - started)
    per_verify = statistics.median(times)
    cores = os.cpu_count() or 1

    pool = PasswordHasher(**params, max_concurrency=cores)
    window = 2.0 if quick else 4.0

    async def saturate() -> int:
        done = 0
        deadline = time.perf_counter() + window

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                await pool.verify(hashed, PASSWORD)
                done += 1

        await asyncio.gather(*(worker() for _ in range(cores)))
        return done

    started = time.perf_counter()
    verified = asyncio.run(saturate())
    elapsed = time.perf_counter() - started
    pool.close()
    return {
        "params": params,
        "cores": cores,
        "seconds_per_verify": round(per_verify, 4),
        "ceiling_rps": round(cores / per_verify, 2),
        "measured_parallel_rps": round(verified / elapsed, 2),
    }


# --------------------------------------------------------------------------------------------
# The benchmark


@dataclass
class Options:
    quick: bool
    duration: float
    password_duration: float
    workers: list[int]
    connections: list[int]
    scenarios: list[str]
    users: int
    wrk_threads: int
    database_url: str | None
    keep: bool
    label: str
    output_dir: Path
    seed: str
    wait_quiet: float
    signing_alg: str = "RS256"
    repeat: int = 1
    # State in Redis (a throw-away database number, flushed at the start) instead of SQL.
    redis_url: str | None = None


@dataclass
class Bench:
    opts: Options
    workdir: Path
    users: int
    prefix: str
    client_id: str = ""
    client_secret: str = ""
    rng: random.Random = field(default_factory=lambda: random.Random(1))
    otp_response_bytes: int = 0
    best_ok_rps_per_worker: dict[str, float] = field(default_factory=dict)
    seed_report: dict[str, Any] = field(default_factory=dict)
    _vacuumed: bool = False

    # --- set-up -------------------------------------------------------------------------

    @property
    def database_url(self) -> str:
        return self.opts.database_url or f"sqlite:///{self.workdir / 'twofold.db'}"

    def environment(self) -> None:
        """The server's configuration, set on this process too so that in-process seeding
        reads exactly what the server will."""
        os.environ.update(
            {
                "TWOFOLD_DATABASE_URL": self.database_url,
                # The encryption key file lives here; sizes sharing one database share it.
                "TWOFOLD_DATA_DIR": str(
                    self.workdir.parent / "data" if self.opts.database_url else self.workdir
                ),
                "TWOFOLD_DOMAIN": DOMAIN,
                "TWOFOLD_LOG_LEVEL": "warning",
                "TWOFOLD_ENVIRONMENT": "development",
            }
        )
        os.environ.pop("TWOFOLD_ENCRYPTION_KEYS", None)
        os.environ.pop("TWOFOLD_CONFIG_FILE", None)
        # The bench writes mfa_tokens to the state store the server reads: SQL unless
        # --redis-url, and then with the default key prefix (the Redis database is ours alone).
        os.environ.pop("TWOFOLD_REDIS_PREFIX", None)
        if self.opts.redis_url:
            os.environ["TWOFOLD_REDIS_URL"] = self.opts.redis_url
        else:
            os.environ.pop("TWOFOLD_REDIS_URL", None)

    def settings(self) -> Any:
        from twofold.config import Settings

        return Settings()

    def spec(self) -> Any:
        from seed import SeedSpec

        # One seed per size: ids derive from it, and sizes may share one database.
        return SeedSpec(seed=f"{self.opts.seed}:{self.prefix}", prefix=self.prefix)

    def seed(self) -> None:
        from seed import seed_users

        if self.opts.database_url:
            # serve migrates SQLite by itself, never PostgreSQL (docs/deploy.md).
            subprocess.run([str(TWOFOLD), "migrate"], capture_output=True, check=True, timeout=300)
        log(f"seeding {self.users} users into {report.redact_url(self.database_url)}")
        step = max(20_000, self.users // 10)

        def progress(done: int) -> None:
            if done % step < 20_000 and done != self.users:
                log(f"  {done}/{self.users} users")

        result = seed_users(self.settings(), self.spec(), self.users, PASSWORD, progress=progress)
        self.seed_report = result.as_dict()
        log(
            f"seeded {self.users} users in {result.total_seconds:.1f} s "
            f"({self.seed_report['users_per_second']}/s)"
        )
        out = subprocess.run(
            [str(TWOFOLD), "clients", "create", "--name", f"bench {self.prefix}", "--json"],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        client = json.loads(out.stdout)
        self.client_id, self.client_secret = client["client_id"], client["client_secret"]
        if "client-credentials" in self.opts.scenarios:
            self.machine = self._machine_client()
        if self.opts.signing_alg != "RS256":
            # The first key (made above, with the client) is RS256; a new current key of the
            # chosen algorithm signs from now on, the old one stays published.
            subprocess.run(
                [str(TWOFOLD), "keys", "rotate", "--alg", self.opts.signing_alg],
                capture_output=True,
                check=True,
                timeout=120,
            )
            log(f"tenant signs with {self.opts.signing_alg}")

    def _machine_client(self) -> dict[str, str]:
        """An API and a client_credentials client granted it, as an operator makes them."""
        subprocess.run(
            [str(TWOFOLD), "apis", "create", "--identifier", API, "--scope", "read:bench"],
            capture_output=True,
            check=True,
            timeout=120,
        )
        out = subprocess.run(
            [
                *(str(TWOFOLD), "clients", "create", "--name", f"bench machine {self.prefix}"),
                *("--grant-types", "client_credentials", "--audience", API, "--json"),
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        made = json.loads(out.stdout)
        return {"client_id": made["client_id"], "client_secret": made["client_secret"]}

    # --- bodies ---------------------------------------------------------------------------

    def _write(self, name: str, lines: list[str]) -> Path:
        path = self.workdir / f"{name}.bodies"
        path.write_text("\n".join(lines) + "\n")
        return path

    def _sample(self, n: int) -> list[int]:
        return self.rng.sample(range(self.users), min(n, self.users))

    def _fresh_tokens(self, indices: list[int]) -> list[str]:
        from seed import issue_mfa_tokens, reset_factors

        settings, spec = self.settings(), self.spec()
        reset_factors(settings, spec, indices)
        tokens: list[str] = issue_mfa_tokens(
            settings, spec, indices, client_id=self.client_id, scope=SCOPE
        )
        return tokens

    def _client(self) -> dict[str, str]:
        return {"client_id": self.client_id, "client_secret": self.client_secret}

    def single_use_budget(self, scn: Scenario, workers: int, duration: float) -> int:
        """Bodies for one cell: twice what the best rate per worker seen so far would need at
        this worker count (or a generous guess), capped by the seeded users."""
        per_worker = self.best_ok_rps_per_worker.get(scn.name, 1500.0)
        return int(min(self.users, max(2000, 2.0 * per_worker * workers * duration)))

    def bodies(self, scn: Scenario, workers: int, duration: float) -> Path | None:
        from twofold.core.factors import totp_codes as totp

        spec = self.spec()
        if scn.name == "jwks":
            return None
        if scn.name == "ceiling":
            # The mfa-otp body shape with placeholder values of the same lengths.
            lines = [
                urlencode(
                    {
                        "grant_type": GRANT_OTP,
                        **self._client(),
                        "mfa_token": secrets.token_urlsafe(32),
                        "otp": f"{i % 1_000_000:06d}",
                    }
                )
                for i in range(2000)
            ]
            return self._write(scn.name, lines)
        if scn.name == "password":
            lines = [
                urlencode(
                    {
                        "grant_type": "password",
                        "username": spec.email(i),
                        "password": PASSWORD,
                        **self._client(),
                        "scope": SCOPE,
                    }
                )
                for i in self._sample(PASSWORD_USERS)
            ]
            return self._write(scn.name, lines)
        if scn.name == "client-credentials":
            body = urlencode({"grant_type": "client_credentials", **self.machine, "audience": API})
            return self._write(scn.name, [body] * 100)
        if scn.name == "challenge":
            indices = self._sample(CHALLENGE_TOKENS)
            tokens = self._fresh_tokens(indices)
            lines = [
                json.dumps({**self._client(), "mfa_token": t, "challenge_type": "otp"})
                for t in tokens
            ]
            return self._write(scn.name, lines)
        indices = self._sample(self.single_use_budget(scn, workers, duration))
        tokens = self._fresh_tokens(indices)
        if scn.name == "mfa-otp":
            now = time.time()
            left = TOTP_PERIOD * (int(now // TOTP_PERIOD) + 2) - now
            if left < duration + 5:
                log(f"  warning: codes stay valid {left:.0f} s, the cell lasts {duration:g} s")
            lines = [
                urlencode(
                    {
                        "grant_type": GRANT_OTP,
                        **self._client(),
                        "mfa_token": t,
                        "otp": totp.code_at(spec.totp_secret(i), now),
                    }
                )
                for i, t in zip(indices, tokens, strict=True)
            ]
        else:
            lines = [
                urlencode(
                    {
                        "grant_type": GRANT_RECOVERY,
                        **self._client(),
                        "mfa_token": t,
                        "recovery_code": spec.recovery_code(i),
                    }
                )
                for i, t in zip(indices, tokens, strict=True)
            ]
        return self._write(scn.name, lines)

    def measure_otp_response(self, port: int) -> int:
        """Size of one real mfa-otp token response: the ceiling answers this many bytes."""
        import http.client

        from twofold.core.factors import totp_codes as totp

        index = self._sample(1)
        token = self._fresh_tokens(index)[0]
        body = urlencode(
            {
                "grant_type": GRANT_OTP,
                **self._client(),
                "mfa_token": token,
                "otp": totp.code_at(self.spec().totp_secret(index[0]), time.time()),
            }
        ).encode()
        conn = http.client.HTTPConnection(procs.HOST, port, timeout=10)
        try:
            conn.request("POST", "/oauth/token", body=body, headers={"Content-Type": FORM})
            response = conn.getresponse()
            payload = response.read()
        finally:
            conn.close()
        if response.status != 200:
            raise RuntimeError(f"mfa-otp probe answered {response.status}: {payload[:300]!r}")
        return len(payload)

    # --- servers --------------------------------------------------------------------------

    def start_twofold(self, workers: int) -> procs.Server:
        port = procs.free_port()
        cmd = [str(TWOFOLD), "serve", "--port", str(port), "--workers", str(workers)]
        return procs.Server.start(
            f"twofold x{workers}",
            cmd,
            dict(os.environ),
            port,
            self.workdir / f"twofold-w{workers}.log",
            ("GET", "/healthz", None),
        )

    def start_ceiling(self, workers: int) -> procs.Server:
        port = procs.free_port()
        env = {**os.environ, "BENCH_CEILING_BYTES": str(self.otp_response_bytes or 1800)}
        cmd = [
            sys.executable,
            str(BENCH_DIR / "ceiling.py"),
            "--port",
            str(port),
            "--workers",
            str(workers),
        ]
        return procs.Server.start(
            f"ceiling x{workers}",
            cmd,
            env,
            port,
            self.workdir / f"ceiling-w{workers}.log",
            ("POST", "/oauth/token", b"grant_type=x"),
        )

    def settle(self) -> None:
        """Leave the database as a server finds it in steady state, so that no cell pays for
        the bench's own bulk writes: on SQLite, the WAL those writes left is checkpointed (else
        the server's first commit would do it, on its event loop); on PostgreSQL, the freshly
        loaded tables are vacuumed and analysed (else autovacuum would run during the cells)."""
        import sqlalchemy as sa

        from twofold.storage.urls import sync_url

        url = sync_url(self.database_url)
        if url.startswith("sqlite"):
            engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
            with engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        else:
            engine = sa.create_engine(url, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT")
            if not self._vacuumed:
                with engine.connect() as conn:
                    conn.exec_driver_sql("VACUUM (ANALYZE)")
                self._vacuumed = True
            with engine.connect() as conn:
                conn.exec_driver_sql("VACUUM (ANALYZE) state")
        engine.dispose()

    def warm_up(self, server: procs.Server, scn: Scenario) -> None:
        """A short unrecorded load so each worker has loaded its signer, tenant and pools."""
        warm = SCENARIOS["ceiling"] if scn.target == "ceiling" else SCENARIOS["jwks"]
        bodies = self.bodies(warm, 1, 1) if warm.name == "ceiling" else None
        run_wrk(warm, server.port, 16, 1.0 if self.opts.quick else 2.0, 1, bodies, 10)

    # --- one cell -------------------------------------------------------------------------

    def cell(
        self, server: procs.Server, scn: Scenario, workers: int, connections: int
    ) -> dict[str, Any]:
        duration = self.opts.password_duration if scn.name == "password" else self.opts.duration
        prep_started = time.perf_counter()
        bodies = self.bodies(scn, workers, duration)
        self.settle()
        prep = time.perf_counter() - prep_started
        # Argon2 queues are long at 64 connections: give the password grant room to answer.
        timeout = max(30.0, duration * 3) if scn.name == "password" else 10.0
        probe = None
        if scn.name == "password":
            probe = HealthProbe(server.port, 0.05, duration + 5)
        idle_wait = wait_for_idle_server(server)
        waited = wait_for_quiet(self.opts.wait_quiet)
        load = os.getloadavg()[0]
        busy0, server0, system0, (self0, kids0) = (
            procs.machine_busy_seconds(),
            server.cpu_seconds(),
            server.system_cpu_seconds(),
            procs.own_cpu_seconds(),
        )
        if probe:
            probe.start()
        result = run_wrk(
            scn, server.port, connections, duration, self.opts.wrk_threads, bodies, timeout
        )
        probe_result = probe.stop() if probe else None
        busy1, server1, system1, (self1, kids1) = (
            procs.machine_busy_seconds(),
            server.cpu_seconds(),
            server.system_cpu_seconds(),
            procs.own_cpu_seconds(),
        )
        if not server.alive():
            raise RuntimeError(f"{server.name} died during {scn.name}:\n{server.tail()}")
        seconds = result["duration_us"] / 1e6
        lat = result["latency_us"]
        errors = result["errors"]
        server_cpu = server1 - server0
        server_system_cpu = system1 - system0
        wrk_cpu = kids1 - kids0
        bench_cpu = self1 - self0
        cell: dict[str, Any] = {
            "scenario": scn.name,
            "workers": workers,
            "connections": connections,
            "duration_s": round(seconds, 2),
            "requests": result["requests"],
            "rps": round(result["requests"] / seconds, 1),
            "ok": result["ok"],
            "ok_rps": round(result["ok"] / seconds, 1),
            "rejected": result["bad"],
            "statuses": result["statuses"],
            "socket_errors": {k: v for k, v in errors.items() if k != "status"},
            "non_2xx_3xx": errors["status"],
            "bodies": result["bodies"],
            "reused_bodies": result["reused"],
            "latency_ms": {
                k: round(lat[k] / 1000, 2) for k in ("p50", "p90", "p99", "p999", "mean", "max")
            },
            "cpu_s": {
                "server": round(server_cpu, 2),
                "server_system": round(server_system_cpu, 2),
                "wrk": round(wrk_cpu, 2),
                "bench": round(bench_cpu, 2),
                "others": round(max(0.0, (busy1 - busy0) - server_cpu - wrk_cpu - bench_cpu), 2),
            },
            "others_share": round(
                max(0.0, (busy1 - busy0) - server_cpu - wrk_cpu - bench_cpu)
                / (seconds * (os.cpu_count() or 1)),
                3,
            ),
            "quiet_wait_s": round(waited, 1),
            "server_idle_wait_s": round(idle_wait, 1),
            "server_cpu_ms_per_request": round(server_cpu * 1000 / result["requests"], 3)
            if result["requests"]
            else None,
            # The kernel's part of it: system calls, the TCP stack, page cache copies.
            "server_system_cpu_ms_per_request": round(
                server_system_cpu * 1000 / result["requests"], 3
            )
            if result["requests"]
            else None,
            "loadavg_1m_before": round(load, 2),
            "prepare_s": round(prep, 2),
        }
        if probe_result is not None:
            cell["healthz_probe"] = probe_result
        if scn.once:
            best = self.best_ok_rps_per_worker
            best[scn.name] = max(best.get(scn.name, 0.0), cell["ok_rps"] / workers)
        summary = (
            f"{scn.name:<13} w{workers} c{connections:<3} {cell['rps']:>8.1f} rps "
            f"ok {cell['ok']}/{cell['requests']}  p50 {cell['latency_ms']['p50']} ms "
            f"p99 {cell['latency_ms']['p99']} ms  server cpu {server_cpu:.1f}s "
            f"(system {server_system_cpu:.1f}s) "
            f"others {cell['cpu_s']['others']:.1f}s"
        )
        if probe_result:
            summary += f"  healthz p99 {probe_result['p99_ms']} ms"
        if cell["reused_bodies"]:
            summary += f"  (pool exhausted: {cell['reused_bodies']} bodies sent twice)"
        log(summary)
        return cell

    def matrix(
        self, workers_list: Sequence[int], connections: Sequence[int], scenarios: Sequence[str]
    ) -> list[dict[str, Any]]:
        cells: list[dict[str, Any]] = []
        own = [s for s in scenarios if SCENARIOS[s].target == "twofold"]
        for workers in workers_list:
            if own or not self.otp_response_bytes:
                server = self.start_twofold(workers)
                try:
                    if not self.otp_response_bytes:
                        self.otp_response_bytes = self.measure_otp_response(server.port)
                        log(f"mfa-otp response is {self.otp_response_bytes} bytes")
                    if own:
                        self.warm_up(server, SCENARIOS["jwks"])
                    for name in own:
                        adjacent = None
                        if name == "password":
                            # The machine's speed drifts over minutes: the hashing ceiling is
                            # measured again right before these cells (the server is idle).
                            log("measuring argon2 verify time next to the password cells")
                            adjacent = measure_hashing(self.opts.quick)
                        for conns in connections:
                            runs = []
                            for _ in range(self.opts.repeat):
                                runs.append(self.cell(server, SCENARIOS[name], workers, conns))
                                time.sleep(1.0)
                            cell = median_cell(runs)
                            if adjacent is not None:
                                cell["hashing"] = adjacent
                            cells.append(cell)
                finally:
                    server.stop()
            if "ceiling" in scenarios:
                server = self.start_ceiling(workers)
                try:
                    self.warm_up(server, SCENARIOS["ceiling"])
                    for conns in connections:
                        cells.append(self.cell(server, SCENARIOS["ceiling"], workers, conns))
                        time.sleep(1.0)
                finally:
                    server.stop()
        return cells


def median_cell(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One cell from repeated runs of it: the median of each rate and latency figure (a single
    slow or fast run moves none of them), every run's own figures kept under `runs`."""
    if len(runs) == 1:
        return runs[0]
    ordered = sorted(runs, key=lambda c: c["ok_rps"])
    cell = dict(ordered[len(ordered) // 2])
    for key in ("rps", "ok_rps"):
        cell[key] = round(statistics.median(c[key] for c in runs), 1)
    cell["latency_ms"] = {
        k: round(statistics.median(c["latency_ms"][k] for c in runs), 2)
        for k in runs[0]["latency_ms"]
    }
    for key in ("server_cpu_ms_per_request", "server_system_cpu_ms_per_request"):
        figures = [c.get(key) for c in runs]
        if None not in figures:
            cell[key] = round(statistics.median(figures), 3)
    cell["runs"] = [
        {
            "ok_rps": c["ok_rps"],
            "p50_ms": c["latency_ms"]["p50"],
            "p99_ms": c["latency_ms"]["p99"],
            "server_cpu_ms_per_request": c["server_cpu_ms_per_request"],
            "server_system_cpu_ms_per_request": c.get("server_system_cpu_ms_per_request"),
            "others_share": c["others_share"],
        }
        for c in runs
    ]
    return cell


# --------------------------------------------------------------------------------------------
# Entry point


def meta(opts: Options, wrk: str) -> dict[str, Any]:
    def git(*args: str) -> str:
        out = subprocess.run(
            ["git", *args], cwd=REPO, capture_output=True, text=True, check=False, timeout=30
        )
        return out.stdout.strip()

    import starlette
    import uvicorn

    cpu = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kib = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kib = int(line.split()[1])
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", "src")
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_commit": git("rev-parse", "--short", "HEAD"),
        "src_uncommitted_files": len(dirty.splitlines()) if dirty else 0,
        "machine": {
            "cpu": cpu,
            "cores": os.cpu_count(),
            "memory_gib": round(mem_kib / 1024 / 1024, 1),
            "kernel": platform.release(),
            "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
        },
        "versions": {
            "python": platform.python_version(),
            "uvicorn": uvicorn.__version__,
            "starlette": starlette.__version__,
            "wrk": wrk_version(),
        },
        "options": {
            "quick": opts.quick,
            "duration_s": opts.duration,
            "password_duration_s": opts.password_duration,
            "workers": opts.workers,
            "connections": opts.connections,
            "scenarios": opts.scenarios,
            "wrk_threads": opts.wrk_threads,
            "database": report.redact_url(opts.database_url or "sqlite (temporary file)"),
            "state": report.redact_url(opts.redis_url) if opts.redis_url else "sql",
            "scope": SCOPE,
            "signing_alg": opts.signing_alg,
            "wait_quiet_s": opts.wait_quiet,
            "repeat": opts.repeat,
        },
    }


def parse_args(argv: Sequence[str] | None) -> tuple[Options, list[int]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 3 s cells, 20k users")
    parser.add_argument("--duration", type=float, help="seconds per cell (10; quick: 3)")
    parser.add_argument(
        "--password-duration",
        type=float,
        help="seconds per password cell (20; quick: 6; never less than --duration)",
    )
    parser.add_argument("--workers", default="1,2", help="comma-separated (default 1,2)")
    parser.add_argument("--connections", default="16,64", help="comma-separated (default 16,64)")
    parser.add_argument(
        "--scenarios", default=",".join(SCENARIOS), help=f"subset of {','.join(SCENARIOS)}"
    )
    parser.add_argument("--users", type=int, help="seeded users (50000; quick: 20000)")
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument(
        "--database-url",
        help="default: a temporary SQLite file; otherwise a throw-away database "
        "(seeded users stay in it)",
    )
    parser.add_argument(
        "--redis-url",
        help="keep Twofold's short-lived state in Redis, as multi-node deployments do: "
        "redis://host:port/N with N a throw-away database number other than 0, flushed at the "
        "start of the run (default: the database's SQL state table)",
    )
    parser.add_argument(
        "--scale",
        help="comma-separated user counts, e.g. 10000,1000000: the scenarios at each size "
        "(default for scale runs: --workers 2 --connections 64 "
        "--scenarios challenge,mfa-otp,recovery-code)",
    )
    parser.add_argument(
        "--signing-alg",
        choices=["RS256", "ES256", "EdDSA"],
        default="RS256",
        help="the tenant's signing algorithm for the run (default RS256)",
    )
    parser.add_argument("--label", default="", help="appended to the result file names")
    parser.add_argument("--output-dir", type=Path, default=BENCH_DIR / "results")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        help="before each cell, wait up to this many seconds for other processes to leave "
        "the CPUs idle (default 0: do not wait, only record their CPU use)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        help="run each Twofold cell this many times and report the median of each figure "
        "(default 1; scale runs: 3)",
    )
    args = parser.parse_args(argv)
    scale = [int(x) for x in args.scale.split(",")] if args.scale else []
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    workers = [int(x) for x in args.workers.split(",")]
    connections = [int(x) for x in args.connections.split(",")]
    if scale:
        if args.scenarios == ",".join(SCENARIOS):
            scenarios = ["challenge", "mfa-otp", "recovery-code"]
        if args.workers == "1,2":
            workers = [2]
        if args.connections == "16,64":
            connections = [64]
    unknown = set(scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    if any(c < 1 or c > 1024 for c in connections) or any(w < 1 or w > 16 for w in workers):
        parser.error("connections must be 1-1024 and workers 1-16")
    duration = args.duration or (3.0 if args.quick else 10.0)
    if not 1 <= duration <= 25:
        # TOTP codes are made for the current 30 s step and stay valid through the next one.
        parser.error("--duration must be between 1 and 25 seconds")
    # At 64 connections a login waits for ~64 argon2 checks ahead of it (several seconds), so
    # the password cell needs longer than the others to count more than one round of answers.
    password_duration = args.password_duration or max(duration, 6.0 if args.quick else 20.0)
    if not 1 <= password_duration <= 120:
        parser.error("--password-duration must be between 1 and 120 seconds")
    if args.redis_url:
        problem = redis_db_problem(args.redis_url)
        if problem:
            parser.error(f"--redis-url: {problem}")
    repeat = args.repeat or (3 if scale else 1)
    if not 1 <= repeat <= 9:
        parser.error("--repeat must be between 1 and 9")
    opts = Options(
        quick=args.quick,
        duration=duration,
        password_duration=password_duration,
        workers=workers,
        connections=connections,
        scenarios=scenarios,
        users=args.users or (20_000 if args.quick else 50_000),
        wrk_threads=args.wrk_threads,
        database_url=args.database_url,
        keep=args.keep,
        label=args.label,
        output_dir=args.output_dir,
        seed=secrets.token_urlsafe(16),
        wait_quiet=max(0.0, min(args.wait_quiet, 600.0)),
        signing_alg=args.signing_alg,
        repeat=repeat,
        redis_url=args.redis_url,
    )
    return opts, scale


def redis_db_problem(url: str) -> str:
    """Why `url` is not a Redis database the run may flush ("" when it is). Database 0 is where
    everything lands that names none (the test suites' fixtures among them), so the run refuses
    it: pick a number nobody else uses."""
    from redis.connection import parse_url

    if not url.startswith(("redis://", "rediss://", "unix://")):
        return "must start with redis://, rediss:// or unix://"
    try:
        db = parse_url(url).get("db") or 0
    except ValueError as exc:
        return str(exc)
    if int(db) == 0:
        return "name a throw-away database number other than 0 (redis://host:port/N); it is flushed"
    return ""


def flush_redis(url: str) -> None:
    """An empty Redis database, so no state of an earlier run is found (as --database-url
    wants an empty database)."""
    import redis

    client = redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=10)
    try:
        found = client.dbsize()
        client.flushdb()
    finally:
        client.close()
    log(f"flushed {report.redact_url(url)} ({found} keys)")


def _run_size(opts: Options, users: int, tmp: Path, tag: str) -> Bench:
    workdir = tmp / tag
    workdir.mkdir()
    bench = Bench(opts=opts, workdir=workdir, users=users, prefix=f"b{secrets.token_hex(3)}-")
    bench.environment()
    bench.seed()
    return bench


def main(argv: Sequence[str] | None = None) -> int:
    opts, scale = parse_args(argv)
    report.preload()
    wrk = ensure_wrk()
    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="twofold-bench-"))
    results: dict[str, Any] = {"meta": meta(opts, wrk)}
    try:
        # Before any server exists, so it is measured on a machine doing nothing else of ours.
        os.environ["TWOFOLD_LOG_LEVEL"] = "warning"
        if opts.redis_url:
            flush_redis(opts.redis_url)
        if "password" in opts.scenarios:
            log("measuring argon2 verify time (the hashing ceiling)")
            results["hashing"] = measure_hashing(opts.quick)
            log(
                f"argon2 verify {results['hashing']['seconds_per_verify'] * 1000:.0f} ms; "
                f"ceiling {results['hashing']['ceiling_rps']} rps on "
                f"{results['hashing']['cores']} cores "
                f"(measured {results['hashing']['measured_parallel_rps']} rps)"
            )
        signing = bool({"mfa-otp", "recovery-code"} & set(opts.scenarios))
        if signing:
            measure_signing(results, opts, "before the servers")
        if scale:
            results["mode"] = "scale"
            results["sizes"] = []
            for users in scale:
                bench = _run_size(opts, users, tmp, f"u{users}")
                cells = bench.matrix(opts.workers, opts.connections, opts.scenarios)
                results["sizes"].append({"users": users, "seed": bench.seed_report, "cells": cells})
                _drop_sqlite(bench, opts)
        else:
            results["mode"] = "matrix"
            bench = _run_size(opts, opts.users, tmp, "main")
            results["users"] = opts.users
            results["seed"] = bench.seed_report
            results["cells"] = bench.matrix(opts.workers, opts.connections, opts.scenarios)
            results["otp_response_bytes"] = bench.otp_response_bytes
        if signing:
            measure_signing(results, opts, "after the cells")
        results["meta"]["total_seconds"] = round(time.perf_counter() - started, 1)
        paths = write_results(results, opts)
        log(f"wrote {', '.join(_shown(p) for p in paths)}")
        print(report.console_summary(results))
        return 0
    finally:
        if opts.keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def measure_signing(results: dict[str, Any], opts: Options, when: str) -> None:
    """The signing ceiling, once before the servers start and once after the last cell: this
    machine's speed drifts over minutes, and the report uses the faster of the two, so that a
    target it calls out of reach is out of reach at the machine's best."""
    log(f"measuring {opts.signing_alg} signatures on every core (the signing ceiling, {when})")
    measured = sign_algs.parallel_sign_rate(
        opts.signing_alg, os.cpu_count() or 1, 2.0 if opts.quick else 4.0
    )
    measured["when"] = when
    log(
        f"{measured['signatures_per_second']:.0f} signatures/s, so at most "
        f"{measured['grants_per_second_bound']:.0f} grants/s"
    )
    earlier = results.get("signing")
    runs = [*(earlier["measurements"] if earlier else []), measured]
    best = max(runs, key=lambda m: m["signatures_per_second"])
    results["signing"] = {**best, "measurements": runs}


def _shown(path: Path) -> str:
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def _drop_sqlite(bench: Bench, opts: Options) -> None:
    """A million-user SQLite file is about a gigabyte: remove it once its size is measured."""
    if opts.database_url is None and not opts.keep:
        for path in bench.workdir.glob("twofold.db*"):
            path.unlink(missing_ok=True)


def write_results(results: dict[str, Any], opts: Options) -> list[Path]:
    opts.output_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H%MZ")
    parts = [stamp]
    if results["mode"] == "scale":
        parts.append("scale")
    if opts.quick:
        parts.append("quick")
    if opts.label:
        parts.append(opts.label)
    base = opts.output_dir / "-".join(parts)
    json_path = base.with_suffix(".json")
    json_path.write_text(json.dumps(results, indent=2) + "\n")
    return [json_path, *report.render(results, base)]


if __name__ == "__main__":
    sys.exit(main())

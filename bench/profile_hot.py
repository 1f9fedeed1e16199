"""Profile a hot path in-process with pyinstrument, and count its SQL per request.

    .venv/bin/python bench/profile_hot.py                       # mfa-otp and challenge
    .venv/bin/python bench/profile_hot.py --scenario mfa-otp --requests 2000 --concurrency 16
    .venv/bin/python bench/profile_hot.py --timing \
        --database-url postgresql://postgres@127.0.0.1:5432/scratch --redis-url redis://127.0.0.1:6379/9

The app is built by the composition root (`create_services` + `build_app`) on a temporary SQLite
database (or an empty PostgreSQL database, `--database-url`, migrated here; state in Redis with
`--redis-url`, whose database this flushes) and called as an ASGI app with prepared requests: no
sockets, no uvicorn and no HTTP client, so the CPU per request is Twofold's own work (parsing,
core, storage, signing) plus the event loop. What goes to the database and to Redis is counted
per request (see `roundtrips`). Writes bench/results/profile-<scenario>-<stamp>.txt (and .html
with --html).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import cProfile
import json
import os
import pstats
import secrets
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
PASSWORD = "bench-password-" + "x" * 8
SCOPE = "openid profile email"
GRANT_OTP = "http://auth0.com/oauth/grant-type/mfa-otp"
GRANT_RECOVERY = "http://auth0.com/oauth/grant-type/mfa-recovery-code"
SCENARIOS = ("mfa-otp", "challenge", "recovery-code", "client-credentials")
API = "https://api.bench.invalid/"
FORM = b"application/x-www-form-urlencoded"


def _environment(workdir: Path, database_url: str, redis_url: str) -> None:
    os.environ.update(
        {
            "TWOFOLD_DATABASE_URL": database_url or f"sqlite:///{workdir / 'twofold.db'}",
            "TWOFOLD_DATA_DIR": str(workdir),
            "TWOFOLD_DOMAIN": "bench.twofold.invalid",
            "TWOFOLD_LOG_LEVEL": "warning",
            "TWOFOLD_ENVIRONMENT": "development",
        }
    )
    os.environ.pop("TWOFOLD_ENCRYPTION_KEYS", None)
    os.environ.pop("TWOFOLD_CONFIG_FILE", None)
    if redis_url:
        os.environ["TWOFOLD_REDIS_URL"] = redis_url
        os.environ["TWOFOLD_REDIS_PREFIX"] = "twofold-profile:"
    else:
        os.environ.pop("TWOFOLD_REDIS_URL", None)


async def _bodies(
    scenario: str, n: int, services: Any, spec: Any, client_id: str, client_secret: str
) -> list[tuple[bytes, bytes]]:
    """(content type, body) per request, single-use tokens and codes as in the wrk run."""
    from urllib.parse import urlencode

    from seed import reset_factors

    from twofold.core.factors import totp_codes as totp
    from twofold.core.mfa import mfa_tokens

    client = {"client_id": client_id, "client_secret": client_secret}
    if scenario == "client-credentials":
        # Nothing in it is single-use (client_secret_post): one body, sent n times.
        body = {"grant_type": "client_credentials", **client, "audience": API}
        return [(FORM, urlencode(body).encode())] * n
    indices = list(range(n))
    await asyncio.to_thread(reset_factors, services.settings, spec, indices)
    # Through the app's own state store (SQL or Redis), as the password grant writes them.
    tokens = [
        await mfa_tokens.issue(
            services.deps,
            user_id=spec.user_id(i),
            client_id=client_id,
            audience=f"{services.settings.issuer}userinfo",
            scope=SCOPE,
            realm=spec.realm,
        )
        for i in indices
    ]
    now = services.deps.clock.now()
    out: list[tuple[bytes, bytes]] = []
    for i, token in zip(indices, tokens, strict=True):
        if scenario == "challenge":
            body = {**client, "mfa_token": token, "challenge_type": "otp"}
            out.append((b"application/json", json.dumps(body).encode()))
            continue
        if scenario == "mfa-otp":
            proof = {"grant_type": GRANT_OTP, "otp": totp.code_at(spec.totp_secret(i), now)}
        else:
            proof = {"grant_type": GRANT_RECOVERY, "recovery_code": spec.recovery_code(i)}
        out.append((FORM, urlencode({**proof, **client, "mfa_token": token}).encode()))
    return out


async def _call(app: Any, path: str, content_type: bytes, body: bytes) -> int:
    """One request straight into the ASGI app, as uvicorn would hand it over."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"bench"),
            (b"content-type", content_type),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
        "state": {},
    }
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    status = 0

    async def receive() -> dict[str, Any]:
        return messages.pop() if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def _drive(
    app: Any,
    scenario: str,
    bodies: list[tuple[bytes, bytes]],
    concurrency: int,
    latencies: list[float] | None = None,
) -> collections.Counter[int]:
    path = "/mfa/challenge" if scenario == "challenge" else "/oauth/token"
    statuses: collections.Counter[int] = collections.Counter()
    queue = list(reversed(bodies))

    async def worker() -> None:
        while queue:
            content_type, body = queue.pop()
            started = time.perf_counter()
            status = await _call(app, path, content_type, body)
            if latencies is not None:
                latencies.append(time.perf_counter() - started)
            statuses[status] += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return statuses


def _callgrind(*command: str) -> None:
    """Zero or dump this process's callgrind counters (under `valgrind --tool=callgrind`), so
    a dump holds the measured requests only: instructions are what a shared machine cannot
    blur."""
    import subprocess

    subprocess.run(["callgrind_control", *command, str(os.getpid())], check=True)


async def _prepare(args: argparse.Namespace, settings: Any) -> None:
    """An empty PostgreSQL database is migrated here (serve migrates only SQLite); a Redis
    database is flushed, so no state of an earlier run is found."""
    if args.database_url:
        from twofold.storage import migrate

        await asyncio.to_thread(migrate.upgrade, settings.database_url)
    if args.redis_url:
        import redis.asyncio as aioredis

        client = aioredis.from_url(args.redis_url)
        try:
            await client.flushdb()
        finally:
            await client.aclose()


async def _profile(args: argparse.Namespace, workdir: Path, out_dir: Path) -> list[Path]:
    from pyinstrument import Profiler
    from roundtrips import RoundTrips
    from seed import SeedSpec, seed_users

    from twofold.app import build_app, create_services
    from twofold.config import Settings

    settings = Settings()
    await _prepare(args, settings)
    spec = SeedSpec(seed=secrets.token_urlsafe(16), prefix="prof")
    users = max(args.requests + args.warmup, 1000)
    await asyncio.to_thread(seed_users, settings, spec, users, PASSWORD)
    clock = None
    if args.callgrind:
        from twofold.core.clock import FrozenClock

        # Under valgrind a request takes ~0.2 s: on a frozen clock no TOTP code or mfa_token
        # expires during the run, and no cache expires in one run and not in the next.
        clock = FrozenClock(time.time())
    services = await create_services(settings, clock=clock)
    written: list[Path] = []
    try:
        await services.admin.create_api(API, scopes=["read:things"])
        client, secret = await services.admin.create_client(
            "profile", api_grants={API: ["read:things"]}
        )
        assert secret is not None
        if args.signing_alg != "RS256":
            await services.admin.rotate_signing_key(alg=args.signing_alg)
        app = build_app(services)
        counter = RoundTrips()
        if not args.callgrind:
            # The drivers' trace hooks cost instructions of their own: not counted then.
            counter.attach(services.database, redis=bool(args.redis_url))
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H%MZ")
        backend = "PostgreSQL" if args.database_url else "SQLite"
        backend += " + Redis" if args.redis_url else ""
        for scenario in args.scenario:
            bodies = await _bodies(
                scenario,
                args.requests + args.warmup,
                services,
                spec,
                client.client_id,
                secret,
            )
            # Warm-up: signer, tenant cache, pool connections, imports.
            await _drive(app, scenario, bodies[: args.warmup], args.concurrency)
            counter.reset()
            latencies: list[float] = []
            plain = args.timing or args.cprofile
            profiler = None if plain else Profiler(interval=0.0005, async_mode="enabled")
            functions = cProfile.Profile(time.process_time) if args.cprofile else None
            cpu_before = time.process_time()
            started = time.perf_counter()
            if args.callgrind:
                _callgrind("-z")
            if profiler:
                profiler.start()
            if functions:
                functions.enable()
            statuses = await _drive(
                app, scenario, bodies[args.warmup :], args.concurrency, latencies
            )
            if args.callgrind:
                _callgrind("-d", scenario)
            if functions:
                functions.disable()
                functions.dump_stats(str(args.output_dir / f"cprofile-{scenario}.pstats"))
                pstats.Stats(functions).sort_stats("tottime").print_stats(args.cprofile)
            if profiler:
                profiler.stop()
            elapsed = time.perf_counter() - started
            cpu = time.process_time() - cpu_before
            n = args.requests
            lat = sorted(latencies)
            p50, p99 = lat[len(lat) // 2] * 1000, lat[int(len(lat) * 0.99)] * 1000
            mode = "timing only" if args.timing else "under a profiler"
            header = [
                f"# {scenario}: {n} requests, concurrency {args.concurrency}, in-process "
                f"(ASGI calls, no sockets), {backend}, {args.loop}, {mode}",
                f"# statuses {dict(statuses)}; {elapsed:.2f} s = {n / elapsed:.0f} requests/s; "
                f"CPU {cpu / n * 1000:.3f} ms/request; latency p50 "
                f"{p50:.2f} ms, p99 {p99:.2f} ms",
                f"# {counter.summary(n) if not args.callgrind else 'round trips not counted'}",
                "",
            ]
            print("\n".join(header))
            if profiler is None:
                continue
            text = profiler.output_text(unicode=True, color=False, show_all=False)
            path = out_dir / f"profile-{scenario}-{stamp}.txt"
            path.write_text("\n".join(header) + text)
            written.append(path)
            if args.html:
                html = path.with_suffix(".html")
                html.write_text(profiler.output_html())
                written.append(html)
            print(text[: args.print_chars])
    finally:
        await services.close()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", action="append", choices=SCENARIOS)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--html", action="store_true")
    parser.add_argument(
        "--timing", action="store_true", help="no profiler: latency, CPU and SQL counts only"
    )
    parser.add_argument(
        "--cprofile",
        type=int,
        default=0,
        metavar="N",
        help="instead of pyinstrument, cProfile: print the N functions with the most own time",
    )
    parser.add_argument(
        "--signing-alg",
        choices=["RS256", "ES256", "EdDSA"],
        default="RS256",
        help="rotate the tenant to a key of this algorithm first (default RS256)",
    )
    parser.add_argument(
        "--database-url",
        default="",
        help="an empty PostgreSQL database to migrate and profile on (default: a SQLite file)",
    )
    parser.add_argument(
        "--redis-url",
        default="",
        help="keep short-lived state in this Redis database, which is flushed first",
    )
    parser.add_argument(
        "--loop",
        choices=["uvloop", "asyncio"],
        default="uvloop",
        help="the event loop; uvloop is what `twofold serve` runs on (uvicorn's loop=auto)",
    )
    parser.add_argument(
        "--callgrind",
        action="store_true",
        help="under valgrind --tool=callgrind: dump the counters of each scenario's measured "
        "requests (see bench/callgrind.sh)",
    )
    parser.add_argument("--print-chars", type=int, default=6000)
    parser.add_argument("--output-dir", type=Path, default=BENCH_DIR / "results")
    args = parser.parse_args(argv)
    args.scenario = args.scenario or ["mfa-otp", "challenge"]
    if not 1 <= args.requests <= 100_000 or not 1 <= args.concurrency <= 256:
        parser.error("--requests must be 1-100000 and --concurrency 1-256")
    args.output_dir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="twofold-profile-"))
    try:
        _environment(workdir, args.database_url, args.redis_url)
        if args.loop == "uvloop":
            import uvloop

            written = uvloop.run(_profile(args, workdir, args.output_dir))
        else:
            written = asyncio.run(_profile(args, workdir, args.output_dir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    for path in written:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

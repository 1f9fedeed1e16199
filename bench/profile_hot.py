"""Profile a hot path in-process with pyinstrument, and count its SQL per request.

    .venv/bin/python bench/profile_hot.py                       # mfa-otp and challenge
    .venv/bin/python bench/profile_hot.py --scenario mfa-otp --requests 2000 --concurrency 16

The app is built by the composition root (`create_services` + `build_app`) on a temporary SQLite
database and driven through httpx's ASGI transport: no sockets, no uvicorn, so the profile is
Twofold's own work (parsing, core, storage, signing) plus the event loop. Every statement the
engine sends is counted, per request, by kind (BEGIN, SELECT, INSERT, UPDATE, DELETE, ...).
Writes bench/results/profile-<scenario>-<stamp>.txt (and .html with --html).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import cProfile
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
SCENARIOS = ("mfa-otp", "challenge", "recovery-code")


def _environment(workdir: Path) -> None:
    os.environ.update(
        {
            "TWOFOLD_DATABASE_URL": f"sqlite:///{workdir / 'twofold.db'}",
            "TWOFOLD_DATA_DIR": str(workdir),
            "TWOFOLD_DOMAIN": "bench.twofold.invalid",
            "TWOFOLD_LOG_LEVEL": "warning",
            "TWOFOLD_ENVIRONMENT": "development",
        }
    )
    os.environ.pop("TWOFOLD_ENCRYPTION_KEYS", None)
    os.environ.pop("TWOFOLD_CONFIG_FILE", None)
    # mfa_tokens are written to the SQL state table: the app must use SQL state too.
    os.environ.pop("TWOFOLD_REDIS_URL", None)


class StatementCounter:
    """Counts what the engine sends to the database, by the statement's first word."""

    def __init__(self) -> None:
        self.counts: collections.Counter[str] = collections.Counter()
        self.checkouts = 0

    def attach(self, database: Any) -> None:
        from sqlalchemy import event

        engine = database.engine

        def count(statement: str) -> None:
            self.counts[statement.lstrip().split(None, 1)[0].upper()] += 1

        # On a SQLite file the statements run on the blocking twin's connections, partly
        # straight on the driver: SQLite's own trace sees them all, BEGIN and COMMIT included.
        if database.trace_statements(count):
            return

        @event.listens_for(engine.sync_engine, "before_cursor_execute")
        def _count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            count(statement)

        @event.listens_for(engine.sync_engine.pool, "checkout")
        def _checkout(*args: Any) -> None:
            self.checkouts += 1

    def reset(self) -> None:
        self.counts.clear()
        self.checkouts = 0


def _bodies(
    scenario: str, n: int, settings: Any, spec: Any, client_id: str, client_secret: str
) -> list[tuple[str, dict[str, Any]]]:
    """(content kind, body) per request, single-use tokens and codes as in the wrk run."""
    from seed import issue_mfa_tokens, reset_factors

    from twofold.core.factors import totp_codes as totp

    indices = list(range(n))
    reset_factors(settings, spec, indices)
    tokens = issue_mfa_tokens(settings, spec, indices, client_id=client_id, scope=SCOPE)
    client = {"client_id": client_id, "client_secret": client_secret}
    now = time.time()
    out: list[tuple[str, dict[str, Any]]] = []
    for i, token in zip(indices, tokens, strict=True):
        if scenario == "mfa-otp":
            otp = totp.code_at(spec.totp_secret(i), now)
            body = {"grant_type": GRANT_OTP, **client, "mfa_token": token, "otp": otp}
            out.append(("form", body))
        elif scenario == "recovery-code":
            code = spec.recovery_code(i)
            body = {"grant_type": GRANT_RECOVERY, **client, "mfa_token": token}
            out.append(("form", {**body, "recovery_code": code}))
        else:
            out.append(("json", {**client, "mfa_token": token, "challenge_type": "otp"}))
    return out


async def _drive(
    app: Any,
    scenario: str,
    bodies: list[tuple[str, dict[str, Any]]],
    concurrency: int,
    latencies: list[float] | None = None,
) -> collections.Counter[int]:
    import httpx

    path = "/mfa/challenge" if scenario == "challenge" else "/oauth/token"
    statuses: collections.Counter[int] = collections.Counter()
    queue = list(reversed(bodies))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:

        async def worker() -> None:
            while queue:
                kind, body = queue.pop()
                started = time.perf_counter()
                if kind == "json":
                    response = await client.post(path, json=body)
                else:
                    response = await client.post(path, data=body)
                if latencies is not None:
                    latencies.append(time.perf_counter() - started)
                statuses[response.status_code] += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return statuses


async def _profile(args: argparse.Namespace, workdir: Path, out_dir: Path) -> list[Path]:
    from pyinstrument import Profiler
    from seed import SeedSpec, seed_users

    from twofold.app import build_app, create_services
    from twofold.config import Settings

    settings = Settings()
    spec = SeedSpec(seed=secrets.token_urlsafe(16), prefix="prof")
    users = max(args.requests + args.warmup, 1000)
    await asyncio.to_thread(seed_users, settings, spec, users, PASSWORD)
    services = await create_services(settings)
    written: list[Path] = []
    try:
        client, secret = await services.admin.create_client("profile")
        assert secret is not None
        if args.signing_alg != "RS256":
            await services.admin.rotate_signing_key(alg=args.signing_alg)
        app = build_app(services)
        counter = StatementCounter()
        counter.attach(services.database)
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H%MZ")
        for scenario in args.scenario:
            bodies = await asyncio.to_thread(
                _bodies,
                scenario,
                args.requests + args.warmup,
                settings,
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
            functions = cProfile.Profile() if args.cprofile else None
            cpu_before = time.process_time()
            started = time.perf_counter()
            if profiler:
                profiler.start()
            if functions:
                functions.enable()
            statuses = await _drive(
                app, scenario, bodies[args.warmup :], args.concurrency, latencies
            )
            if functions:
                functions.disable()
                functions.dump_stats(str(args.output_dir / f"cprofile-{scenario}.pstats"))
                pstats.Stats(functions).sort_stats("tottime").print_stats(args.cprofile)
            if profiler:
                profiler.stop()
            elapsed = time.perf_counter() - started
            cpu = time.process_time() - cpu_before
            n = args.requests
            per_request = {k: round(v / n, 2) for k, v in sorted(counter.counts.items())}
            lat = sorted(latencies)
            p50, p99 = lat[len(lat) // 2] * 1000, lat[int(len(lat) * 0.99)] * 1000
            mode = "timing only" if args.timing else "under pyinstrument"
            header = [
                f"# {scenario}: {n} requests, concurrency {args.concurrency}, in-process "
                f"(httpx ASGITransport, no sockets), {mode}",
                f"# statuses {dict(statuses)}; {elapsed:.2f} s = {n / elapsed:.0f} requests/s; "
                f"CPU {cpu / n * 1000:.2f} ms/request; latency p50 "
                f"{p50:.2f} ms, p99 {p99:.2f} ms",
                f"# SQL statements per request: {sum(counter.counts.values()) / n:.2f} "
                f"{per_request}; pool checkouts per request: {counter.checkouts / n:.2f}",
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
    parser.add_argument("--print-chars", type=int, default=6000)
    parser.add_argument("--output-dir", type=Path, default=BENCH_DIR / "results")
    args = parser.parse_args(argv)
    args.scenario = args.scenario or ["mfa-otp", "challenge"]
    if not 1 <= args.requests <= 100_000 or not 1 <= args.concurrency <= 256:
        parser.error("--requests must be 1-100000 and --concurrency 1-256")
    args.output_dir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="twofold-profile-"))
    try:
        _environment(workdir)
        written = asyncio.run(_profile(args, workdir, args.output_dir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    for path in written:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

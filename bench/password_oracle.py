"""Password oracle check: timing distributions of "unknown user" vs "wrong password".

An attacker who can tell the two apart by latency learns which usernames exist. Twofold runs a
dummy argon2 verification for an unknown user so both paths do the same work; this script
measures how close the two distributions are on this machine, in process (httpx over ASGI, a
fresh SQLite database in a temp dir, the argon2 cost you give it). It reports, never asserts:
the tests assert identical answers and identical hashing work (tests/security/test_no_oracle.py).

    .venv/bin/python bench/password_oracle.py                 # production argon2 cost
    .venv/bin/python bench/password_oracle.py --samples 400 --time-cost 1 --memory-cost 1024

Samples alternate between the two kinds so drift (thermal, other load) hits both alike. The
password attempt limits are lifted for the run (in this process only), so every request is
checked rather than answered 429.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))


def _percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]

    return {
        "n": len(ordered),
        "mean_ms": statistics.fmean(ordered) * 1000,
        "stdev_ms": (statistics.stdev(ordered) if len(ordered) > 1 else 0.0) * 1000,
        "p10_ms": pct(10) * 1000,
        "p50_ms": pct(50) * 1000,
        "p90_ms": pct(90) * 1000,
        "p99_ms": pct(99) * 1000,
    }


def _histogram(a: list[float], b: list[float], bins: int = 12, width: int = 28) -> str:
    lo, hi = min(a + b), max(a + b)
    step = (hi - lo) / bins or 1e-9
    lines = []
    for i in range(bins):
        left = lo + i * step
        na = sum(left <= v < left + step or (i == bins - 1 and v == hi) for v in a)
        nb = sum(left <= v < left + step or (i == bins - 1 and v == hi) for v in b)
        top = max(len(a), len(b))
        bar_a = "#" * round(na / top * width)
        bar_b = "=" * round(nb / top * width)
        lines.append(f"{left * 1000:8.1f} ms  {bar_a:<{width}} | {bar_b:<{width}}")
    return "\n".join(lines)


def _mann_whitney_z(a: list[float], b: list[float]) -> float:
    """Normal approximation of the Mann-Whitney U statistic (|z| < 2: no detectable shift)."""
    ranked = sorted([(v, 0) for v in a] + [(v, 1) for v in b])
    ranks_a = sum(i + 1 for i, (_, group) in enumerate(ranked) if group == 0)
    n1, n2 = len(a), len(b)
    u = ranks_a - n1 * (n1 + 1) / 2
    mean = n1 * n2 / 2
    sd = (n1 * n2 * (n1 + n2 + 1) / 12) ** 0.5
    return (u - mean) / sd if sd else 0.0


async def measure(samples: int, time_cost: int, memory_cost: int, warmup: int) -> dict[str, Any]:
    from twofold.app import build_app, create_services
    from twofold.config import Settings

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            database_url=f"sqlite:///{tmp}/oracle.db",
            domain="oracle.bench",
            data_dir=Path(tmp),
            environment="test",
            argon2_time_cost=time_cost,
            argon2_memory_cost=memory_cost,
            hashing_concurrency=1,
            password_failures_per_address=1_000_000,
            password_failures_per_user=1_000_000,
        )
        services = await create_services(settings)
        try:
            client, secret = await services.admin.create_client("oracle bench")
            await services.admin.create_user("known@oracle.bench", "the right password")
            from twofold.core import attempts

            unlimited = attempts.Bucket(capacity=10**9, refill_seconds=1.0)
            attempts.PASSWORD_PER_IP_USER = unlimited
            transport = httpx.ASGITransport(app=build_app(services))
            async with httpx.AsyncClient(
                transport=transport, base_url="https://oracle.bench"
            ) as http:
                times: dict[str, list[float]] = {"wrong_password": [], "unknown_user": []}
                bodies: dict[str, set[str]] = {"wrong_password": set(), "unknown_user": set()}
                users = {
                    "wrong_password": "known@oracle.bench",
                    "unknown_user": "nobody@oracle.bench",
                }
                for i in range(warmup + 2 * samples):
                    kind = "wrong_password" if i % 2 == 0 else "unknown_user"
                    data = {
                        "grant_type": "password",
                        "username": users[kind],
                        "password": "not the password",
                        "client_id": client.client_id,
                        "client_secret": secret or "",
                    }
                    start = time.perf_counter()
                    resp = await http.post("/oauth/token", data=data)
                    elapsed = time.perf_counter() - start
                    if i < warmup:
                        continue
                    times[kind].append(elapsed)
                    bodies[kind].add(f"{resp.status_code} {resp.text}")
        finally:
            await services.close()
    return {
        "argon2": {"time_cost": time_cost, "memory_cost_kib": memory_cost},
        "wrong_password": _percentiles(times["wrong_password"]),
        "unknown_user": _percentiles(times["unknown_user"]),
        "median_difference_ms": (
            statistics.median(times["unknown_user"]) - statistics.median(times["wrong_password"])
        )
        * 1000,
        "mann_whitney_z": _mann_whitney_z(times["unknown_user"], times["wrong_password"]),
        "identical_answers": bodies["wrong_password"] == bodies["unknown_user"]
        and len(bodies["wrong_password"]) == 1,
        "histogram": _histogram(times["wrong_password"], times["unknown_user"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=200, help="per kind")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--time-cost", type=int, default=3)
    parser.add_argument("--memory-cost", type=int, default=65_536, help="KiB")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report = asyncio.run(measure(args.samples, args.time_cost, args.memory_cost, args.warmup))
    if args.json:
        print(json.dumps({k: v for k, v in report.items() if k != "histogram"}, indent=2))
        return
    print(f"argon2 time_cost={args.time_cost} memory_cost={args.memory_cost} KiB")
    for kind in ("wrong_password", "unknown_user"):
        s = report[kind]
        print(
            f"{kind:<15} n={s['n']:<5} mean={s['mean_ms']:7.2f} ms  sd={s['stdev_ms']:6.2f}  "
            f"p10={s['p10_ms']:7.2f}  p50={s['p50_ms']:7.2f}  p90={s['p90_ms']:7.2f}  "
            f"p99={s['p99_ms']:7.2f}"
        )
    print(f"median difference (unknown - wrong): {report['median_difference_ms']:+.2f} ms")
    print(f"Mann-Whitney z: {report['mann_whitney_z']:+.2f}  (|z| < 2: no detectable shift)")
    print(f"identical answers: {report['identical_answers']}")
    print("\n# = wrong password, = = unknown user\n" + report["histogram"])


if __name__ == "__main__":
    main()

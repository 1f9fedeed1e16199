"""Turn a results JSON from bench/run.py into a markdown report and a PNG chart.

.venv/bin/python bench/report.py bench/results/<file>.json    # re-render an old run
.venv/bin/python bench/report.py --compare <sqlite>.json <postgresql>.json  # CPU side by side
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ORDER = (
    "ceiling",
    "jwks",
    "challenge",
    "client-credentials",
    "mfa-otp",
    "recovery-code",
    "password",
)

# The performance targets, as ratios measured in the same run.
TARGET_OTP = 0.10
TARGET_CHALLENGE = 0.25
TARGET_HASHING = 0.90
TARGET_PROBE_MS = 50.0
TARGET_SCALE = 1.2
# Server CPU per request outside the signatures (ms), on SQLite with 2 workers.
TARGET_OUTSIDE_MS = {"mfa-otp": 0.5, "client-credentials": 0.25, "challenge": 0.25}
# Shares of the bound that a ceiling request plus the request's signatures allow.
TARGET_SIGNATURE_BOUND = {"mfa-otp": 0.75, "client-credentials": 0.80}
TARGET_P99_MS = 50.0
MFA_SCENARIOS = ("challenge", "mfa-otp", "recovery-code")
TARGET_BACKEND_RATIO = 1.5
# Signatures a successful request makes: an MFA grant with `openid` signs an access and an ID
# token, client_credentials an access token.
SIGNATURES = {"mfa-otp": 2, "recovery-code": 2, "client-credentials": 1}
# A cell during which other processes used more than this share of the machine is flagged.
BUSY_SHARE = 0.10


def redact_url(url: str) -> str:
    """A database URL without its password."""
    if "://" not in url or "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f} %"


def _ceilings(cells: Iterable[dict[str, Any]]) -> dict[tuple[int, int], float]:
    return {
        (c["workers"], c["connections"]): c["ok_rps"] for c in cells if c["scenario"] == "ceiling"
    }


def _ratio(cell: dict[str, Any], ceilings: dict[tuple[int, int], float]) -> float | None:
    ceiling = ceilings.get((cell["workers"], cell["connections"]))
    return cell["ok_rps"] / ceiling if ceiling else None


def _sorted(cells: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    def key(c: dict[str, Any]) -> tuple[int, int, int]:
        rank = ORDER.index(c["scenario"]) if c["scenario"] in ORDER else len(ORDER)
        return rank, c["workers"], c["connections"]

    return sorted(cells, key=key)


def _errors(cell: dict[str, Any]) -> int:
    return int(sum(cell["socket_errors"].values()))


def signature_ms(results: dict[str, Any]) -> float | None:
    """One signature's CPU in this run: the signing ceiling's time per signature per process,
    measured with every core signing (as the server's workers do under load)."""
    signing = results.get("signing")
    return signing["us_per_signature_per_process"] / 1000 if signing else None


def outside_signatures_ms(cell: dict[str, Any], sign_ms: float | None) -> float | None:
    """Server CPU per request minus what its signatures cost (all requests succeed in the
    single-use scenarios; a refused request would have signed nothing)."""
    cpu = cell.get("server_cpu_ms_per_request")
    if cpu is None:
        return None
    count = SIGNATURES.get(cell["scenario"], 0)
    if count == 0:
        return float(cpu)
    if sign_ms is None or not cell["requests"]:
        return None
    return float(cpu) - count * sign_ms * cell["ok"] / cell["requests"]


def cells_table(
    cells: list[dict[str, Any]], hashing: dict[str, Any] | None, sign_ms: float | None = None
) -> list[str]:
    ceilings = _ceilings(cells)
    lines = [
        "| scenario | workers | conns | rps | ok rps | ok % | p50 ms | p99 ms | not ok "
        "| socket errors | ok rps / ceiling | server CPU ms/req | of it kernel | "
        "outside signatures ms/req | other CPU s |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for c in _sorted(cells):
        ok_share = c["ok"] / c["requests"] if c["requests"] else None
        if c["scenario"] == "ceiling":
            vs = "1 (ceiling)"
        elif c["scenario"] == "password" and (c.get("hashing") or hashing):
            own = c.get("hashing") or hashing
            vs = f"{_pct(c['ok_rps'] / own['ceiling_rps'])} of hashing"
        else:
            vs = _pct(_ratio(c, ceilings))
        note = ""
        if _others_share(c) > BUSY_SHARE:
            vs += " ⚠"
        if c.get("reused_bodies"):
            note = f" (pool exhausted, {c['reused_bodies']} repeats)"
        lines.append(
            f"| {c['scenario']} | {c['workers']} | {c['connections']} | {_fmt(c['rps'])} "
            f"| {_fmt(c['ok_rps'])} | {_pct(ok_share)} | {_fmt(c['latency_ms']['p50'], 2)} "
            f"| {_fmt(c['latency_ms']['p99'], 2)} | {_fmt(c['rejected'])}{note} "
            f"| {_fmt(_errors(c))} | {vs} | {_fmt(c.get('server_cpu_ms_per_request'), 2)} "
            f"| {_fmt(c.get('server_system_cpu_ms_per_request'), 2)} "
            f"| {_fmt(outside_signatures_ms(c, sign_ms), 2)} | {_fmt(c['cpu_s']['others'])} |"
        )
    return lines


def targets_table(results: dict[str, Any]) -> list[str]:
    cells = results.get("cells", [])
    ceilings = _ceilings(cells)
    hashing = results.get("hashing")
    rows: list[tuple[str, str, str, str]] = []
    for c in _sorted(cells):
        if c["workers"] != 2:
            continue
        where = f"2 workers, {c['connections']} conns"
        ratio = _ratio(c, ceilings)
        if c["scenario"] == "mfa-otp" and ratio is not None:
            rows.append(
                (
                    f"mfa-otp ≥ 10 % of ceiling ({where})",
                    _pct(ratio),
                    _signing_bound(results, ceilings.get((c["workers"], c["connections"]))),
                    _ok(ratio >= TARGET_OTP),
                )
            )
        if c["scenario"] == "challenge" and ratio is not None:
            rows.append(
                (
                    f"challenge ≥ 25 % of ceiling ({where})",
                    _pct(ratio),
                    "",
                    _ok(ratio >= TARGET_CHALLENGE),
                )
            )
    rows += cpu_targets(results)
    for c in _sorted(cells):
        if c["scenario"] != "password":
            continue
        where = f"{c['workers']} workers, {c['connections']} conns"
        # The ceiling measured right before this cell when the run did (see run.py).
        hashing_here = c.get("hashing") or hashing
        if hashing_here:
            share = c["ok_rps"] / hashing_here["ceiling_rps"]
            rows.append(
                (
                    f"password ≥ 90 % of hashing ceiling ({where})",
                    _pct(share),
                    f"{_fmt(c['ok_rps'])} of {_fmt(hashing_here['ceiling_rps'])} rps; "
                    f"{_pct(c['ok_rps'] / hashing_here['measured_parallel_rps'])} of the "
                    f"{_fmt(hashing_here['measured_parallel_rps'])} rps measured in parallel",
                    _ok(share >= TARGET_HASHING),
                )
            )
        probe = c.get("healthz_probe") or {}
        if probe.get("p99_ms") is not None:
            rows.append(
                (
                    f"/healthz p99 < 50 ms during password ({where})",
                    f"{probe['p99_ms']} ms",
                    f"{probe['samples']} probes, max {probe['max_ms']} ms",
                    _ok(probe["p99_ms"] < TARGET_PROBE_MS and not probe["failures"]),
                )
            )
    if not rows:
        return []
    lines = ["| target | measured | detail | met |", "|---|--:|---|:-:|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return lines


def _on_sqlite(results: dict[str, Any]) -> bool:
    return str(results["meta"]["options"]["database"]).startswith("sqlite")


def cpu_targets(results: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """The CPU targets: CPU per request outside the signatures (SQLite), the share of what the
    ceiling and the signatures allow, and p99 at 64 connections; all at 2 workers."""
    cells = [c for c in _sorted(results.get("cells", [])) if c["workers"] == 2]
    ceilings = _ceilings(cells)
    sign_ms = signature_ms(results)
    signing = results.get("signing")
    rows: list[tuple[str, str, str, str]] = []
    for c in cells:
        name, conns = c["scenario"], c["connections"]
        where = f"2 workers, {conns} conns"
        limit = TARGET_OUTSIDE_MS.get(name)
        outside = outside_signatures_ms(c, sign_ms)
        if limit is not None and outside is not None and _on_sqlite(results):
            count = SIGNATURES.get(name, 0)
            detail = f"{_fmt(c['server_cpu_ms_per_request'], 2)} ms of server CPU per request"
            if count:
                detail += f" - {count} x {_fmt(sign_ms, 3)} ms per signature"
            rows.append(
                (
                    f"{name} ≤ {limit} ms of CPU outside the signatures ({where})",
                    f"{outside:.2f} ms",
                    detail,
                    _ok(outside <= limit),
                )
            )
        share = TARGET_SIGNATURE_BOUND.get(name)
        ceiling = ceilings.get((2, conns))
        if share is not None and signing and ceiling:
            count = SIGNATURES[name]
            bound = 1 / (1 / ceiling + count / signing["signatures_per_second"])
            rows.append(
                (
                    f"{name} ≥ {share:.0%} of the signature bound ({where})",
                    _pct(c["ok_rps"] / bound),
                    f"{_fmt(c['ok_rps'])} of {_fmt(bound)} rps (a ceiling request plus "
                    f"{count} {signing['alg']} signature{'s' if count > 1 else ''})",
                    _ok(c["ok_rps"] >= share * bound),
                )
            )
        if name in MFA_SCENARIOS and conns == 64:
            p99 = c["latency_ms"]["p99"]
            rows.append(
                (
                    f"{name} p99 ≤ {TARGET_P99_MS:.0f} ms ({where})",
                    f"{_fmt(p99, 1)} ms",
                    f"p50 {_fmt(c['latency_ms']['p50'], 1)} ms at {_fmt(c['ok_rps'])} rps",
                    _ok(p99 <= TARGET_P99_MS),
                )
            )
    return rows


def compare_backends(baseline: dict[str, Any], other: dict[str, Any]) -> list[str]:
    """Server CPU per request of the same cells in two runs (SQLite, then PostgreSQL), and the
    ratio the PostgreSQL target bounds."""
    own = {
        (c["scenario"], c["workers"], c["connections"]): c
        for c in other.get("cells", [])
        if c["scenario"] != "ceiling"
    }
    # The target bounds PostgreSQL against SQLite; between two other runs the ratio is only shown.
    targeted = _on_sqlite(baseline) and not _on_sqlite(other)
    lines = [
        f"| scenario | workers | conns | {_backend(baseline)} CPU ms/req "
        f"| {_backend(other)} CPU ms/req | ratio |"
        + (f" ≤ {TARGET_BACKEND_RATIO}x |" if targeted else ""),
        "|---|--:|--:|--:|--:|--:|" + (":-:|" if targeted else ""),
    ]
    for c in _sorted(baseline.get("cells", [])):
        there = own.get((c["scenario"], c["workers"], c["connections"]))
        mine, theirs = (
            c.get("server_cpu_ms_per_request"),
            (there or {}).get("server_cpu_ms_per_request"),
        )
        if not mine or not theirs:
            continue
        ratio = theirs / mine
        lines.append(
            f"| {c['scenario']} | {c['workers']} | {c['connections']} | {_fmt(mine, 2)} "
            f"| {_fmt(theirs, 2)} | {ratio:.2f}x |"
            + (f" {_ok(ratio <= TARGET_BACKEND_RATIO)} |" if targeted else "")
        )
    return lines


def _backend(results: dict[str, Any]) -> str:
    name = "SQLite" if _on_sqlite(results) else "PostgreSQL"
    return name + (" + Redis" if _state(results) != "sql" else "")


def _state(results: dict[str, Any]) -> str:
    """Where the run kept Twofold's short-lived state: "sql" (runs before this was recorded
    all did) or the Redis URL."""
    return str(results["meta"]["options"].get("state", "sql"))


def _signing_bound(results: dict[str, Any], ceiling: float | None) -> str:
    """What the target leaves for Twofold's own work. A grant does at least what the ceiling
    app does (read the form, answer the same JSON) plus its two signatures; from the ceiling
    cell and the signing ceiling of the same run follow the most grants/s possible and, at the
    target, the CPU per grant left for everything else."""
    signing = results.get("signing")
    if not signing or not ceiling:
        return ""
    cores = signing["processes"]
    floor = 1 / ceiling + 2 / signing["signatures_per_second"]  # machine-seconds per grant
    bound = 1 / floor
    left_us = (1 / (TARGET_OTP * ceiling) - floor) * cores * 1e6
    text = (
        f"a ceiling request plus two {signing['alg']} signatures allow at most "
        f"{_fmt(bound)} rps ({_pct(bound / ceiling)})"
    )
    if left_us <= 0:
        return text + "; the target is out of reach of the signatures alone"
    return text + f"; at the target, {left_us:,.0f} µs of CPU per grant for the rest"


def _ok(flag: bool) -> str:
    return "yes" if flag else "**no**"


def scale_table(results: dict[str, Any]) -> list[str]:
    sizes = results["sizes"]
    if len(sizes) < 2:
        return []
    small, large = sizes[0], sizes[-1]
    by_small = {(c["scenario"], c["workers"], c["connections"]): c for c in small["cells"]}
    lines = [
        f"| scenario | workers | conns | ok rps {small['users']:,} | ok rps {large['users']:,} "
        f"| p50 ms {small['users']:,} → {large['users']:,} | ratio "
        f"| p99 ms {small['users']:,} → {large['users']:,} | ratio | within 1.2x |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|:-:|",
    ]
    for c in _sorted(large["cells"]):
        s = by_small.get((c["scenario"], c["workers"], c["connections"]))
        if s is None:
            continue
        r50 = c["latency_ms"]["p50"] / s["latency_ms"]["p50"] if s["latency_ms"]["p50"] else None
        r99 = c["latency_ms"]["p99"] / s["latency_ms"]["p99"] if s["latency_ms"]["p99"] else None
        met = r50 is not None and r99 is not None and max(r50, r99) <= TARGET_SCALE
        verdict = _ok(met)
        if s.get("reused_bodies") or c.get("reused_bodies"):
            # A cell that ran out of single-use bodies answered the repeats with cheap errors:
            # its latencies are not the scenario's. (Fewer users than a cell sends requests.)
            verdict = "not comparable: bodies ran out (shorter --duration)"
        lines.append(
            f"| {c['scenario']} | {c['workers']} | {c['connections']} | {_fmt(s['ok_rps'])} "
            f"| {_fmt(c['ok_rps'])} | {_fmt(s['latency_ms']['p50'], 2)} → "
            f"{_fmt(c['latency_ms']['p50'], 2)} | {_fmt(r50, 2)} "
            f"| {_fmt(s['latency_ms']['p99'], 2)} → {_fmt(c['latency_ms']['p99'], 2)} "
            f"| {_fmt(r99, 2)} | {verdict} |"
        )
    return lines


def chart(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if results["mode"] == "scale":
        groups = [(f"{size['users']:,} users", size["cells"]) for size in results["sizes"]]
        series: list[tuple[str, list[dict[str, Any]]]] = []
        for label, cells in groups:
            series.append((label, cells))
    else:
        cells = results["cells"]
        combos = sorted({(c["workers"], c["connections"]) for c in cells})
        series = [
            (
                f"{w} worker{'s' if w > 1 else ''}, {n} conns",
                [c for c in cells if (c["workers"], c["connections"]) == (w, n)],
            )
            for w, n in combos
        ]
    scenarios = [s for s in ORDER if any(c["scenario"] == s for _, cells in series for c in cells)]
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8))
    width = 0.8 / max(1, len(series))
    for ax, metric, title in (
        (axes[0], "ok_rps", "successful requests per second (log)"),
        (axes[1], "p99", "p99 latency, ms (log)"),
    ):
        for k, (label, cells) in enumerate(series):
            by_name = {c["scenario"]: c for c in cells}
            xs, ys = [], []
            for i, name in enumerate(scenarios):
                cell = by_name.get(name)
                if cell is None:
                    continue
                value = cell["ok_rps"] if metric == "ok_rps" else cell["latency_ms"]["p99"]
                xs.append(i - 0.4 + width * (k + 0.5))
                ys.append(max(value, 0.01))
            ax.bar(xs, ys, width=width, label=label)
        if metric == "ok_rps" and results.get("hashing") and "password" in scenarios:
            x = scenarios.index("password")
            ceiling = results["hashing"]["ceiling_rps"]
            ax.hlines(ceiling, x - 0.45, x + 0.45, colors="black", linestyles="dashed")
            ax.annotate("hashing ceiling", (x, ceiling), ha="center", va="bottom", fontsize=7)
        ax.set_yscale("log")
        ax.set_xticks(range(len(scenarios)))
        ax.set_xticklabels(scenarios, rotation=20)
        ax.set_title(title)
        ax.grid(axis="y", which="both", alpha=0.3)
    axes[0].legend(fontsize=8)
    meta = results["meta"]
    what = (
        "Twofold at each database size"
        if results["mode"] == "scale"
        else "Twofold vs bare-Starlette ceiling"
    )
    fig.suptitle(
        f"{what} — {meta['date']} — {meta['git_commit']} — {meta['machine']['cores']} cores"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _state_text(results: dict[str, Any]) -> str:
    state = _state(results)
    return "the database's `state` table" if state == "sql" else f"Redis {state}"


def markdown(results: dict[str, Any], png_name: str) -> str:
    meta = results["meta"]
    opts = meta["options"]
    machine = meta["machine"]
    out = [
        f"# Twofold benchmark — {meta['date']}" + (" (quick)" if opts["quick"] else ""),
        "",
        f"- commit `{meta['git_commit']}`"
        + (
            f" plus uncommitted changes in {meta['src_uncommitted_files']} file(s) under src/"
            if meta.get("src_uncommitted_files")
            else ""
        ),
        f"- machine: {machine['cpu']}, {machine['cores']} cores, {machine['memory_gib']} GiB, "
        f"Linux {machine['kernel']}; load average at start {machine['loadavg_at_start']}",
        f"- {', '.join(f'{k} {v}' for k, v in meta['versions'].items())}",
        f"- cells of {opts['duration_s']:g} s (password {opts['password_duration_s']:g} s), "
        f"wrk -t{opts['wrk_threads']}, loopback only; database: {opts['database']}; "
        f"state: {_state_text(results)}; "
        f"token scope `{opts['scope']}`, signed {opts.get('signing_alg', 'RS256')}",
        f"- whole run: {meta.get('total_seconds', '?')} s",
        *(
            [
                f"- every Twofold cell ran {opts['repeat']} times; its figures are the median "
                "of each (every run's own are in the JSON, under `runs`)"
            ]
            if opts.get("repeat", 1) > 1
            else []
        ),
        "",
        "Read `bench/README.md` for what each column means. *ok rps* counts only the expected "
        "answer (200; for the password grant the 403 `mfa_required`); *other CPU s* is CPU "
        "used during the cell by processes that are neither the server, wrk nor the bench — "
        "anything above a second or two means the figures of that cell are depressed by "
        "other work on the machine.",
        "",
        *_noise_note(results),
        f"![rps and p99 per scenario]({png_name})",
        "",
    ]
    hashing = results.get("hashing")
    if results["mode"] == "scale":
        out += ["## Scaling", ""]
        for size in results["sizes"]:
            seed = size["seed"]
            out.append(
                f"- {size['users']:,} users seeded in {seed['total_seconds']} s "
                f"({seed['users_per_second']:,} users/s)"
            )
        out += ["", *scale_table(results), ""]
        for size in results["sizes"]:
            out += [
                f"### {size['users']:,} users",
                "",
                *cells_table(size["cells"], hashing, signature_ms(results)),
                "",
            ]
        return "\n".join(out) + "\n"

    seed = results.get("seed", {})
    out += [
        "## Results",
        "",
        f"{results.get('users', 0):,} seeded users (seeded in {seed.get('total_seconds')} s); "
        f"the ceiling answers {results.get('otp_response_bytes')} bytes, the size of an "
        "mfa-otp token response.",
        "",
        *cells_table(results["cells"], hashing, signature_ms(results)),
        "",
    ]
    if hashing:
        out += [
            "## Hashing ceiling",
            "",
            f"argon2id {hashing['params']}: {hashing['seconds_per_verify'] * 1000:.0f} ms per "
            f"verify on one thread, so the ceiling is {hashing['cores']} cores / "
            f"{hashing['seconds_per_verify']:.3f} s = **{hashing['ceiling_rps']} rps**; "
            f"{hashing['cores']} threads through Twofold's hasher measured "
            f"{hashing['measured_parallel_rps']} rps."
            + "".join(
                f" Again right before the password cells with {workers} worker(s): "
                f"{again['seconds_per_verify'] * 1000:.0f} ms, ceiling {again['ceiling_rps']} "
                "rps (used for those cells)."
                for workers, again in {
                    c["workers"]: c["hashing"]
                    for c in _sorted(results["cells"])
                    if c["scenario"] == "password" and c.get("hashing")
                }.items()
            ),
            "",
        ]
    signing = results.get("signing")
    if signing:
        out += [
            "## Signing ceiling",
            "",
            f"{signing['processes']} processes signing an MFA grant's tokens with "
            f"{signing['alg']} through Twofold's `TokenSigner`, all at once for "
            f"{signing['seconds']} s, "
            + "; ".join(
                f"{m.get('when', 'before the servers')}: "
                f"{_fmt(m['signatures_per_second'])} signatures/s "
                f"({m['us_per_signature_per_process']} µs each per process)"
                for m in signing.get("measurements", [signing])
            )
            + f". The faster allows at most **{_fmt(signing['grants_per_second_bound'])} "
            "grants/s** (two signatures each, scope `openid`) if a grant cost nothing but its "
            "signatures; the targets below use it.",
            "",
        ]
    targets = targets_table(results)
    if targets:
        out += ["## Targets", "", *targets, ""]
    return "\n".join(out) + "\n"


def _others_share(cell: dict[str, Any]) -> float:
    """Share of the machine's CPU other processes used during the cell."""
    if "others_share" in cell:
        return float(cell["others_share"])
    cores = cell.get("cores", 2)  # results written before the field existed: the 2-core box
    return float(cell["cpu_s"]["others"]) / (cell["duration_s"] * cores)


def _all_cells(results: dict[str, Any]) -> list[dict[str, Any]]:
    if results["mode"] == "scale":
        return [c for size in results["sizes"] for c in size["cells"]]
    return list(results["cells"])


def _noise_note(results: dict[str, Any]) -> list[str]:
    cells = _all_cells(results)
    busy = [c for c in cells if _others_share(c) > BUSY_SHARE]
    if not busy:
        return ["Other processes stayed under 10 % of the machine during every cell.", ""]
    worst = max(_others_share(c) for c in busy)
    return [
        f"**Shared machine:** during {len(busy)} of {len(cells)} cells (marked ⚠) other "
        f"processes used more than {BUSY_SHARE:.0%} of the CPUs (up to {worst:.0%}); those "
        "cells understate what Twofold does on a quiet machine. Compare ratios within one "
        "run, and prefer *server CPU ms/req*, which load from others hardly changes.",
        "",
    ]


def render(results: dict[str, Any], base: Path) -> list[Path]:
    png = base.with_suffix(".png")
    md = base.with_suffix(".md")
    try:
        chart(results, png)
    except (ImportError, OSError) as exc:
        # The venv is shared: a plain `uv sync` elsewhere removes the bench group, even from
        # under a running benchmark. The JSON is already written; re-render it later.
        print(
            f"no chart ({type(exc).__name__}: {exc}); reinstall with "
            "`.tools/bin/uv sync --frozen --group bench --inexact`, then "
            f"`.venv/bin/python bench/report.py {base.with_suffix('.json')}`",
            file=sys.stderr,
        )
        md.write_text(
            markdown(results, png.name).replace(
                f"![rps and p99 per scenario]({png.name})", "(no chart: matplotlib was missing)"
            )
        )
        return [md]
    md.write_text(markdown(results, png.name))
    return [md, png]


def preload() -> None:
    """Import the plotting stack now, so a run that lasts minutes does not find it gone."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.backends.backend_agg
    import matplotlib.pyplot


def console_summary(results: dict[str, Any]) -> str:
    if results["mode"] == "scale":
        return "\n".join(scale_table(results))
    lines = cells_table(results["cells"], results.get("hashing"), signature_ms(results))
    targets = targets_table(results)
    return "\n".join([*lines, "", *targets])


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "--compare":
        baseline, other = (json.loads(Path(a).read_text()) for a in argv[1:])
        print("\n".join(compare_backends(baseline, other)))
        return 0
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    path = Path(argv[0])
    results = json.loads(path.read_text())
    for out in render(results, path.with_suffix("")):
        print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

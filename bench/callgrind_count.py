"""Instructions per request on the hot paths, outside the signatures, under callgrind.

    .venv/bin/python bench/callgrind_count.py                        # all four scenarios
    .venv/bin/python bench/callgrind_count.py --scenario challenge --requests 200
    .venv/bin/python bench/callgrind_count.py --keep /tmp/cg -- --database-url postgresql://…

CPU time on a machine shared with other work moves by ±10 % between identical runs; the count
of instructions a request executes does not (it moves by well under 1 %). This runs
`profile_hot.py --timing --callgrind` under `valgrind --tool=callgrind`, which dumps the
counters of each scenario's measured requests only, and reads each dump: instructions per
request in all, in the signatures (OpenSSL's `EVP_PKEY_sign`, inclusive), in loading a
signing key (none on the frozen clock, counted in case), and what is left: the request's own
work. Instructions are not time (a signature's vector code does more per instruction than the
interpreter does), so compare counts with counts, before and after a change.

The app runs on a frozen clock here (`profile_hot.py --callgrind`): under valgrind a request
takes ~0.2 s, and TOTP codes, mfa_tokens and caches would otherwise expire in some runs and not
in others.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
# Inclusive costs subtracted from each dump; the names are OpenSSL's and cryptography's.
EXCLUDED = {
    "signatures": re.compile(r"\?\?\?:EVP_PKEY_sign(?:_init)? "),
    "key loads": re.compile(r"__pyfunction_load_pem_private_key "),
}


def _inclusive(dump: Path) -> dict[str, int]:
    text = subprocess.run(
        ["callgrind_annotate", "--inclusive=yes", "--threshold=100", str(dump)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    found = dict.fromkeys(EXCLUDED, 0)
    for line in text.splitlines():
        for name, pattern in EXCLUDED.items():
            if pattern.search(line):
                found[name] += int(line.split()[0].replace(",", ""))
    return found


def _summary(dump: Path) -> tuple[str, int]:
    scenario, total = "", 0
    with dump.open() as lines:
        for line in lines:
            if line.startswith("desc: Trigger: dump "):
                scenario = line.split()[-1]
            elif line.startswith("summary:"):
                total = int(line.split()[1])
                break
    return scenario, total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", action="append")
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--keep", type=Path, help="write the callgrind dumps here")
    parser.add_argument("extra", nargs="*", help="more profile_hot.py options, after --")
    args = parser.parse_args(argv)
    scenarios = args.scenario or ["mfa-otp", "challenge", "client-credentials", "recovery-code"]
    out_dir = args.keep or Path(tempfile.mkdtemp(prefix="twofold-callgrind-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    command = [
        "valgrind",
        "--tool=callgrind",
        f"--callgrind-out-file={out_dir}/callgrind.out.%p",
        sys.executable,
        str(BENCH_DIR / "profile_hot.py"),
        "--timing",
        "--callgrind",
        f"--requests={args.requests}",
        f"--warmup={args.warmup}",
        *(f"--scenario={s}" for s in scenarios),
        *args.extra,
    ]
    run = subprocess.run(command, capture_output=True, text=True)
    print("\n".join(line for line in run.stdout.splitlines() if line.startswith("# ")))
    if run.returncode != 0:
        print(run.stderr[-4000:], file=sys.stderr)
        return run.returncode
    print("\n| scenario | instructions/request | signatures | key loads | outside them |")
    print("|---|--:|--:|--:|--:|")
    for dump in sorted(out_dir.glob("callgrind.out.*.*"), key=lambda p: int(p.suffix[1:])):
        scenario, total = _summary(dump)
        excluded = _inclusive(dump)
        n = args.requests
        rest = total - sum(excluded.values())
        print(
            f"| {scenario} | {total / n:,.0f} | {excluded['signatures'] / n:,.0f} | "
            f"{excluded['key loads'] / n:,.0f} | **{rest / n:,.0f}** |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""How long `twofold import auth0` takes for N users in Auth0's export format.

    .venv/bin/python bench/import_users.py --users 100000
    .venv/bin/python bench/import_users.py --users 20000 --database-url postgresql://…/empty_db

Writes N users as NDJSON (what Auth0's user export writes): each with a bcrypt
custom_password_hash, metadata and, for `--totp-share` of them, a TOTP factor with its own
secret. All users share one bcrypt hash (the import checks a hash's form, it never computes one,
so a million distinct hashes would only slow the generator). Then it runs the command on a fresh
SQLite file in a temporary directory (or on the given empty database), times it, runs it again
(everyone skipped: the idempotent re-run) and prints both figures, with the rows it finds after.
The command runs as the operator runs it, in its own process, progress bar on stderr.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import bcrypt
import click

ROOT = Path(__file__).resolve().parents[1]
TWOFOLD = ROOT / ".venv" / "bin" / "twofold"


def write_users(path: Path, count: int, totp_share: float) -> None:
    shared_hash = bcrypt.hashpw(b"correct horse battery", bcrypt.gensalt(10)).decode()
    with_totp = int(count * totp_share)
    with path.open("w") as out:
        for i in range(count):
            user: dict[str, object] = {
                "user_id": f"auth0|bench{i:08d}",
                "email": f"user{i:08d}@bench.twofold.test",
                "email_verified": True,
                "name": f"Bench User {i}",
                "custom_password_hash": {"algorithm": "bcrypt", "hash": {"value": shared_hash}},
                "user_metadata": {"locale": "en", "plan": "free"},
                "app_metadata": {"roles": ["member"]},
            }
            if i < with_totp:
                secret = base64.b32encode(secrets.token_bytes(20)).decode().rstrip("=")
                user["mfa_factors"] = [{"totp": {"secret": secret}}]
            out.write(json.dumps(user) + "\n")


def timed_import(path: Path, env: dict[str, str]) -> tuple[float, dict[str, object]]:
    started = time.perf_counter()
    done = subprocess.run(
        [str(TWOFOLD), "import", "auth0", str(path), "--json"],
        env=env,
        stdout=subprocess.PIPE,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"twofold import exited {done.returncode}")
    result = json.loads(done.stdout)
    result.pop("failures", None)
    return elapsed, result


@click.command()
@click.option("--users", "count", default=100_000, show_default=True, help="Users in the file.")
@click.option(
    "--totp-share", default=1.0, show_default=True, help="Share of users with a TOTP factor."
)
@click.option("--database-url", help="An empty database to import into (default: SQLite file).")
@click.option("--keep", is_flag=True, help="Keep the temporary directory (file and database).")
def main(count: int, totp_share: float, database_url: str | None, keep: bool) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="twofold-import-bench-"))
    env = {
        **os.environ,
        "TWOFOLD_DATA_DIR": str(workdir),
        "TWOFOLD_DATABASE_URL": database_url or f"sqlite:///{workdir}/bench.db",
        "TWOFOLD_ENVIRONMENT": "test",
        "TWOFOLD_DOMAIN": "bench.twofold.test",
        "TWOFOLD_ENCRYPTION_KEYS": "",
    }
    if database_url:
        subprocess.run([str(TWOFOLD), "migrate"], env=env, check=True)
    path = workdir / "users.ndjson"
    started = time.perf_counter()
    write_users(path, count, totp_share)
    click.echo(
        f"wrote {count} users ({path.stat().st_size / 1e6:.1f} MB) "
        f"in {time.perf_counter() - started:.1f} s",
        err=True,
    )
    first, result = timed_import(path, env)
    again, rerun = timed_import(path, env)
    click.echo(
        json.dumps(
            {
                "users": count,
                "totp_share": totp_share,
                "database": "given" if database_url else "sqlite",
                "import_seconds": round(first, 1),
                "users_per_second": round(count / first),
                "import": result,
                "rerun_seconds": round(again, 1),
                "rerun": rerun,
            },
            indent=2,
        )
    )
    if keep:
        click.echo(f"kept {workdir}", err=True)
    else:
        for child in sorted(workdir.rglob("*"), reverse=True):
            child.unlink() if child.is_file() else child.rmdir()
        workdir.rmdir()


if __name__ == "__main__":
    main()

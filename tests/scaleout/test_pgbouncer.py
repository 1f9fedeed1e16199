"""Twofold behind PgBouncer in transaction mode, the pooler docs/deploy.md suggests beyond one
pool: Debian's PgBouncer (1.18, installed when missing) with two server connections for every
client, so that each transaction may run on a connection another client used last. (Two, not
one: a node starting on an empty database holds an advisory lock in one transaction while it
writes the first signing key through another.)"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import anyio.to_thread
import psycopg
import pytest
from psycopg import sql

from contract._backends import POSTGRES_URL, _admin_connect
from twofold.app import create_services
from twofold.config import Settings
from twofold.core.models import AuditEvent, Authenticator, User
from twofold.storage import migrate
from twofold.storage.database import Database
from twofold.storage.repositories import SqlStorage

from ._cluster import ensure_program

pytestmark = [pytest.mark.anyio, pytest.mark.scaleout]

_CONFIG = """\
[databases]
* = host={host} port={port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {listen}
unix_socket_dir =
auth_type = trust
auth_file = {dir}/users.txt
pool_mode = transaction
default_pool_size = 2
max_client_conn = 100
ignore_startup_parameters = extra_float_digits
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def bounced() -> Iterator[tuple[str, str]]:
    """(the database's own URL, its URL through PgBouncer), for a new, empty database."""
    binary = ensure_program("pgbouncer", ("pgbouncer",))
    name = f"twofold_bouncer_{secrets.token_hex(6)}"
    info = psycopg.conninfo.conninfo_to_dict(POSTGRES_URL)
    host, port = str(info.get("host", "127.0.0.1")), str(info.get("port", 5432))
    with _admin_connect() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    # Not under tmp_path: as root, PgBouncer runs as postgres, which must read its files, and
    # pytest's base directory is root's alone. It logs to its stdout, read if it fails to start.
    workdir = Path(tempfile.mkdtemp(prefix="twofold-pgbouncer-"))
    workdir.chmod(0o755)
    listen = _free_port()
    (workdir / "users.txt").write_text('"postgres" ""\n')
    ini = workdir / "pgbouncer.ini"
    ini.write_text(_CONFIG.format(host=host, port=port, listen=listen, dir=workdir))
    # PgBouncer refuses to run as root: as root (CI), it runs as postgres.
    command = [binary, str(ini)]
    if os.geteuid() == 0:
        command[1:1] = ["-u", "postgres"]
    bouncer = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", listen), timeout=1).close()
                break
            except OSError:
                if bouncer.poll() is not None or time.monotonic() > deadline:
                    output = bouncer.stdout.read().decode() if bouncer.stdout else ""
                    pytest.fail(f"PgBouncer did not start: {output}")
                time.sleep(0.05)
        yield (
            f"postgresql://postgres@{host}:{port}/{name}",
            f"postgresql://postgres@127.0.0.1:{listen}/{name}",
        )
    finally:
        bouncer.terminate()
        bouncer.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)
        with _admin_connect() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


async def _workload(storage: SqlStorage, user_id: str) -> None:
    """What grants do, many times over on several pooled connections at once: reads in and out
    of a shared connection, two reads in one pipeline, units of work with an audit row."""
    for i in range(12):
        async with storage.shared_connection():
            user, _ = await storage.user_and_authenticators(user_id)
            assert user is not None
            async with storage.unit_of_work():
                await storage.recovery_codes.set(user_id, f"hash-{i}", float(i))
                await storage.audit.record(
                    AuditEvent(type="gd_auth_succeed", at=float(i), description="x"),
                    lambda error: pytest.fail(f"audit row failed: {error!r}"),
                )
        assert await storage.recovery_codes.get_hash(user_id) == f"hash-{i}"


async def test_twofold_runs_behind_pgbouncer_in_transaction_mode(
    tmp_path: Path, bounced: tuple[str, str]
) -> None:
    direct_url, bouncer_url = bounced
    await anyio.to_thread.run_sync(migrate.upgrade, direct_url)
    # The setting reaches the pool the composition root opens.
    settings = Settings(
        database_url=bouncer_url,
        domain="auth.bouncer.test",
        data_dir=tmp_path,
        environment="test",
        argon2_time_cost=1,
        argon2_memory_cost=1024,
        db_prepared_statements=False,
        db_pool_size=4,
    )
    services = await create_services(settings)
    try:
        storage = SqlStorage(services.database)
        for n in range(4):
            await storage.users.create(
                User(f"auth0|{n}", f"{n}@example.com", "$argon2id$fake", created_at=1.0)
            )
            await storage.authenticators.add(
                Authenticator(f"totp|dev_{n}", f"auth0|{n}", "totp", True, 1.0)
            )
        # Each statement runs well over psycopg's five times before it prepares one, on four
        # pooled connections that PgBouncer serves from two server connections.
        async with anyio.create_task_group() as tasks:
            for n in range(4):
                tasks.start_soon(_workload, storage, f"auth0|{n}")
    finally:
        await services.close()


def _version(binary: str) -> tuple[int, ...]:
    words = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout.split()
    return tuple(int(part) for part in words[1].split("."))


async def test_prepared_statements_are_what_pgbouncer_before_1_21_cannot_pool(
    bounced: tuple[str, str],
) -> None:
    # Why the setting exists, and that the workload above would catch its absence: with the
    # driver's prepared statements the same workload fails behind this PgBouncer (two clients
    # prepare `_pg3_0` on one server connection, or a transaction finds its statement missing
    # on the other).
    if _version(ensure_program("pgbouncer", ("pgbouncer",))) >= (1, 21):
        pytest.skip("PgBouncer 1.21 and later pool prepared statements themselves")
    direct_url, bouncer_url = bounced
    await anyio.to_thread.run_sync(migrate.upgrade, direct_url)
    database = Database.open(bouncer_url, pool_size=4)
    errors: list[str] = []

    async def failing(user_id: str) -> None:
        try:
            await _workload(storage, user_id)
        except Exception as error:  # what it was is the assertion below
            errors.append(str(error))

    try:
        storage = SqlStorage(database)
        for n in range(4):
            await storage.users.create(
                User(f"auth0|{n}", f"{n}@example.com", "$argon2id$fake", created_at=1.0)
            )
        async with anyio.create_task_group() as tasks:
            for n in range(4):
                tasks.start_soon(failing, f"auth0|{n}")
    finally:
        await database.dispose()
    assert any("prepared statement" in error for error in errors), errors

"""Bulk test data for load tests: many users, each with a confirmed TOTP authenticator and a
recovery code, written straight into the tables with large batched inserts.

    TWOFOLD_SEED_PASSWORD='…' .venv/bin/python bench/seed.py users --count 1000000 --seed my-seed

A bench tool, not part of the server: it reads the server's configuration (the same
TWOFOLD_* variables) and writes rows in the server's table layout, which no server code path
does. It is not a way to create real users. Every secret of a seeded user (TOTP secret,
recovery code) is derived from a seed string and the user's index, so whoever knows the seed
can compute any user's codes: that is what lets a load generator produce a fresh valid code for
a million users without storing a million secrets. For the same reason it refuses to run when
`TWOFOLD_ENVIRONMENT=production`.

What a seeded user looks like, as if they had enrolled through the API:
- a `users` row; all seeded users share one password, so its argon2 hash is computed once;
- an active `totp` authenticator whose secret is encrypted with the server's key ring;
- an active `recovery-code` authenticator and its `recovery_codes` row (hash of the code).

`issue_mfa_tokens` writes mfa_token state for given users as the password grant would (through
the core's own `mfa_tokens.issue`), into the state store the server uses: the SQL `state` table,
or Redis when TWOFOLD_REDIS_URL is set. `reset_factors` puts used factors back in their seeded
state (TOTP replay guard cleared, recovery code back to the derived one; with Redis, the users'
MFA attempt buckets deleted too), so a benchmark can reuse users instead of running an argon2
check per login. `bench/run.py` and `bench/profile_hot.py` import these functions.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import string
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

from twofold.core.models import DEFAULT_REALM

if TYPE_CHECKING:
    import sqlalchemy as sa
    from sqlalchemy import Connection, Engine

    from twofold.config import Settings
    from twofold.core.crypto import KeyRing


def _translation(alphabet: str) -> bytes:
    """Maps every byte to a character of `alphabet` (modulo bias is irrelevant for fixtures)."""
    return bytes(ord(alphabet[b % len(alphabet)]) for b in range(256))


_BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
_TO_BASE62 = _translation(_BASE62)
_TO_BASE36 = _translation(string.digits + string.ascii_uppercase)
_TO_BASE32 = _translation(string.ascii_uppercase + "234567")


def _base62(n: int, width: int) -> str:
    """Fixed-width base62 in ASCII order, so that string order is numeric order."""
    if n >= 62**width:
        raise ValueError("index too large for the id width")
    out = []
    for _ in range(width):
        n, digit = divmod(n, 62)
        out.append(_BASE62[digit])
    return "".join(reversed(out))


DEFAULT_BATCH = 20_000


class SeedError(click.ClickException):
    """A seeding request that cannot be honoured; the message is safe to print."""


@dataclass(frozen=True, slots=True)
class SeedSpec:
    """How seeded user number `i` is named and what their secrets are.

    Ids and emails start with the index (hex, base62 or zero-padded decimal), so consecutive
    users sort next to each other and a bulk load appends to the right edge of every index
    instead of dirtying random pages: a million users load several times faster. The rest of
    each id is derived like the secrets, so ids keep the shapes the server issues.
    """

    seed: str
    prefix: str = "seed"
    email_domain: str = "seed.twofold.invalid"
    realm: str = DEFAULT_REALM

    def _bytes(self, purpose: str, i: int, size: int) -> bytes:
        h = hashlib.blake2b(
            f"{purpose}:{i}".encode(), key=self.seed.encode()[:64], digest_size=size
        )
        return h.digest()

    def _chars(self, purpose: str, i: int, table: bytes, length: int) -> str:
        return self._bytes(purpose, i, length).translate(table).decode("ascii")

    def user_id(self, i: int) -> str:
        return f"auth0|{i:010x}" + self._bytes("user", i, 7).hex()

    def email(self, i: int) -> str:
        return f"{self.prefix}{i:09d}@{self.email_domain}"

    def totp_id(self, i: int) -> str:
        return "totp|dev_" + _base62(i, 6) + self._chars("totp-id", i, _TO_BASE62, 10)

    def recovery_id(self, i: int) -> str:
        return "recovery-code|dev_" + _base62(i, 6) + self._chars("recovery-id", i, _TO_BASE62, 10)

    def totp_secret(self, i: int) -> str:
        # 32 base32 characters = 160 bits, the size `totp_codes.new_secret` makes.
        return self._chars("totp-secret", i, _TO_BASE32, 32)

    def recovery_code(self, i: int) -> str:
        return self._chars("recovery-code", i, _TO_BASE36, 24)


@dataclass(frozen=True, slots=True)
class SeedReport:
    start: int
    count: int
    hash_seconds: float
    # Time spent waiting for rows to be built (the rest of the building overlaps inserts).
    build_wait_seconds: float
    insert_seconds: float
    total_seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "count": self.count,
            "hash_seconds": round(self.hash_seconds, 3),
            "build_wait_seconds": round(self.build_wait_seconds, 3),
            "insert_seconds": round(self.insert_seconds, 3),
            "total_seconds": round(self.total_seconds, 3),
            "users_per_second": round(self.count / self.total_seconds) if self.total_seconds else 0,
        }


def _refuse_production(settings: Settings) -> None:
    if settings.environment == "production":
        raise SeedError("seeding is for load tests and is refused in production")


def _engine(settings: Settings) -> Engine:
    from twofold.storage.database import make_sync_engine

    return make_sync_engine(settings.database_url)


def _batches(start: int, count: int, size: int) -> Iterable[range]:
    end = start + count
    for first in range(start, end, size):
        yield range(first, min(first + size, end))


def _insert_many(conn: Connection, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    """executemany straight on the driver: SQLAlchemy's per-row parameter processing costs more
    than SQLite's insert itself. Values must already be what the driver takes (str, int,
    float, bool, None), which is all the seeded rows hold."""
    if not rows:
        return
    compiled = table.insert().compile(dialect=conn.dialect, column_keys=list(rows[0]))
    params: list[Any]
    if compiled.positional:
        order = compiled.positiontup or []
        params = [tuple(row[k] for k in order) for row in rows]
    else:
        params = list(rows)
    conn.exec_driver_sql(compiled.string, params)


def _sqlite_bulk_pragmas(conn: Connection) -> None:
    # A big page cache (2 GiB, allocated only as used) keeps the indexes of a million-row
    # table in memory while loading; random keys otherwise make every insert a page miss.
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("PRAGMA cache_size=-2097152")


def hash_password_once(settings: Settings, password: str) -> str:
    """The argon2id hash every seeded user shares, with the server's configured costs."""
    from twofold.core.passwords import PasswordHasher

    hasher = PasswordHasher(
        time_cost=settings.argon2_time_cost,
        memory_cost=settings.argon2_memory_cost,
        parallelism=settings.argon2_parallelism,
        max_concurrency=1,
    )
    try:
        return asyncio.run(hasher.hash(password))
    finally:
        hasher.close()


Rows = tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]


def _build_rows(
    spec: SeedSpec, block: range, keyring: KeyRing, password_hash: str, now: float
) -> Rows:
    """The users, authenticators and recovery_codes rows of one batch."""
    from twofold.core.associated_data import otp_secret as secret_aad
    from twofold.core.factors import recovery

    users: list[dict[str, Any]] = []
    authenticators: list[dict[str, Any]] = []
    codes: list[dict[str, Any]] = []
    for i in block:
        user_id = spec.user_id(i)
        totp_id = spec.totp_id(i)
        users.append(
            {
                "user_id": user_id,
                "realm": spec.realm,
                "email": spec.email(i),
                "username": None,
                "password_hash": password_hash,
                "email_verified": True,
                "name": None,
                "created_at": now,
            }
        )
        secret_enc = keyring.encrypt(spec.totp_secret(i).encode(), secret_aad(totp_id))
        for auth_id, kind, seq, enc in (
            (totp_id, "totp", 1, secret_enc),
            (spec.recovery_id(i), "recovery-code", 2, None),
        ):
            authenticators.append(
                {
                    "id": auth_id,
                    "user_id": user_id,
                    "kind": kind,
                    "active": True,
                    "created_at": now,
                    "seq": seq,
                    "secret_enc": enc,
                    "last_step": None,
                    "name": None,
                    "target_enc": None,
                    "link_id": None,
                    "confirmed_at": now,
                    "last_used_at": None,
                }
            )
        codes.append(
            {
                "user_id": user_id,
                "code_hash": recovery.hash_code(spec.recovery_code(i)),
                "updated_at": now,
            }
        )
    return users, authenticators, codes


def seed_users(
    settings: Settings,
    spec: SeedSpec,
    count: int,
    password: str,
    *,
    start: int = 0,
    batch: int = DEFAULT_BATCH,
    progress: Callable[[int], None] | None = None,
) -> SeedReport:
    """Insert users `start … start+count-1` with their authenticators; one transaction per batch.

    The next batch's rows are built in a thread while the database inserts the current one.
    """
    from concurrent.futures import ThreadPoolExecutor

    from twofold.app import load_keyring
    from twofold.storage import migrate
    from twofold.storage import tables as t

    _refuse_production(settings)
    if count < 1 or start < 0 or batch < 1:
        raise SeedError("count and batch must be positive and start not negative")
    if len(password) < 8:
        raise SeedError("passwords must have at least 8 characters")
    began = time.perf_counter()
    migrate.upgrade(settings.database_url)
    keyring = load_keyring(settings)
    password_hash = hash_password_once(settings, password)
    hashed = time.perf_counter()
    now = time.time()
    blocks = list(_batches(start, count, batch))
    build = insert = 0.0
    engine = _engine(settings)
    try:
        with engine.connect() as conn, ThreadPoolExecutor(1) as builder:
            _sqlite_bulk_pragmas(conn)
            conn.commit()
            pending = builder.submit(_build_rows, spec, blocks[0], keyring, password_hash, now)
            for n, block in enumerate(blocks):
                t0 = time.perf_counter()
                users, authenticators, codes = pending.result()
                if n + 1 < len(blocks):
                    pending = builder.submit(
                        _build_rows, spec, blocks[n + 1], keyring, password_hash, now
                    )
                t1 = time.perf_counter()
                _insert_many(conn, t.users, users)
                _insert_many(conn, t.authenticators, authenticators)
                _insert_many(conn, t.recovery_codes, codes)
                conn.commit()
                build += t1 - t0
                insert += time.perf_counter() - t1
                if progress is not None:
                    progress(block.stop - start)
    finally:
        engine.dispose()
    return SeedReport(
        start=start,
        count=count,
        hash_seconds=hashed - began,
        build_wait_seconds=build,
        insert_seconds=insert,
        total_seconds=time.perf_counter() - began,
    )


class _CollectingState:
    """Stands in for the StateStore while `mfa_tokens.issue` runs, to batch its writes."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, str, float]] = []

    async def put(self, key: str, value: str, ttl: float) -> None:
        self.entries.append((key, value, ttl))


# The core's attempt bucket for MFA codes (`attempts.mfa_attempts`), one per user.
MFA_ATTEMPTS_KEY = "attempts:mfa:{user_id}"


async def _redis_batches(
    settings: Settings,
    now: float,
    *,
    puts: Sequence[tuple[str, str, float]] = (),
    deletes: Sequence[str] = (),
) -> None:
    """Write through the server's own `RedisStateStore` on a pipeline without a transaction:
    a pipeline only queues commands, so the store's code makes each key (with its prefix),
    entry and TTL exactly as the server would at `now`, and each batch is one round trip."""
    import redis.asyncio as aioredis

    from twofold.core.clock import FrozenClock
    from twofold.state.redis import RedisStateStore

    client = aioredis.Redis.from_url(settings.redis_url)
    try:
        for first in range(0, max(len(puts), len(deletes)), DEFAULT_BATCH):
            pipe = client.pipeline(transaction=False)
            store = RedisStateStore(pipe, FrozenClock(now), prefix=settings.redis_prefix)
            for key, value, ttl in puts[first : first + DEFAULT_BATCH]:
                await store.put(key, value, ttl)
            for key in deletes[first : first + DEFAULT_BATCH]:
                await store.delete(key)
            await pipe.execute()
    finally:
        await client.aclose()


def issue_mfa_tokens(
    settings: Settings,
    spec: SeedSpec,
    indices: Sequence[int],
    *,
    client_id: str,
    scope: str = "openid profile email",
    audience: str | None = None,
    engine: Engine | None = None,
) -> list[str]:
    """One fresh mfa_token per index, exactly as the password grant issues them (same key,
    record and TTL), written in batches to the server's state store: the SQL `state` table, or
    Redis when `settings.redis_url` is set. Returns the tokens in order.

    The server must use the same database (and the same Redis database and prefix).
    """
    from types import SimpleNamespace

    from twofold.core.clock import FrozenClock
    from twofold.core.deps import Policy
    from twofold.core.mfa import mfa_tokens
    from twofold.storage import tables as t

    _refuse_production(settings)
    now = time.time()
    state = _CollectingState()
    deps: Any = SimpleNamespace(
        clock=FrozenClock(now),
        policy=Policy(mfa_token_lifetime=settings.mfa_token_lifetime),
        state=state,
    )
    target = audience or f"{settings.issuer}userinfo"

    async def issue_all() -> list[str]:
        return [
            await mfa_tokens.issue(
                deps,
                user_id=spec.user_id(i),
                client_id=client_id,
                audience=target,
                scope=scope,
                realm=spec.realm,
            )
            for i in indices
        ]

    tokens = asyncio.run(issue_all())
    if settings.redis_url:
        asyncio.run(_redis_batches(settings, now, puts=state.entries))
        return tokens
    rows = [
        {"key": key, "value": value, "expires_at": now + ttl} for key, value, ttl in state.entries
    ]
    own = engine is None
    engine = engine or _engine(settings)
    try:
        with engine.begin() as conn:
            for first in range(0, len(rows), DEFAULT_BATCH):
                _insert_many(conn, t.state, rows[first : first + DEFAULT_BATCH])
    finally:
        if own:
            engine.dispose()
    return tokens


def reset_factors(
    settings: Settings, spec: SeedSpec, indices: Sequence[int], *, engine: Engine | None = None
) -> None:
    """Put the users' factors back as seeded: TOTP replay guard cleared, recovery code reset.

    With Redis, the users' MFA attempt buckets are deleted as well. A successful grant refunds
    its attempt, so a bucket is normally back to full by the next cell; deleting it makes sure
    no attempt a lost race left taken carries over. (On SQL those rows stay, as they always
    have: they expire on their own.)
    """
    import sqlalchemy as sa

    from twofold.core.factors import recovery
    from twofold.storage import tables as t

    _refuse_production(settings)
    a, r = t.authenticators, t.recovery_codes
    clear_step = sa.update(a).where(a.c.id == sa.bindparam("b_id")).values(last_step=None)
    reset_code = (
        sa.update(r)
        .where(r.c.user_id == sa.bindparam("b_user"))
        .values(code_hash=sa.bindparam("b_hash"))
    )
    own = engine is None
    engine = engine or _engine(settings)
    try:
        for first in range(0, len(indices), DEFAULT_BATCH):
            chunk = indices[first : first + DEFAULT_BATCH]
            with engine.begin() as conn:
                conn.execute(clear_step, [{"b_id": spec.totp_id(i)} for i in chunk])
                conn.execute(
                    reset_code,
                    [
                        {
                            "b_user": spec.user_id(i),
                            "b_hash": recovery.hash_code(spec.recovery_code(i)),
                        }
                        for i in chunk
                    ],
                )
    finally:
        if own:
            engine.dispose()
    if settings.redis_url:
        buckets = [MFA_ATTEMPTS_KEY.format(user_id=spec.user_id(i)) for i in indices]
        asyncio.run(_redis_batches(settings, time.time(), deletes=buckets))


def _settings() -> Settings:
    from twofold.config import Settings

    try:
        return Settings()
    except Exception as exc:  # pydantic's message names the variable that is wrong
        raise click.ClickException(f"invalid configuration: {exc}") from None


@click.group("bench/seed.py")
def seed_group() -> None:
    """Bulk test data for load tests (refused in production). Reads the server's TWOFOLD_*
    configuration."""


@seed_group.command("users")
@click.option(
    "--count", required=True, type=click.IntRange(1, 100_000_000), help="Users to create."
)
@click.option(
    "--start",
    default=0,
    show_default=True,
    type=click.IntRange(0),
    help="Index of the first user (to add users after existing ones).",
)
@click.option(
    "--password",
    required=True,
    envvar="TWOFOLD_SEED_PASSWORD",
    help="Shared by every seeded user; prefer TWOFOLD_SEED_PASSWORD.",
)
@click.option("--seed", "seed", help="Derives every secret; random (and printed) if omitted.")
@click.option("--prefix", default="seed", show_default=True, help="Emails are <prefix><i>@…")
@click.option(
    "--batch",
    default=DEFAULT_BATCH,
    show_default=True,
    type=click.IntRange(1),
    help="Users per insert transaction.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def seed_users_command(
    count: int, start: int, password: str, seed: str | None, prefix: str, batch: int, as_json: bool
) -> None:
    """Create users <start>…<start+count-1>, each with an active TOTP authenticator and a
    recovery code derived from --seed."""
    settings = _settings()
    spec = SeedSpec(seed=seed or secrets.token_urlsafe(24), prefix=prefix)
    step = max(batch, count // 20)

    def progress(done: int) -> None:
        if not as_json and (done % step < batch or done == count):
            click.echo(f"  {done}/{count} users", err=True)

    report = seed_users(
        settings, spec, count, password, start=start, batch=batch, progress=progress
    )
    data = {**report.as_dict(), "seed": spec.seed, "prefix": spec.prefix}
    if as_json:
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(
            f"seeded {count} users in {report.total_seconds:.1f} s "
            f"({data['users_per_second']}/s); seed={spec.seed}"
        )


if __name__ == "__main__":
    seed_group()

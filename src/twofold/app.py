"""The composition root: the only module that knows every concrete class.

`create_services(settings)` opens the database (migrating SQLite), loads the encryption keys and
builds the core's dependencies; `build_app(services)` wraps them in the ASGI app. `asgi()` is the
factory uvicorn calls in each worker.

Scale-out (docs/deploy.md): on PostgreSQL the schema must already be at this build's head
(`twofold migrate` is a separate step) or start-up is refused; with TWOFOLD_REDIS_URL the
short-lived state lives in Redis instead of the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from twofold.config import Settings
from twofold.core.admin import Admin
from twofold.core.attempts import Bucket
from twofold.core.clock import Clock, SystemClock
from twofold.core.crypto import DecryptionError, KeyRing
from twofold.core.deps import Deps, Policy
from twofold.core.login.sso import SsoSessions
from twofold.core.passwords import PasswordHasher
from twofold.core.ports import NoMetrics
from twofold.delivery.factory import build_channels
from twofold.observability.logging import configure as configure_logging
from twofold.observability.metrics import HttpMetrics, PrometheusMetrics, process_metrics
from twofold.state.redis import RedisStateStore
from twofold.state.sql import SqlStateStore
from twofold.storage import migrate
from twofold.storage.database import Database
from twofold.storage.devices import SqlPushDeviceRepository
from twofold.storage.locks import exclusive
from twofold.storage.reencrypt import SqlEncryptedColumns
from twofold.storage.repositories import SqlStorage
from twofold.web.context import Runtime
from twofold.web.routes import make_app

KEY_FILE = "encryption.keys"
PURGE_INTERVAL_SECONDS = 300.0
CHECKPOINT_INTERVAL_SECONDS = 1.0
# A readiness probe that takes longer than this counts as a failure (load balancers time out too).
READINESS_TIMEOUT_SECONDS = 3.0
# A guessable metrics token would publish the server's traffic to anyone who guesses it.
METRICS_TOKEN_MIN_LENGTH = 16
log = logging.getLogger("twofold.app")


StateStoreAdapter = SqlStateStore | RedisStateStore


class ConfigurationError(RuntimeError):
    """Start-up refused: the message says what to set."""


KEYS_DO_NOT_DECRYPT = (
    "the encryption key ({source}) does not decrypt the existing database: the current "
    "signing key cannot be opened. Restore the key the database was written with (put it in "
    "TWOFOLD_ENCRYPTION_KEYS); Twofold refuses to start rather than write under another key"
)


def load_keyring(settings: Settings, *, create: bool = True) -> KeyRing | None:
    """The key ring from TWOFOLD_ENCRYPTION_KEYS or the key file under data_dir. Without
    either, outside production, a key file is made (with create) or None returned."""
    if settings.encryption_keys:
        return KeyRing.from_spec(settings.encryption_keys)
    path = Path(settings.data_dir) / KEY_FILE
    if path.exists():
        try:
            return KeyRing.from_spec(path.read_text().strip())
        except ValueError as exc:
            raise ConfigurationError(f"{path}: not a key ring ({exc})") from None
    if not create:
        return None
    if settings.environment == "production":
        raise ConfigurationError(
            "TWOFOLD_ENCRYPTION_KEYS must be set in production (see docs/configuration.md)"
        )
    import base64

    path.parent.mkdir(parents=True, exist_ok=True)
    spec = f"k1:{base64.urlsafe_b64encode(KeyRing.generate_key()).decode()}"
    # Written owner-only: this file is what keeps every secret in the database unreadable.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(spec + "\n")
    return KeyRing.from_spec(spec)


@dataclass
class Services:
    settings: Settings
    deps: Deps
    admin: Admin
    database: Database
    hasher: PasswordHasher
    state: StateStoreAdapter
    # Prometheus metrics when configured (TWOFOLD_METRICS_PORT or TWOFOLD_METRICS_TOKEN).
    metrics: PrometheusMetrics | None = None

    async def close(self) -> None:
        # Running imports stop (and say so in their job) while the database is still open.
        await self.deps.background.stop()
        if isinstance(self.state, RedisStateStore):
            await self.state.close()
        await self.database.dispose()
        self.hasher.close()

    async def readiness(self) -> dict[str, bool]:
        """Whether each backend this node needs answers now: the database, and Redis if used."""
        probes: dict[str, Awaitable[object]] = {"database": self.database.ping()}
        if isinstance(self.state, RedisStateStore):
            probes["redis"] = self.state.ping()
        results = await asyncio.gather(*(_probe(name, p) for name, p in probes.items()))
        return dict(zip(probes, results, strict=True))

    async def purge_forever(self, interval: float = PURGE_INTERVAL_SECONDS) -> None:
        """Expired short-lived state only ever gets overwritten when its key comes back;
        sweep it so the table stays the size of what is live."""
        if isinstance(self.state, RedisStateStore):
            return  # Redis expires its keys itself
        while True:
            await asyncio.sleep(interval)
            try:
                removed = await self.state.purge_expired()
            except Exception as exc:  # a failed sweep must not take the server down
                log.warning("state purge failed: %s", type(exc).__name__)
            else:
                if removed:
                    log.info("purged %d expired state entries", removed)

    async def checkpoint_forever(self, interval: float = CHECKPOINT_INTERVAL_SECONDS) -> None:
        """On a SQLite file, copy the write-ahead log back into the database in a worker thread
        every `interval` seconds, so that this never happens (with its fsync) on the loop."""
        while True:
            await asyncio.sleep(interval)
            try:
                if not await self.database.checkpoint():
                    return  # not a SQLite file
            except Exception as exc:  # busy or failed: the next round tries again
                log.warning("database checkpoint failed: %s", type(exc).__name__)


async def _probe(name: str, check: Awaitable[object]) -> bool:
    try:
        async with asyncio.timeout(READINESS_TIMEOUT_SECONDS):
            await check
    except Exception as exc:  # unreachable, refused, timed out: all mean "not ready"
        log.warning("readiness: %s unavailable (%s)", name, type(exc).__name__)
        return False
    return True


async def _require_current_schema(engine: AsyncEngine) -> None:
    """Outside SQLite, migrating is the operator's separate step: refuse a schema that is not
    exactly the one this build was written for."""
    head = migrate.head_revision()
    try:
        current = await migrate.database_revision(engine)
    except Exception as exc:
        # The driver's message names host and port, never the password.
        reason = str(getattr(exc, "orig", None) or type(exc).__name__).splitlines()[0][:300]
        raise ConfigurationError(f"cannot reach the database: {reason}") from None
    if current != head:
        found = f"at revision {current}" if current else "empty (no Twofold schema)"
        raise ConfigurationError(
            f"the database schema is {found}, this version of Twofold needs revision {head}:"
            " run `twofold migrate` first (once, before starting the nodes; see docs/deploy.md)"
        )


def _state_store(settings: Settings, database: Database, clock: Clock) -> StateStoreAdapter:
    if settings.redis_url:
        return RedisStateStore.from_url(
            settings.redis_url,
            clock,
            prefix=settings.redis_prefix,
            timeout=settings.redis_timeout,
            max_connections=settings.redis_max_connections,
        )
    # The storage's own database: the store's writes then join the storage's units of work,
    # which is what its `transactional = True` promises the grants.
    return SqlStateStore(database, clock)


def _check_metrics(settings: Settings) -> None:
    token = settings.metrics_token
    if token is not None and len(token.get_secret_value()) < METRICS_TOKEN_MIN_LENGTH:
        # The value itself stays out of the message: it is a secret.
        raise ConfigurationError(
            f"TWOFOLD_METRICS_TOKEN must be at least {METRICS_TOKEN_MIN_LENGTH} characters"
            " (see docs/deploy.md)"
        )


def policy_from(settings: Settings) -> Policy:
    """The core's Policy: every field the settings name alike, then those they shape."""
    alike = {f.name for f in fields(Policy)} & set(Settings.model_fields)
    values: dict[str, Any] = {name: getattr(settings, name) for name in alike}
    values.update(
        trusted_forwarding_clients=frozenset(settings.trusted_forwarding_clients),
        phone_countries=frozenset(settings.phone_countries),
        password_per_address=Bucket(
            settings.password_failures_per_address, settings.password_failures_per_address_refill
        ),
        password_per_user=Bucket(
            settings.password_failures_per_user, settings.password_failures_per_user_refill
        ),
        **settings.webauthn_policy(),
    )
    return Policy(**values)


async def create_services(
    settings: Settings,
    *,
    clock: Clock | None = None,
    migrate_sqlite: bool = True,
    metrics: PrometheusMetrics | None = None,
) -> Services:
    """`metrics`: where the core counts (the process's `PrometheusMetrics` when metrics are
    configured); None counts nothing."""
    _check_metrics(settings)
    if settings.is_sqlite and migrate_sqlite:
        # Alembic is synchronous; keep the event loop free while it runs.
        await asyncio.to_thread(migrate.upgrade, settings.database_url)
    clock = clock or SystemClock()
    try:
        channels = build_channels(settings)
    except ValueError as exc:
        raise ConfigurationError(f"delivery: {exc} (see docs/delivery.md)") from None
    database = Database.open(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout,
        connect_timeout=settings.db_connect_timeout,
        prepared_statements=settings.db_prepared_statements,
    )
    if not settings.is_sqlite:
        try:
            await _require_current_schema(database.engine)
        except ConfigurationError:
            await database.dispose()
            raise
    state = _state_store(settings, database, clock)
    keyring = load_keyring(settings, create=False)
    if keyring is None:
        # No key anywhere: a new one is made, but never next to data sealed under a lost one.
        if await SqlStorage(database).signing_keys.list():
            await database.dispose()
            raise ConfigurationError(
                f"no encryption key: neither TWOFOLD_ENCRYPTION_KEYS nor "
                f"{Path(settings.data_dir) / KEY_FILE} exists, but the database holds secrets "
                "sealed under one. Restore that key (TWOFOLD_ENCRYPTION_KEYS or the key file); "
                "Twofold refuses to start rather than make a new key next to existing data"
            )
        keyring = load_keyring(settings)
        assert keyring is not None
    hasher = PasswordHasher(
        time_cost=settings.argon2_time_cost,
        memory_cost=settings.argon2_memory_cost,
        parallelism=settings.argon2_parallelism,
        max_concurrency=settings.hashing_concurrency,
    )
    policy = policy_from(settings)
    deps = Deps(
        storage=SqlStorage(database),
        state=state,
        clock=clock,
        keyring=keyring,
        hasher=hasher,
        issuer=settings.issuer,
        policy=policy,
        channels=channels,
        devices=SqlPushDeviceRepository(database),
        metrics=metrics if metrics is not None else NoMetrics(),
        # On the shared state store, so that every node sees a session started on any of them.
        sessions=SsoSessions(
            state,
            clock,
            idle=policy.session_idle_lifetime,
            absolute=policy.session_absolute_lifetime,
        ),
    )
    admin = Admin(deps, SqlEncryptedColumns(database))
    source = (
        "TWOFOLD_ENCRYPTION_KEYS"
        if settings.encryption_keys
        else str(Path(settings.data_dir) / KEY_FILE)
    )
    try:
        # Nodes starting together on an empty database: one creates the first key, the others
        # wait and then find it (without the lock each would make its own, one after the other).
        async with exclusive(database, "twofold:first-signing-key"):
            # Opening the current signing key also proves the key ring reads this database.
            await admin.ensure_signing_key()
    except DecryptionError:
        await database.dispose()
        hasher.close()
        raise ConfigurationError(KEYS_DO_NOT_DECRYPT.format(source=source)) from None
    return Services(settings, deps, admin, database, hasher, state, metrics)


def _runtime(services: Services, tls: bool) -> Runtime:
    return Runtime(deps=services.deps, max_body_bytes=services.settings.max_body_bytes, tls=tls)


def _instrument(app: Starlette, metrics: PrometheusMetrics, settings: Settings) -> None:
    """Count every request (outermost, so that every answer is seen); serve /metrics on this
    port only with a token."""
    token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
    app.add_middleware(HttpMetrics, metrics=metrics, token=token)


def build_app(services: Services, *, tls: bool = False) -> Starlette:
    app = make_app(hsts=tls, account_page=services.settings.account_page)
    if services.metrics is not None:
        _instrument(app, services.metrics, services.settings)
    app.state.runtime = _runtime(services, tls)
    app.state.services = services
    app.state.readiness = services.readiness
    return app


def freeze_startup_objects() -> None:
    """Move what the worker has built so far (modules, the app, the services, compiled
    statements: some 150,000 objects) out of the garbage collector's sight. They live as long
    as the process, yet every full collection walked them all: 85 ms on the event loop, every
    few seconds under load, which every request in flight waited for. Garbage already made is
    collected first, so that none of it is kept for good."""
    gc.collect()
    gc.freeze()


def asgi() -> Starlette:
    """uvicorn factory: settings from the environment, services opened in the lifespan."""
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    tls = os.environ.get("TWOFOLD_SERVING_TLS") == "1"
    # One per worker process; off (nothing counted, /metrics 404) unless configured.
    metrics = process_metrics() if settings.metrics_enabled else None

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # `twofold serve` migrated once before starting workers; they must not race on it.
        services = await create_services(settings, migrate_sqlite=False, metrics=metrics)
        app.state.runtime = _runtime(services, tls)
        app.state.services = services
        app.state.readiness = services.readiness
        background = [
            asyncio.create_task(services.purge_forever()),
            asyncio.create_task(services.checkpoint_forever()),
        ]
        freeze_startup_objects()
        try:
            yield
        finally:
            for task in background:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await services.close()

    app = make_app(hsts=tls, lifespan=lifespan, account_page=settings.account_page)
    if metrics is not None:
        _instrument(app, metrics, settings)
    return app

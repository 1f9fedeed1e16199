"""The composition root: the only module that knows every concrete class.

`create_services(settings)` opens the database (migrating SQLite), loads the encryption keys and
builds the core's dependencies; `build_app(services)` wraps them in the ASGI app. `asgi()` is the
factory uvicorn calls in each worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from twofold.config import Settings
from twofold.core.admin import Admin
from twofold.core.clock import Clock, SystemClock
from twofold.core.crypto import KeyRing
from twofold.core.deps import Deps, Policy
from twofold.core.factors import oob_flows
from twofold.core.passwords import PasswordHasher
from twofold.delivery.factory import build_channels
from twofold.observability.logging import configure as configure_logging
from twofold.state.sql import SqlStateStore
from twofold.storage import migrate
from twofold.storage.devices import SqlPushDeviceRepository
from twofold.storage.engine import make_engine
from twofold.storage.repositories import SqlStorage
from twofold.web.context import Runtime
from twofold.web.routes import make_app

KEY_FILE = "encryption.keys"
PURGE_INTERVAL_SECONDS = 300.0
log = logging.getLogger("twofold.app")


class ConfigurationError(RuntimeError):
    """Start-up refused: the message says what to set."""


def load_keyring(settings: Settings) -> KeyRing:
    if settings.encryption_keys:
        return KeyRing.from_spec(settings.encryption_keys)
    path = Path(settings.data_dir) / KEY_FILE
    if path.exists():
        return KeyRing.from_spec(path.read_text().strip())
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
    engine: AsyncEngine
    hasher: PasswordHasher
    state: SqlStateStore

    async def close(self) -> None:
        await self.engine.dispose()
        self.hasher.close()

    async def purge_forever(self, interval: float = PURGE_INTERVAL_SECONDS) -> None:
        """Expired short-lived state only ever gets overwritten when its key comes back;
        sweep it so the table stays the size of what is live."""
        while True:
            await asyncio.sleep(interval)
            try:
                removed = await self.state.purge_expired()
            except Exception as exc:  # a failed sweep must not take the server down
                log.warning("state purge failed: %s", type(exc).__name__)
            else:
                if removed:
                    log.info("purged %d expired state entries", removed)


async def create_services(
    settings: Settings, *, clock: Clock | None = None, migrate_sqlite: bool = True
) -> Services:
    if settings.is_sqlite and migrate_sqlite:
        # Alembic is synchronous; keep the event loop free while it runs.
        await asyncio.to_thread(migrate.upgrade, settings.database_url)
    clock = clock or SystemClock()
    try:
        channels = build_channels(settings)
    except ValueError as exc:
        raise ConfigurationError(f"delivery: {exc} (see docs/delivery.md)") from None
    oob_flows.install()
    engine = make_engine(settings.database_url)
    state = SqlStateStore(engine, clock)
    hasher = PasswordHasher(
        time_cost=settings.argon2_time_cost,
        memory_cost=settings.argon2_memory_cost,
        parallelism=settings.argon2_parallelism,
        max_concurrency=settings.hashing_concurrency,
    )
    deps = Deps(
        storage=SqlStorage(engine),
        state=state,
        clock=clock,
        keyring=load_keyring(settings),
        hasher=hasher,
        issuer=settings.issuer,
        policy=Policy(
            mfa_token_lifetime=settings.mfa_token_lifetime,
            trusted_forwarding_clients=frozenset(settings.trusted_forwarding_clients),
            delivery_locale=settings.delivery_locale,
        ),
        channels=channels,
        devices=SqlPushDeviceRepository(engine),
    )
    admin = Admin(deps)
    await admin.ensure_signing_key()
    return Services(
        settings=settings, deps=deps, admin=admin, engine=engine, hasher=hasher, state=state
    )


def _runtime(services: Services, tls: bool) -> Runtime:
    return Runtime(deps=services.deps, max_body_bytes=services.settings.max_body_bytes, tls=tls)


def build_app(services: Services, *, tls: bool = False) -> Starlette:
    app = make_app(hsts=tls)
    app.state.runtime = _runtime(services, tls)
    app.state.services = services
    return app


def asgi() -> Starlette:
    """uvicorn factory: settings from the environment, services opened in the lifespan."""
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    tls = os.environ.get("TWOFOLD_SERVING_TLS") == "1"

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # `twofold serve` migrated once before starting workers; they must not race on it.
        services = await create_services(settings, migrate_sqlite=False)
        app.state.runtime = _runtime(services, tls)
        app.state.services = services
        sweeper = asyncio.create_task(services.purge_forever())
        try:
            yield
        finally:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
            await services.close()

    return make_app(hsts=tls, lifespan=lifespan)

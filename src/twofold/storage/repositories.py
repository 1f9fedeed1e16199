"""The core's Storage port on SQLAlchemy Core, for SQLite and PostgreSQL.

engine = make_engine(url)          # twofold.storage.engine, after migrate.upgrade(url)
storage = SqlStorage(engine)
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from sqlalchemy.ext.asyncio import AsyncEngine

from twofold.core.ports import (
    ApiRepository,
    AuditLog,
    AuthenticatorRepository,
    ClientRepository,
    RecoveryCodeRepository,
    RefreshTokenRepository,
    SigningKeyRepository,
    TenantRepository,
    UserRepository,
)
from twofold.storage.accounts import (
    SqlApiRepository,
    SqlClientRepository,
    SqlTenantRepository,
    SqlUserRepository,
)
from twofold.storage.audit import SqlAuditLog
from twofold.storage.credentials import (
    SqlAuthenticatorRepository,
    SqlRecoveryCodeRepository,
    SqlRefreshTokenRepository,
    SqlSigningKeyRepository,
)
from twofold.storage.engine import unit_of_work

__all__ = [
    "SqlApiRepository",
    "SqlAuthenticatorRepository",
    "SqlClientRepository",
    "SqlRecoveryCodeRepository",
    "SqlRefreshTokenRepository",
    "SqlSigningKeyRepository",
    "SqlStorage",
    "SqlTenantRepository",
    "SqlUserRepository",
]


class SqlStorage:
    """Every repository over one engine; the composition root builds one per process."""

    def unit_of_work(self) -> AbstractAsyncContextManager[None]:
        return unit_of_work(self.engine)

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        # Annotated with the port types: Storage's attributes are mutable Protocol members, so
        # they are invariant and a narrower inferred type would not satisfy the port. It also
        # makes mypy check each repository against its Protocol right here.
        self.tenant: TenantRepository = SqlTenantRepository(engine)
        self.clients: ClientRepository = SqlClientRepository(engine)
        self.apis: ApiRepository = SqlApiRepository(engine)
        self.users: UserRepository = SqlUserRepository(engine)
        self.authenticators: AuthenticatorRepository = SqlAuthenticatorRepository(engine)
        self.recovery_codes: RecoveryCodeRepository = SqlRecoveryCodeRepository(engine)
        self.signing_keys: SigningKeyRepository = SqlSigningKeyRepository(engine)
        self.refresh_tokens: RefreshTokenRepository = SqlRefreshTokenRepository(engine)
        self.audit: AuditLog = SqlAuditLog(engine)

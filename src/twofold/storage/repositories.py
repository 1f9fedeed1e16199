"""The core's Storage port on SQLAlchemy Core, for SQLite and PostgreSQL.

database = Database.open(url)      # twofold.storage.database, after migrate.upgrade(url)
storage = SqlStorage(database)
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from twofold.core.ports import (
    ApiRepository,
    AuditLog,
    AuthenticatorRepository,
    ClientRepository,
    ImportJobRepository,
    RecoveryCodeRepository,
    RefreshTokenRepository,
    SigningKeyRepository,
    TenantRepository,
    UserRepository,
    WebAuthnCredentialRepository,
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
from twofold.storage.database import Database
from twofold.storage.jobs import SqlImportJobRepository
from twofold.storage.passkeys import SqlWebAuthnCredentialRepository

__all__ = [
    "SqlApiRepository",
    "SqlAuthenticatorRepository",
    "SqlClientRepository",
    "SqlImportJobRepository",
    "SqlRecoveryCodeRepository",
    "SqlRefreshTokenRepository",
    "SqlSigningKeyRepository",
    "SqlStorage",
    "SqlTenantRepository",
    "SqlUserRepository",
    "SqlWebAuthnCredentialRepository",
]


class SqlStorage:
    """Every repository over one database; the composition root builds one per process."""

    def unit_of_work(self) -> AbstractAsyncContextManager[None]:
        return self.database.unit_of_work()

    def shared_connection(self) -> AbstractAsyncContextManager[None]:
        return self.database.shared_connection()

    def __init__(self, database: Database) -> None:
        self.database = database
        # Annotated with the port types: Storage's attributes are mutable Protocol members, so
        # they are invariant and a narrower inferred type would not satisfy the port. It also
        # makes mypy check each repository against its Protocol right here.
        self.tenant: TenantRepository = SqlTenantRepository(database)
        self.clients: ClientRepository = SqlClientRepository(database)
        self.apis: ApiRepository = SqlApiRepository(database)
        self.users: UserRepository = SqlUserRepository(database)
        self.authenticators: AuthenticatorRepository = SqlAuthenticatorRepository(database)
        self.recovery_codes: RecoveryCodeRepository = SqlRecoveryCodeRepository(database)
        self.passkeys: WebAuthnCredentialRepository = SqlWebAuthnCredentialRepository(database)
        self.signing_keys: SigningKeyRepository = SqlSigningKeyRepository(database)
        self.refresh_tokens: RefreshTokenRepository = SqlRefreshTokenRepository(database)
        self.audit: AuditLog = SqlAuditLog(database)
        self.jobs: ImportJobRepository = SqlImportJobRepository(database)

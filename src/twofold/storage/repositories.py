"""The core's Storage port on SQLAlchemy Core, for SQLite and PostgreSQL.

database = Database.open(url)      # twofold.storage.database, after migrate.upgrade(url)
storage = SqlStorage(database)
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import cast

from sqlalchemy.exc import DataError

from twofold.core.models import Authenticator, User
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
    USER_BY_ID,
    SqlApiRepository,
    SqlClientRepository,
    SqlTenantRepository,
    SqlUserRepository,
    user_from_row,
)
from twofold.storage.audit import SqlAuditLog
from twofold.storage.credentials import (
    AUTHENTICATORS_OF_USER,
    RECOVERY_HASH,
    SqlAuthenticatorRepository,
    SqlRecoveryCodeRepository,
    SqlRefreshTokenRepository,
    SqlSigningKeyRepository,
    authenticator_from_row,
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

    async def user_and_authenticators(
        self, user_id: str
    ) -> tuple[User | None, Sequence[Authenticator]]:
        params = {"user_id": user_id}
        try:
            user, authenticators = await self.database.read_together(
                [(USER_BY_ID, params), (AUTHENTICATORS_OF_USER, params)]
            )
        except DataError:  # a value no row could hold: nothing found, as `users.get` says
            return None, []
        row = user.first()
        return (
            None if row is None else user_from_row(row),
            [authenticator_from_row(r) for r in authenticators.all()],
        )

    async def user_authenticators_and_recovery_hash(
        self, user_id: str
    ) -> tuple[User | None, Sequence[Authenticator], str | None]:
        params = {"user_id": user_id}
        try:
            user, authenticators, code = await self.database.read_together(
                [(USER_BY_ID, params), (AUTHENTICATORS_OF_USER, params), (RECOVERY_HASH, params)]
            )
        except DataError:  # a value no row could hold: nothing found, as `users.get` says
            return None, [], None
        row = user.first()
        code_row = code.first()
        return (
            None if row is None else user_from_row(row),
            [authenticator_from_row(r) for r in authenticators.all()],
            None if code_row is None else cast(str, code_row.code_hash),
        )

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

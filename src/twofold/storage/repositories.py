"""The core's Storage port on SQLAlchemy Core, for SQLite and PostgreSQL.

database = Database.open(url)      # twofold.storage.database, after migrate.upgrade(url)
storage = SqlStorage(database)
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import cast

from sqlalchemy.exc import DataError
from sqlalchemy.sql.base import Executable

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
from twofold.storage.connections import Result
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
        user, authenticators, _ = await self._user_and(user_id)
        return user, authenticators

    async def user_authenticators_and_recovery_hash(
        self, user_id: str
    ) -> tuple[User | None, Sequence[Authenticator], str | None]:
        user, authenticators, more = await self._user_and(user_id, RECOVERY_HASH)
        code = more[0].first() if more else None
        return user, authenticators, None if code is None else cast(str, code.code_hash)

    async def _user_and(
        self, user_id: str, *more: Executable
    ) -> tuple[User | None, list[Authenticator], list[Result]]:
        """The user, their authenticators and the results of `more` statements on the same user,
        read together."""
        params = {"user_id": user_id}
        statements: list[tuple[Executable, dict[str, str]]] = [
            (USER_BY_ID, params),
            (AUTHENTICATORS_OF_USER, params),
        ]
        if more:
            statements += [(statement, params) for statement in more]
        try:
            results = await self.database.read_together(statements)
        except DataError:  # a value no row could hold: nothing found, as `users.get` says
            return None, [], []
        row = results[0].first()
        return (
            None if row is None else user_from_row(row),
            [authenticator_from_row(r) for r in results[1].all()],
            results[2:],
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

"""Contracts between the core and its adapters (storage, short-lived state, delivery).

Rules every adapter keeps (the contract suites in tests/contract/ check them):
- Methods are coroutines; none blocks the event loop.
- Writes that must happen once are single conditional statements, never read-then-save:
  `claim_totp_step`, `rotate_recovery_code`, `use_refresh_token`, `StateStore.add/consume/cas`.
- Nothing here logs or returns a secret in clear: secrets arrive and leave already encrypted or
  hashed by the core.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Literal, Protocol

from twofold.core.metrics import Metrics as Metrics
from twofold.core.metrics import NoMetrics as NoMetrics
from twofold.core.models import (
    Api,
    AuditEvent,
    Authenticator,
    Client,
    ImportFailure,
    ImportJob,
    OutboundMessage,
    RefreshToken,
    SigningKey,
    Tenant,
    User,
    UserQuery,
    WebAuthnCredential,
)


class Conflict(Exception):
    """A create hit a unique constraint (duplicate id, email in realm, …)."""


class TenantRepository(Protocol):
    async def get(self) -> Tenant: ...

    async def save(self, tenant: Tenant) -> None: ...


class ClientRepository(Protocol):
    async def get(self, client_id: str) -> Client | None: ...

    async def create(self, client: Client) -> None: ...

    async def list(self) -> Sequence[Client]: ...

    async def update(self, client: Client) -> None: ...

    async def delete(self, client_id: str) -> bool:
        """False when there was no such client."""
        ...

    async def web_origins(self) -> frozenset[str]:
        """Every web origin some client registered."""
        ...


class ApiRepository(Protocol):
    async def get(self, identifier: str) -> Api | None: ...

    async def create(self, api: Api) -> None: ...

    async def list(self) -> Sequence[Api]: ...


class UserRepository(Protocol):
    async def get(self, user_id: str) -> User | None: ...

    async def find_by_login(self, realm: str, login: str) -> User | None:
        """By email (case-insensitive) or username within one realm."""
        ...

    async def create(self, user: User) -> None:
        """Raises Conflict when the email or username is taken in the realm."""
        ...

    async def update_password_hash(
        self, user_id: str, password_hash: str, *, replacing: str | None = None
    ) -> bool:
        """Store a new hash; with `replacing`, only while the stored one is still that hash (a
        rehash on login must not undo a password changed meanwhile). False when nothing changed.
        """
        ...

    async def search(self, query: UserQuery) -> tuple[Sequence[User], int]:
        """One page of users matching the query's filters, and how many match in all."""
        ...

    async def update(self, user: User) -> None:
        """Save every field but user_id and created_at; raises Conflict on a taken email."""
        ...

    async def delete(self, user_id: str) -> bool:
        """Remove the user, their authenticators and recovery code; False if there was none."""
        ...

    async def forget_remembered_browsers(self, user_id: str, now: float) -> bool: ...


class AuthenticatorRepository(Protocol):
    async def list_for_user(self, user_id: str) -> Sequence[Authenticator]:
        """Oldest first."""
        ...

    async def get(self, authenticator_id: str) -> Authenticator | None: ...

    async def add(self, authenticator: Authenticator) -> None: ...

    async def activate(self, authenticator_ids: Sequence[str], now: float) -> None:
        """Mark as confirmed (active, confirmed_at=now)."""
        ...

    async def delete(self, authenticator_ids: Sequence[str]) -> int:
        """Returns how many rows went."""
        ...

    async def delete_inactive(self, user_id: str, kinds: Sequence[str]) -> int:
        """Drop the user's unconfirmed enrolments of these kinds (a new associate replaces them)."""
        ...

    async def claim_totp_step(self, authenticator_id: str, step: int, now: float) -> bool:
        """Atomically move last_step forward to `step` and record the use (last_used_at = now);
        False, changing nothing, if last_step was already >= step."""
        ...

    async def touch(self, authenticator_id: str, now: float) -> None:
        """Record a successful use (last_used_at)."""
        ...

    async def rename(self, authenticator_ids: Sequence[str], name: str) -> int:
        """Set the name of these authenticators; how many rows changed."""
        ...


class WebAuthnCredentialRepository(Protocol):
    """Passkeys' WebAuthn credentials. Each belongs to one authenticator row of kind "passkey"
    and goes with it (deleting the authenticator or the user deletes the credential)."""

    async def add(self, credential: WebAuthnCredential) -> None:
        """Raises Conflict when the credential id is already registered (to anyone)."""
        ...

    async def get(self, credential_id: str) -> WebAuthnCredential | None: ...

    async def list_for_user(self, user_id: str) -> Sequence[WebAuthnCredential]:
        """Oldest first."""
        ...

    async def record_use(
        self, credential_id: str, seen_count: int, new_count: int, backed_up: bool, now: float
    ) -> bool:
        """Move the sign counter from `seen_count` to `new_count` and record the use (backup
        state, last_used_at) in one conditional write; False, changing nothing, when the
        stored counter is no longer `seen_count` (a concurrent use got there first)."""
        ...


class RecoveryCodeRepository(Protocol):
    async def get_hash(self, user_id: str) -> str | None: ...

    async def set(self, user_id: str, code_hash: str, now: float) -> None:
        """Create or replace the user's recovery code hash."""
        ...

    async def rotate(self, user_id: str, old_hash: str, new_hash: str, now: float) -> bool:
        """Replace old_hash by new_hash in one conditional write; False if old_hash is stale."""
        ...

    async def delete(self, user_id: str) -> None: ...


class SigningKeyRepository(Protocol):
    async def list(self) -> Sequence[SigningKey]:
        """Newest first."""
        ...

    async def add_current(self, key: SigningKey) -> None:
        """Insert as current; the old current becomes previous, older previous become retired."""
        ...


RefreshUse = Literal["ok", "reused", "unknown"]


class RefreshTokenRepository(Protocol):
    async def add(self, token: RefreshToken) -> None: ...

    async def get(self, token_hash: str) -> RefreshToken | None: ...

    async def use(self, token_hash: str, now: float) -> RefreshUse:
        """Mark used in one conditional write: "ok" the first time, "reused" after, "unknown"
        when there is no such live token (revoked or absent)."""
        ...

    async def revoke_family(self, family_id: str) -> None: ...

    async def revoke_for_user(self, user_id: str) -> int:
        """Revoke every refresh token of the user; how many were live."""
        ...


class StateStore(Protocol):
    """Short-lived, TTL-bound state: mfa_token records, jti, attempt buckets, send limits.

    Keys are opaque strings chosen by the core (never a secret in clear: hash first).
    Values are strings. An expired entry behaves exactly like an absent one.
    """

    # True when the store's writes are part of `Storage.unit_of_work` (the SQL store on the
    # storage's own database): they roll back with the unit. A store elsewhere (Redis, memory)
    # applies each write at once, whatever becomes of the unit around it.
    transactional: bool

    async def get(self, key: str) -> str | None: ...

    async def put(self, key: str, value: str, ttl: float) -> None: ...

    async def add(self, key: str, value: str, ttl: float) -> bool:
        """Set only if absent (or expired). True when this call created it."""
        ...

    async def consume(self, key: str) -> str | None:
        """Atomically get and delete. Exactly one of many concurrent callers sees the value."""
        ...

    async def cas(self, key: str, expected: str | None, value: str, ttl: float) -> bool:
        """Compare-and-set: write `value` only if the current value is `expected` (None = absent
        or expired). True when this call wrote."""
        ...

    async def incr(self, key: str, ttl: float) -> int:
        """Add one and return the new count; a new key starts at 1 and lives `ttl` seconds."""
        ...

    async def delete(self, key: str) -> None: ...

    async def gcra_take(self, key: str, interval: float, tolerance: float) -> float | None:
        """One cell of a generic cell rate algorithm, atomically.

        The entry holds a time, the bucket's "theoretical arrival time" (TAT); absent or in the
        past counts as now. When TAT - now exceeds `tolerance` the bucket is empty: nothing
        changes and the TAT is returned. Otherwise TAT + `interval` is stored, living until one
        second past itself, and None is returned.
        """
        ...

    async def gcra_refund(self, key: str, interval: float) -> None:
        """Give one cell back: a live entry moves `interval` earlier, never before now. An absent
        entry stays absent."""
        ...

    async def consume_refunding(self, key: str, bucket: str, interval: float) -> str | None:
        """`consume(key)` and `gcra_refund(bucket, interval)` as one operation, whatever
        `consume` finds: a grant spends its mfa_token and gives its attempt back together, in
        one round trip where the store is remote. Atomic as each of the two is."""
        ...

    async def gcra_hold(self, key: str) -> float | None:
        """The entry's time as `gcra_take` reads it: None when absent or expired.

        On a transactional store, inside a unit of work, the entry is also locked until the unit
        ends, present or not: no other unit takes from, refunds to or holds it meanwhile, so a
        decision made on this read stays true until the unit writes the entry itself (`put`) or
        ends. An absent entry may be left expired in its place, which behaves as absent. A store
        that is not transactional has no unit to lock for: it only reads.
        """
        ...


class AuditLog(Protocol):
    async def record(
        self, event: AuditEvent, on_failure: Callable[[Exception], None] | None = None
    ) -> None:
        """Write the event; inside a unit of work, with it. A write that fails here raises.
        Given `on_failure`, the store may send the row later, with the unit's commit (one round
        trip fewer on PostgreSQL); if that write fails, the unit still commits and
        `on_failure` gets the error."""
        ...

    async def query(
        self,
        *,
        user_id: str | None = None,
        types: Sequence[str] = (),
        since: float | None = None,
        limit: int = 100,
    ) -> Sequence[AuditEvent]:
        """Newest first."""
        ...

    async def page(
        self,
        *,
        user_id: str | None = None,
        types: Sequence[str] = (),
        offset: int = 0,
        limit: int = 50,
        after_seq: int | None = None,
    ) -> tuple[Sequence[AuditEvent], int]:
        """Events with their `seq`, and how many match in all, skipping `offset`: newest first,
        or with `after_seq` (a checkpoint) the events after that one, oldest first.
        """
        ...


class ImportJobRepository(Protocol):
    """The Management API's users-import jobs and the records each refused, kept in the
    database so that any node answers for a job another node runs."""

    async def create(self, job: ImportJob) -> None: ...

    async def get(self, job_id: str) -> ImportJob | None: ...

    async def save(self, job: ImportJob) -> None:
        """Store the job's status, counts and details (its id and created_at never change)."""
        ...

    async def add_failures(self, job_id: str, failures: Sequence[ImportFailure]) -> None: ...

    async def failures(self, job_id: str, limit: int) -> Sequence[ImportFailure]:
        """In the order they were added."""
        ...

    async def count_active(self, updated_since: float) -> int:
        """Jobs pending or processing whose last update is at or after `updated_since`."""
        ...

    async def purge(self, created_before: float) -> int:
        """Delete the jobs created before this time, with their failures; how many went."""
        ...


class Storage(Protocol):
    """All repositories of one database, as the composition root hands them to the core."""

    tenant: TenantRepository
    clients: ClientRepository
    apis: ApiRepository
    users: UserRepository
    authenticators: AuthenticatorRepository
    recovery_codes: RecoveryCodeRepository
    passkeys: WebAuthnCredentialRepository
    signing_keys: SigningKeyRepository
    refresh_tokens: RefreshTokenRepository
    audit: AuditLog
    jobs: ImportJobRepository

    def unit_of_work(self) -> AbstractAsyncContextManager[None]:
        """Writes through these repositories inside the block (and through a StateStore on the
        same database) commit together at its end, or not at all if it raises. Writes to
        another store (Redis) are not part of it. Keep the block short: no signing, no network.
        """
        ...

    async def user_and_authenticators(
        self, user_id: str
    ) -> tuple[User | None, Sequence[Authenticator]]:
        """`users.get(user_id)` and `authenticators.list_for_user(user_id)`, read together: in
        one round trip where the database allows it."""
        ...

    async def user_authenticators_and_recovery_hash(
        self, user_id: str
    ) -> tuple[User | None, Sequence[Authenticator], str | None]:
        """`user_and_authenticators(user_id)` and `recovery_codes.get_hash(user_id)`, read
        together: in one round trip where the database allows it."""
        ...

    def shared_connection(self) -> AbstractAsyncContextManager[None]:
        """Statements through these repositories inside the block, by this task (and through a
        StateStore on the same database), share one connection where taking one per statement
        costs work: the reads, and the unit of work or write transactions opened inside it, one
        after another. Keep it short: no signing, no network.
        """
        ...


class DeliveryError(Exception):
    """A channel could not hand a message to its provider (refused, unreachable, timed out).

    The message says what went wrong in operator terms and never contains the recipient or the
    code; the core answers the client 502 bad_gateway and records a gd_send_*_failure event.
    """


class Channel(Protocol):
    """One way out for a message (SMTP, Twilio, a webhook, the console).

    `send` returns once the provider has accepted the message, or raises DeliveryError; it must
    give up within its own timeout rather than hang the request.
    """

    async def send(self, message: OutboundMessage) -> None: ...


class PushDeviceRepository(Protocol):
    """The device behind a push authenticator: its public key and notification target."""

    async def attach(self, authenticator_id: str, name: str, device_enc: str) -> bool:
        """Bind a device to a push authenticator that has none yet, in one conditional write.
        False when the authenticator is gone, is not push, or already has a device."""
        ...


class EncryptedColumns(Protocol):
    """Every encrypted cell at rest, paged for `twofold keys rotate-encryption`.

    `column` is "<table>.<column>"; cells come in primary-key order after `after` (None: from the
    start), at most `limit` of them, as (primary key, envelope) pairs, NULLs skipped.
    """

    async def page(
        self, column: str, after: str | None, limit: int
    ) -> Sequence[tuple[str, str]]: ...

    async def replace(self, column: str, changes: Sequence[tuple[str, str, str]]) -> int:
        """Apply (primary key, old envelope, new envelope) changes in one short transaction,
        each only where the cell still holds the old envelope; the number applied."""
        ...

"""Importing users from Auth0's bulk file: the use case behind `twofold import auth0` and the
Management API's users-imports job.

Each record is checked on its own (`import_records`) and against the users already there
(reads only, secrets encrypted before any write); then the accepted records of a batch are
written in one unit of work. Should that unit fail on a conflict (another writer took an email
meanwhile), the batch is written again one unit per record, so that only the record in conflict
is refused: a refused record never leaves a row behind.

Re-running a file changes nothing: a user already there (same user_id, or same email in the
connection when the record has no user_id) is skipped. With upsert it is updated with what an
Auth0 import may update: email_verified, name, metadata (merged one level deep), its password
hash while that is still an imported one that no login has replaced (a password the user has
used or been given here is never overwritten), and factors it does not hold yet (added; none
removed). Its email, username and blocked state stay.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace

from twofold.core import associated_data, imported_hashes
from twofold.core.deps import Deps
from twofold.core.ids import new_user_id
from twofold.core.management import import_records, methods
from twofold.core.management.errors import ManagementError
from twofold.core.management.import_file import Entry
from twofold.core.management.import_records import Candidate, RecordError
from twofold.core.management.users import merge_metadata
from twofold.core.models import Authenticator, ImportFailure, User
from twofold.core.ports import Conflict

DUPLICATED = "DUPLICATED_USER"


@dataclass(frozen=True, slots=True)
class Options:
    connection: str
    upsert: bool = False
    # Whether an upsert may add factors to a user that already exists: the Management API
    # grants that with create:authentication_methods, the operator's command always.
    add_factors_to_existing: bool = True
    # Records per unit of work; the server takes smaller ones, so that its other requests are
    # not kept waiting behind an import.
    batch: int = 500


@dataclass(slots=True)
class Summary:
    total: int
    inserted: int = 0
    updated: int = 0
    skipped: int = 0
    failed: int = 0

    @property
    def processed(self) -> int:
        return self.inserted + self.updated + self.skipped + self.failed


OnBatch = Callable[[Summary, Sequence[ImportFailure]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class _Write:
    entry: Entry
    user: User
    existing: User | None = None
    # For an existing user: the imported hash that replaces the stored (imported) one.
    password_hash: str | None = None
    rows: tuple[Authenticator, ...] = ()


@dataclass(slots=True)
class _Run:
    deps: Deps
    options: Options
    summary: Summary
    # Who is already in the file: ("email", address) -> line, and so on.
    seen: dict[tuple[str, str], int] = field(default_factory=dict)
    failures: list[ImportFailure] = field(default_factory=list)

    def refuse(self, entry: Entry, error: RecordError) -> None:
        self.summary.failed += 1
        self.failures.append(
            ImportFailure(entry.line, import_records.masked(entry.record), (error.body(),))
        )


def _reason(exc: ManagementError) -> str:
    return exc.message.removeprefix("Payload validation error: ").strip("'")


def _signature(deps: Deps, row: Authenticator) -> tuple[str, str] | None:
    """What makes two factors the same: the TOTP secret, the phone number, the address."""
    if row.kind == "totp" and row.secret_enc is not None:
        secret = deps.keyring.decrypt(row.secret_enc, associated_data.otp_secret(row.id))
        return ("totp", secret.decode())
    if row.kind in ("sms", "voice", "email"):
        target = methods.contact_target(deps, row)
        return ("phone" if row.kind != "email" else "email", target or "")
    return None


async def _factor_rows(
    deps: Deps, user_id: str, candidate: Candidate, held: Sequence[Authenticator], now: float
) -> tuple[Authenticator, ...]:
    """The confirmed rows of the record's factors the user does not hold yet, encrypted."""
    have = {_signature(deps, a) for a in held}
    held = list(held)
    new: list[Authenticator] = []
    for i, body in enumerate(candidate.factors):
        try:
            rows = await methods.plan_rows(deps, user_id, body, now)
            if _signature(deps, rows[0]) in have:
                continue
            methods.check_room(deps, held, rows)
        except ManagementError as exc:
            raise RecordError("MFA_FACTORS_FAILED", _reason(exc), f"mfa_factors[{i}]") from None
        have.add(_signature(deps, rows[0]))
        held.extend(rows)
        new.extend(rows)
    return tuple(new)


def _keys(candidate: Candidate) -> list[tuple[str, str]]:
    keys = [("email", candidate.email)]
    if candidate.user_id is not None:
        keys.append(("user_id", candidate.user_id))
    if candidate.username is not None:
        keys.append(("username", candidate.username.lower()))
    return keys


async def _target(run: _Run, candidate: Candidate) -> User | None:
    """The user this record is, if already there; RecordError when it collides with another."""
    users, realm = run.deps.storage.users, run.options.connection
    by_id = await users.get(candidate.user_id) if candidate.user_id is not None else None
    if by_id is not None and by_id.realm != realm:
        raise RecordError(DUPLICATED, "The user already exists in another connection.", "user_id")
    by_email = await users.find_by_login(realm, candidate.email)
    target = by_id
    if target is None and candidate.user_id is None and by_email is not None:
        target = by_email if by_email.email == candidate.email else None
    if by_email is not None and (target is None or by_email.user_id != target.user_id):
        raise RecordError(DUPLICATED, "The user already exists.", "email")
    if candidate.username is not None:
        by_name = await users.find_by_login(realm, candidate.username)
        if by_name is not None and (target is None or by_name.user_id != target.user_id):
            raise RecordError(DUPLICATED, "The username is already taken.", "username")
    return target


async def _new_user(run: _Run, entry: Entry, c: Candidate, now: float) -> _Write:
    user = User(
        user_id=c.user_id or new_user_id(),
        email=c.email,
        password_hash=c.password_hash or "",
        realm=run.options.connection,
        username=c.username,
        email_verified=bool(c.email_verified),
        name=c.name,
        created_at=now,
        blocked=bool(c.blocked),
        user_metadata=merge_metadata({}, c.user_metadata or {}),
        app_metadata=merge_metadata({}, c.app_metadata or {}),
        updated_at=now,
    )
    return _Write(entry, user, rows=await _factor_rows(run.deps, user.user_id, c, (), now))


async def _updated_user(run: _Run, entry: Entry, c: Candidate, old: User, now: float) -> _Write:
    deps = run.deps
    held = await deps.storage.authenticators.list_for_user(old.user_id)
    rows = await _factor_rows(deps, old.user_id, c, held, now)
    if rows and not run.options.add_factors_to_existing:
        raise RecordError(
            "MFA_FACTORS_FAILED",
            "Adding factors to an existing user needs the create:authentication_methods scope",
            "mfa_factors",
        )
    user = replace(
        old,
        email_verified=old.email_verified if c.email_verified is None else c.email_verified,
        name=old.name if c.name is None else c.name,
        user_metadata=merge_metadata(old.user_metadata, c.user_metadata or {}),
        app_metadata=merge_metadata(old.app_metadata, c.app_metadata or {}),
        updated_at=now,
    )
    # Only an imported hash no login has replaced yet gives way to the file's.
    replaces = (
        c.password_hash is not None
        and imported_hashes.is_imported(old.password_hash)
        and c.password_hash != old.password_hash
    )
    return _Write(entry, user, old, c.password_hash if replaces else None, rows)


async def _prepare(run: _Run, entry: Entry, now: float) -> _Write | None:
    """What to write for this entry; None to skip it (already there, no upsert)."""
    candidate = import_records.read(entry)
    for key in _keys(candidate):
        if key in run.seen:
            raise RecordError(DUPLICATED, f"The same user is on line {run.seen[key]}.", key[0])
    target = await _target(run, candidate)
    if target is not None and not run.options.upsert:
        write = None
    elif target is not None:
        write = await _updated_user(run, entry, candidate, target, now)
    else:
        write = await _new_user(run, entry, candidate, now)
    for key in _keys(candidate):
        run.seen[key] = entry.line
    return write


async def _apply(deps: Deps, write: _Write) -> None:
    users = deps.storage.users
    if write.existing is None:
        await users.create(write.user)
    else:
        await users.update(write.user)
        if write.password_hash is not None:
            await users.update_password_hash(
                write.user.user_id, write.password_hash, replacing=write.existing.password_hash
            )
    for row in write.rows:
        await deps.storage.authenticators.add(row)


def _count(summary: Summary, write: _Write) -> None:
    if write.existing is None:
        summary.inserted += 1
    else:
        summary.updated += 1


async def _write(run: _Run, writes: Sequence[_Write]) -> None:
    deps = run.deps
    try:
        async with deps.storage.unit_of_work():
            for write in writes:
                await _apply(deps, write)
    except Conflict:
        for write in writes:
            try:
                async with deps.storage.unit_of_work():
                    await _apply(deps, write)
            except Conflict:
                run.refuse(write.entry, RecordError(DUPLICATED, "The user already exists."))
            else:
                _count(run.summary, write)
        return
    for write in writes:
        _count(run.summary, write)


async def run(
    deps: Deps, entries: Sequence[Entry], options: Options, on_batch: OnBatch | None = None
) -> Summary:
    """Import the entries in order; `on_batch` hears the running summary and the new failures
    after each batch."""
    state = _Run(deps, options, Summary(total=len(entries)))
    for start in range(0, len(entries), options.batch):
        now = deps.clock.now()
        writes: list[_Write] = []
        for entry in entries[start : start + options.batch]:
            try:
                write = await _prepare(state, entry, now)
            except RecordError as error:
                state.refuse(entry, error)
                continue
            if write is None:
                state.summary.skipped += 1
            else:
                writes.append(write)
        if writes:
            await _write(state, writes)
        if on_batch is not None:
            await on_batch(state.summary, state.failures)
        state.failures = []
        # Reads and writes on a SQLite file never yield: let the server's other requests in.
        await asyncio.sleep(0)
    return state.summary

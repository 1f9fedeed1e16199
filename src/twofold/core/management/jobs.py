"""The Management API's jobs: POST /jobs/users-imports, GET /jobs/{id}, GET /jobs/{id}/errors.

A users-import job is a row any node reads. The node that took the upload runs it in the
background (`Deps.background`) and moves it from pending to processing to completed (records
refused one by one do not fail the job: they are its summary's `failed` and its errors) or to
failed (the file cannot be read, the database failed, the server stopped). A job whose node went
away without a word is reported failed once it has not moved for STALE_SECONDS. Jobs and their
errors are kept a day, as Auth0 keeps them.

Access: creating a job needs create:users, and an upsert update:users too (it changes users
that exist; Auth0 asks create:users only); adding factors to existing users also needs
create:authentication_methods, else those records are refused. A job is read with read:users,
or with create:users by the client that created it: knowing an id is not enough.
`send_completion_email` is accepted and has no effect (Twofold has no tenant owners to mail).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from twofold.core.deps import Deps
from twofold.core.ids import new_job_id
from twofold.core.management import import_file, imports, params
from twofold.core.management import scopes as s
from twofold.core.management.access import Caller
from twofold.core.management.errors import ManagementError, bad_body
from twofold.core.management.users import iso
from twofold.core.models import ImportFailure, ImportJob

JOB_TYPE = "users_import"
MAX_ACTIVE_JOBS = 2
STALE_SECONDS = 600.0
KEEP_SECONDS = 86_400.0
# Errors kept (and answered) per job; past them the summary still counts every failure.
MAX_REPORTED_FAILURES = 10_000
SERVER_BATCH = 100
FIELDS = frozenset({"connection_id", "upsert", "external_id", "send_completion_email"})
RUN_AGAIN = "run the import again: it skips the users already imported"
log = logging.getLogger("twofold.jobs")


def _flag(fields: Mapping[str, str], name: str, default: bool) -> bool:
    raw = fields.get(name)
    if raw is None:
        return default
    if raw.strip().lower() in ("true", "1"):
        return True
    if raw.strip().lower() in ("false", "0"):
        return False
    raise bad_body(f"'{name} must be true or false' on property {name}")


def _field(fields: Mapping[str, str], name: str, *, required: bool = False) -> str | None:
    value = fields.get(name)
    if value is not None and not value.strip():
        value = None
    return params.text(
        {name: value.strip()} if value else {}, name, required=required, max_chars=255
    )


def view(job: ImportJob, now: float) -> dict[str, Any]:
    """The job as Auth0 answers it."""
    status, details = job.status, job.status_details
    if status in ("pending", "processing") and now - job.updated_at > STALE_SECONDS:
        status, details = "failed", f"the server running the import stopped; {RUN_AGAIN}"
    out: dict[str, Any] = {
        "type": JOB_TYPE,
        "status": status,
        "id": job.id,
        "connection_id": job.connection_id,
        "created_at": iso(job.created_at),
        "upsert": job.upsert,
        "send_completion_email": job.send_completion_email,
    }
    if job.external_id is not None:
        out["external_id"] = job.external_id
    if status == "processing" and job.total:
        done = job.processed
        out["percentage_done"] = done * 100 // job.total
        rate = done / max(job.updated_at - job.created_at, 1e-3)
        out["time_left_seconds"] = int((job.total - done) / rate) if done else 0
    if status in ("completed", "failed") and (job.total or status == "completed"):
        out["summary"] = {
            "failed": job.failed,
            "updated": job.updated,
            "inserted": job.inserted,
            "skipped": job.skipped,
            "total": job.total,
        }
    if details:
        out["status_details"] = details
    return out


def _counted(job: ImportJob, summary: imports.Summary, now: float) -> ImportJob:
    return replace(
        job,
        total=summary.total,
        inserted=summary.inserted,
        updated=summary.updated,
        skipped=summary.skipped,
        failed=summary.failed,
        updated_at=now,
    )


async def _stopped(deps: Deps, job: ImportJob, details: str) -> None:
    with contextlib.suppress(Exception):  # the database may be what failed
        await deps.storage.jobs.save(
            replace(job, status="failed", status_details=details, updated_at=deps.clock.now())
        )


async def _run(deps: Deps, job: ImportJob, data: bytes, options: imports.Options) -> None:
    jobs = deps.storage.jobs
    reported = 0

    async def on_batch(summary: imports.Summary, failures: Sequence[ImportFailure]) -> None:
        nonlocal job, reported
        kept = failures[: max(0, MAX_REPORTED_FAILURES - reported)]
        reported += len(kept)
        await jobs.add_failures(job.id, kept)
        job = _counted(job, summary, deps.clock.now())
        await jobs.save(job)

    try:
        try:
            entries = await asyncio.to_thread(import_file.read, data)
        except import_file.FileRejected as exc:
            await _stopped(deps, job, f"the users file cannot be read: {exc}")
            return
        job = replace(job, status="processing", total=len(entries), updated_at=deps.clock.now())
        await jobs.save(job)
        summary = await imports.run(deps, entries, options, on_batch)
        await jobs.save(replace(_counted(job, summary, deps.clock.now()), status="completed"))
    except asyncio.CancelledError:
        await _stopped(deps, job, f"the server stopped during the import; {RUN_AGAIN}")
        raise
    except Exception as exc:  # a backend outage: the job says so, the server stays up
        log.error("import job %s failed: %s", job.id, type(exc).__name__)
        await _stopped(deps, job, f"the import failed ({type(exc).__name__}); {RUN_AGAIN}")


async def create(
    deps: Deps, caller: Caller, fields: Mapping[str, str], data: bytes
) -> dict[str, Any]:
    unknown = sorted(set(fields) - FIELDS)
    if unknown:
        raise bad_body(f"'Additional properties not allowed: {unknown[0][:64]}'")
    connection = _field(fields, "connection_id", required=True)
    assert connection is not None
    external_id = _field(fields, "external_id")
    upsert = _flag(fields, "upsert", False)
    send_email = _flag(fields, "send_completion_email", True)
    if upsert:
        caller.require(s.UPDATE_USERS)
    if not data.strip():
        raise bad_body("'The users file is empty' on property users")
    now = deps.clock.now()
    await deps.storage.jobs.purge(now - KEEP_SECONDS)
    if await deps.storage.jobs.count_active(now - STALE_SECONDS) >= MAX_ACTIVE_JOBS:
        raise ManagementError(
            429,
            "too_many_requests",
            f"There are {MAX_ACTIVE_JOBS} active import users jobs, please wait until some of "
            "them are finished and try again",
        )
    job = ImportJob(
        id=new_job_id(),
        connection_id=connection,
        created_at=now,
        updated_at=now,
        client_id=caller.client_id,
        external_id=external_id,
        upsert=upsert,
        send_completion_email=send_email,
    )
    await deps.storage.jobs.create(job)
    options = imports.Options(
        connection,
        upsert=upsert,
        add_factors_to_existing=s.CREATE_METHODS in caller.scopes,
        batch=SERVER_BATCH,
    )
    deps.background.spawn(_run(deps, job, data, options), name=f"import {job.id}")
    return view(job, now)


async def _load(deps: Deps, caller: Caller, job_id: str) -> ImportJob:
    job = await deps.storage.jobs.get(job_id) if len(job_id) <= 64 else None
    # Without read:users only the creator sees a job; anyone else is told it does not exist.
    if job is None or (s.READ_USERS not in caller.scopes and job.client_id != caller.client_id):
        raise ManagementError(404, "inexistent_job", "The job does not exist.")
    return job


async def get_job(deps: Deps, caller: Caller, job_id: str) -> dict[str, Any]:
    return view(await _load(deps, caller, job_id), deps.clock.now())


async def job_errors(deps: Deps, caller: Caller, job_id: str) -> Any:
    """The refused records with their errors (and line); None (204) when there are none. A job
    that failed as a whole before any record (an unreadable file) answers the job itself, as
    Auth0 does."""
    job = await _load(deps, caller, job_id)
    shown = view(job, deps.clock.now())
    if shown["status"] == "failed" and job.processed == 0:
        return shown
    failures = await deps.storage.jobs.failures(job.id, MAX_REPORTED_FAILURES)
    if not failures:
        return None
    return [{"user": f.user, "errors": list(f.errors), "line": f.line} for f in failures]

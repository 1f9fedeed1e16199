"""The users-import jobs of the Management API and the records each refused."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, cast

import sqlalchemy as sa

from twofold.core.models import ImportFailure, ImportJob, JobStatus
from twofold.storage import tables as t
from twofold.storage.base import SqlRepository, dumps

_j = t.import_jobs.c
_f = t.import_failures.c
_ACTIVE = ("pending", "processing")


def _values(job: ImportJob) -> dict[str, Any]:
    return {
        "status": job.status,
        "connection_id": job.connection_id,
        "client_id": job.client_id,
        "external_id": job.external_id,
        "upsert": job.upsert,
        "send_completion_email": job.send_completion_email,
        "total": job.total,
        "inserted": job.inserted,
        "updated": job.updated,
        "skipped": job.skipped,
        "failed": job.failed,
        "status_details": job.status_details,
        "updated_at": job.updated_at,
    }


def _job(row: sa.Row[Any]) -> ImportJob:
    return ImportJob(
        id=row.id,
        connection_id=row.connection_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
        status=cast(JobStatus, row.status),
        client_id=row.client_id,
        external_id=row.external_id,
        upsert=bool(row.upsert),
        send_completion_email=bool(row.send_completion_email),
        total=row.total,
        inserted=row.inserted,
        updated=row.updated,
        skipped=row.skipped,
        failed=row.failed,
        status_details=row.status_details,
    )


class SqlImportJobRepository(SqlRepository):
    async def create(self, job: ImportJob) -> None:
        stmt = sa.insert(t.import_jobs).values(id=job.id, created_at=job.created_at, **_values(job))
        await self._create(stmt, "job id already exists")

    async def get(self, job_id: str) -> ImportJob | None:
        row = await self._one(sa.select(t.import_jobs).where(_j.id == job_id))
        return None if row is None else _job(row)

    async def save(self, job: ImportJob) -> None:
        await self._write(sa.update(t.import_jobs).where(_j.id == job.id).values(**_values(job)))

    async def add_failures(self, job_id: str, failures: Sequence[ImportFailure]) -> None:
        if not failures:
            return
        rows = [
            {
                "job_id": job_id,
                "line": f.line,
                "body": dumps({"user": f.user, "errors": list(f.errors)}),
            }
            for f in failures
        ]
        await self._write(sa.insert(t.import_failures).values(rows))

    async def failures(self, job_id: str, limit: int) -> Sequence[ImportFailure]:
        rows = await self._all(
            sa.select(_f.line, _f.body).where(_f.job_id == job_id).order_by(_f.id).limit(limit)
        )
        out = []
        for row in rows:
            body = json.loads(row.body)
            out.append(ImportFailure(row.line, body["user"], tuple(body["errors"])))
        return out

    async def count_active(self, updated_since: float) -> int:
        row = await self._one(
            sa.select(sa.func.count())
            .select_from(t.import_jobs)
            .where(_j.status.in_(_ACTIVE), _j.updated_at >= updated_since)
        )
        return int(row[0]) if row is not None else 0

    async def purge(self, created_before: float) -> int:
        return await self._write(sa.delete(t.import_jobs).where(_j.created_at < created_before))

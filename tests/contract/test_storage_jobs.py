"""The users-import job repository on every database: a job and its refused records, its
progress saved, the active ones counted, old ones purged with their records."""

from __future__ import annotations

from dataclasses import replace

import pytest

from twofold.core.models import ImportFailure, ImportJob
from twofold.core.ports import Conflict
from twofold.storage.repositories import SqlStorage

pytestmark = pytest.mark.anyio

T0 = 1_700_000_000.0


def job(job_id: str = "job_1", **changes: object) -> ImportJob:
    base = ImportJob(
        id=job_id, connection_id="Username-Password-Authentication", created_at=T0, updated_at=T0
    )
    return replace(base, **changes)  # type: ignore[arg-type]


async def test_a_job_is_created_read_and_saved(storage: SqlStorage) -> None:
    made = job(client_id="cli", external_id="ext", upsert=True, send_completion_email=False)
    await storage.jobs.create(made)
    assert await storage.jobs.get("job_1") == made
    with pytest.raises(Conflict):
        await storage.jobs.create(made)

    progressed = replace(
        made,
        status="completed",
        total=9,
        inserted=4,
        updated=2,
        skipped=1,
        failed=2,
        status_details="done",
        updated_at=T0 + 5,
    )
    await storage.jobs.save(progressed)
    assert await storage.jobs.get("job_1") == progressed
    assert await storage.jobs.get("job_2") is None
    assert await storage.jobs.get("job_\x00") is None


async def test_failures_keep_their_order_line_and_record(storage: SqlStorage) -> None:
    await storage.jobs.create(job())
    first = ImportFailure(
        3,
        {"email": "a@x.io", "user_metadata": {"ü": [1, 2]}},
        ({"code": "FORMAT", "message": "m", "path": "email"},),
    )
    second = ImportFailure(1, {}, ({"code": "INVALID_JSON", "message": "m", "path": ""},))
    await storage.jobs.add_failures("job_1", [first])
    await storage.jobs.add_failures("job_1", [second])
    await storage.jobs.add_failures("job_1", [])
    assert list(await storage.jobs.failures("job_1", 10)) == [first, second]
    assert list(await storage.jobs.failures("job_1", 1)) == [first]
    assert list(await storage.jobs.failures("job_other", 10)) == []


async def test_active_jobs_are_counted_and_old_ones_purged(storage: SqlStorage) -> None:
    await storage.jobs.create(job("job_old", created_at=T0 - 90_000, updated_at=T0 - 90_000))
    await storage.jobs.create(job("job_pending"))
    await storage.jobs.create(job("job_running", status="processing", updated_at=T0 + 10))
    await storage.jobs.create(job("job_done", status="completed", updated_at=T0 + 10))
    await storage.jobs.add_failures("job_old", [ImportFailure(1, {}, ())])

    assert await storage.jobs.count_active(T0 - 100_000) == 3
    assert await storage.jobs.count_active(T0 + 1) == 1

    assert await storage.jobs.purge(T0 - 86_400) == 1
    assert await storage.jobs.get("job_old") is None
    assert list(await storage.jobs.failures("job_old", 10)) == []
    assert await storage.jobs.get("job_done") is not None


async def test_a_password_hash_is_replaced_only_while_it_is_the_one_checked(
    storage: SqlStorage, make_user: object
) -> None:
    await make_user("auth0|1")  # type: ignore[operator]
    assert not await storage.users.update_password_hash("auth0|1", "$new", replacing="$stale")
    assert (await storage.users.get("auth0|1")).password_hash == "$argon2id$fake"  # type: ignore[union-attr]
    assert await storage.users.update_password_hash("auth0|1", "$new", replacing="$argon2id$fake")
    assert (await storage.users.get("auth0|1")).password_hash == "$new"  # type: ignore[union-attr]

"""POST /api/v2/jobs/users-imports, GET /api/v2/jobs/{id} and /errors: Auth0's job shape, the
scopes each call needs (checked before the upload is read), who may read a job, and the
Management API's error shape."""

from __future__ import annotations

import re

import pytest

from twofold.core.models import ImportJob

from .import_support import bcrypt_user, job_errors, run_import, upload, users_file
from .management_support import assert_mgmt_error, auth, mgmt_token
from .support import REALM

pytestmark = pytest.mark.anyio

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
ONE_USER = users_file([bcrypt_user("one@example.com", "pw one")])


async def test_created_job_and_finished_job_have_auth0s_shape(env):
    token = await mgmt_token(env)

    created = await upload(env, token, ONE_USER, external_id="batch-7")

    assert created.status_code == 201, created.text
    job = created.json()
    assert re.fullmatch(r"job_[0-9A-Za-z]{16}", job["id"]), job
    assert job["type"] == "users_import"
    assert job["status"] == "pending"
    assert job["connection_id"] == REALM
    assert job["external_id"] == "batch-7"
    assert job["upsert"] is False
    assert job["send_completion_email"] is True
    assert ISO.match(job["created_at"]), job
    await env.services.deps.background.wait()
    done = (await env.http.get(f"/api/v2/jobs/{job['id']}", headers=auth(token))).json()
    assert done["status"] == "completed"
    assert done["summary"] == {"failed": 0, "updated": 0, "inserted": 1, "skipped": 0, "total": 1}
    assert {k: done[k] for k in ("id", "connection_id", "external_id", "created_at")} == {
        k: job[k] for k in ("id", "connection_id", "external_id", "created_at")
    }
    no_errors = await job_errors(env, token, job["id"])
    assert no_errors.status_code == 204
    assert no_errors.content == b""


async def test_creating_needs_create_users_before_the_upload_is_read(env):
    token = await mgmt_token(env, ("read:users", "update:users"))
    resp = await env.http.post(
        "/api/v2/jobs/users-imports",
        content=b"not multipart at all",
        headers={**auth(token), "content-type": "text/plain"},
    )
    assert_mgmt_error(
        resp, 403, "insufficient_scope", "Insufficient scope, expected any of: create:users"
    )


async def test_upsert_also_needs_update_users(env):
    token = await mgmt_token(env, ("create:users",))
    resp = await upload(env, token, ONE_USER, upsert="true")
    assert_mgmt_error(
        resp, 403, "insufficient_scope", "Insufficient scope, expected any of: update:users"
    )
    assert await env.services.deps.storage.users.find_by_login(REALM, "one@example.com") is None


async def test_a_job_is_read_with_read_users_or_by_the_client_that_made_it(env):
    creator = await mgmt_token(env, ("create:users",))
    job = await run_import(env, creator, ONE_USER)
    other_creator = await mgmt_token(env, ("create:users",))
    reader = await mgmt_token(env, ("read:users",))
    neither = await mgmt_token(env, ("read:logs", "update:users"))

    for path in (f"/api/v2/jobs/{job['id']}", f"/api/v2/jobs/{job['id']}/errors"):
        hidden = await env.http.get(path, headers=auth(other_creator))
        assert_mgmt_error(hidden, 404, "inexistent_job", "The job does not exist.")
        refused = await env.http.get(path, headers=auth(neither))
        assert_mgmt_error(
            refused,
            403,
            "insufficient_scope",
            "Insufficient scope, expected any of: read:users,create:users",
        )
    assert (
        await env.http.get(f"/api/v2/jobs/{job['id']}", headers=auth(reader))
    ).status_code == 200
    unknown = await env.http.get("/api/v2/jobs/job_0000000000000000", headers=auth(reader))
    assert_mgmt_error(unknown, 404, "inexistent_job")


async def test_a_user_token_cannot_start_an_import(env):
    await env.tenant(mfa_policy="never")
    await env.user()
    client = await env.client()
    user_token = (await env.password(client)).json()["access_token"]
    resp = await upload(env, user_token, ONE_USER)
    assert_mgmt_error(resp, 401, "invalid_token")


FILE = ("u.json", ONE_USER, "application/json")
CONNECTION = (None, REALM)


@pytest.mark.parametrize(
    ("parts", "message"),
    [
        ({"connection_id": CONNECTION}, "Missing required property: users"),
        ({"users": FILE}, "Missing required property: connection_id"),
        ({"connection_id": CONNECTION, "upsert": (None, "maybe"), "users": FILE}, "upsert"),
        ({"connection_id": CONNECTION, "pepper": (None, "1"), "users": FILE}, "pepper"),
        ({"connection_id": CONNECTION, "users": ("u.json", b"  ")}, "empty"),
        ({"connection_id": ("c.txt", b"x"), "users": (None, ONE_USER)}, "connection_id"),
    ],
)
async def test_a_bad_upload_is_400_naming_what_is_wrong(env, parts, message):
    token = await mgmt_token(env)
    resp = await env.http.post("/api/v2/jobs/users-imports", files=parts, headers=auth(token))
    body = assert_mgmt_error(resp, 400, "invalid_body")
    assert message in body["message"], body
    assert await env.services.deps.storage.jobs.count_active(0) == 0


async def test_two_files_are_refused(env):
    token = await mgmt_token(env)
    parts = [("connection_id", CONNECTION), ("users", FILE), ("users", FILE)]
    resp = await env.http.post("/api/v2/jobs/users-imports", files=parts, headers=auth(token))
    assert_mgmt_error(resp, 400, "invalid_body")


async def test_json_instead_of_multipart_is_415(env):
    token = await mgmt_token(env)
    resp = await env.http.post(
        "/api/v2/jobs/users-imports", json={"connection_id": REALM}, headers=auth(token)
    )
    assert_mgmt_error(resp, 415, "unsupported_media_type")


async def test_an_unreadable_file_fails_the_job_and_errors_answer_the_job(env):
    token = await mgmt_token(env)
    job = await run_import(env, token, b'[{"email": "a@example.com"},\n{"email": ')
    assert job["status"] == "failed"
    assert "line 2" in job["status_details"]
    errors = (await job_errors(env, token, job["id"])).json()
    assert errors["id"] == job["id"]
    assert errors["status"] == "failed"


async def test_two_active_jobs_at_most(env):
    token = await mgmt_token(env)
    now = env.clock.now()
    for n in range(2):
        job = ImportJob(id=f"job_busy{n}", connection_id=REALM, created_at=now, updated_at=now)
        await env.services.deps.storage.jobs.create(job)
    resp = await upload(env, token, ONE_USER)
    assert_mgmt_error(resp, 429, "too_many_requests")


async def test_a_job_its_server_abandoned_is_reported_failed(env):
    token = await mgmt_token(env, ("read:users",))
    now = env.clock.now()
    job = ImportJob(
        id="job_abandoned00000",
        connection_id=REALM,
        created_at=now,
        updated_at=now,
        status="processing",
        total=10,
    )
    await env.services.deps.storage.jobs.create(job)
    running = (await env.http.get(f"/api/v2/jobs/{job.id}", headers=auth(token))).json()
    assert running["status"] == "processing"
    assert running["percentage_done"] == 0
    env.clock.advance(3600)
    stale = (await env.http.get(f"/api/v2/jobs/{job.id}", headers=auth(token))).json()
    assert stale["status"] == "failed"
    assert "run the import again" in stale["status_details"]
    # It no longer counts against the two active jobs.
    assert (await upload(env, await mgmt_token(env), ONE_USER)).status_code == 201

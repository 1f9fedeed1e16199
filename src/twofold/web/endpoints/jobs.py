"""The Management API's jobs under /api/v2/jobs: the users-imports upload (multipart/form-data:
the `users` file and the job's fields) and a job's status and errors. The same access, rate
limit and error shape as every /api/v2 call (`management._call`); the scope is checked before
the upload is read."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from twofold.core.deps import Deps
from twofold.core.management import jobs
from twofold.core.management import scopes as s
from twofold.core.management.access import Caller
from twofold.core.management.errors import ManagementError, bad_body
from twofold.web import parsing
from twofold.web.endpoints.management import _call, _path

# Auth0 takes 500 KB per job; Twofold takes larger files (they are parsed in memory).
MAX_IMPORT_BYTES = 16 * 1024 * 1024
MAX_FIELD_CHARS = 1024


async def _once(data: bytes) -> AsyncGenerator[bytes, None]:
    yield data


async def _upload(request: Request) -> tuple[dict[str, str], bytes]:
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != "multipart/form-data":
        raise ManagementError(
            415, "unsupported_media_type", "Content-Type must be multipart/form-data"
        )
    raw = await parsing.read_body(request, MAX_IMPORT_BYTES)
    parser = MultiPartParser(
        request.headers, _once(raw), max_files=1, max_fields=8, max_part_size=MAX_IMPORT_BYTES
    )
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise bad_body(f"'{exc.message[:200]}'") from None
    fields: dict[str, str] = {}
    users: bytes | None = None
    try:
        for name, value in form.multi_items():
            if name in fields or (name == "users" and users is not None):
                raise bad_body(f"'{name[:64]} is given twice'")
            if name == "users":
                users = await value.read() if isinstance(value, UploadFile) else value.encode()
            elif isinstance(value, UploadFile) or len(value) > MAX_FIELD_CHARS:
                raise bad_body(f"'{name[:64]} must be a short text field'")
            else:
                fields[name] = value
    finally:
        await form.close()
    if users is None:
        raise bad_body("'Missing required property: users'")
    return fields, users


async def _create(request: Request, deps: Deps, caller: Caller) -> dict[str, Any]:
    fields, users = await _upload(request)
    return await jobs.create(deps, caller, fields, users)


async def import_users(request: Request) -> Response:
    return await _call(
        request, (s.CREATE_USERS,), lambda d, _, c: _create(request, d, c), status=201
    )


async def get_job(request: Request) -> Response:
    job_id = _path(request, "job_id")
    return await _call(
        request, (s.READ_USERS, s.CREATE_USERS), lambda d, _, c: jobs.get_job(d, c, job_id)
    )


async def job_errors(request: Request) -> Response:
    job_id = _path(request, "job_id")
    return await _call(
        request, (s.READ_USERS, s.CREATE_USERS), lambda d, _, c: jobs.job_errors(d, c, job_id)
    )


ROUTES = [
    Route("/api/v2/jobs/users-imports", import_users, methods=["POST"]),
    Route("/api/v2/jobs/{job_id}", get_job, methods=["GET"]),
    Route("/api/v2/jobs/{job_id}/errors", job_errors, methods=["GET"]),
]

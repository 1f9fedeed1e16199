"""The Management API's jobs under /api/v2/jobs: the users-imports upload (multipart/form-data:
the `users` file and the job's fields) and a job's status and errors. The same access, rate
limit and error shape as every /api/v2 call (`management.operation`); the scope is checked before
the upload is read."""

from __future__ import annotations

from collections.abc import AsyncGenerator

from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from twofold.core.management import jobs
from twofold.core.management import scopes as s
from twofold.core.management.errors import ManagementError, bad_body
from twofold.web import parsing
from twofold.web.endpoints.management import operation

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


ROUTES = [
    operation(
        "POST",
        "/api/v2/jobs/users-imports",
        (s.CREATE_USERS,),
        lambda c: jobs.create(c.deps, c.caller, *c.body),
        status=201,
        body=_upload,
    ),
    operation(
        "GET",
        "/api/v2/jobs/{job_id}",
        (s.READ_USERS, s.CREATE_USERS),
        lambda c: jobs.get_job(c.deps, c.caller, c.path["job_id"]),
    ),
    operation(
        "GET",
        "/api/v2/jobs/{job_id}/errors",
        (s.READ_USERS, s.CREATE_USERS),
        lambda c: jobs.job_errors(c.deps, c.caller, c.path["job_id"]),
    ),
]

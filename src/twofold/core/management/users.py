"""/api/v2/users, /api/v2/users/{id} and /api/v2/users-by-email.

Users look as Auth0 returns them: `auth0|…` ids, ISO times, one `auth0` identity in the user's
connection (Twofold's realm), metadata, `blocked`. A blocked user's logins are refused by every
grant (401 unauthorized "user is blocked"); deleting a user revokes their refresh tokens, and
their authenticators and recovery code go with the row.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from twofold.core.deps import Deps
from twofold.core.ids import new_user_id
from twofold.core.management import params, projection
from twofold.core.management.errors import ManagementError, bad_body, bad_query, no_user
from twofold.core.models import User, UserQuery
from twofold.core.ports import Conflict

PROVIDER = "auth0"
USER_ID_PREFIX = f"{PROVIDER}|"
MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 1024
MAX_PER_PAGE = 100
# Auth0 serves at most the first 1,000 users of any search through paging.
MAX_RESULTS = 1000
MAX_METADATA_CHARS = 16_384
_SORTABLE = ("created_at", "updated_at", "email", "user_id", "name")
EMAIL_FORMAT = re.compile(r"^[^@\s]+@[^@\s]+$")
ID_SUFFIX_FORMAT = re.compile(r"^[A-Za-z0-9_.\-]{1,200}$")
USER_FIELDS = frozenset(
    {
        "connection",
        "email",
        "password",
        "email_verified",
        "verify_email",
        "blocked",
        "user_metadata",
        "app_metadata",
        "user_id",
        "name",
        "nickname",
        "username",
    }
)
UPDATE_FIELDS = USER_FIELDS - {"user_id", "nickname"}
METADATA_ONLY = frozenset({"user_metadata", "app_metadata"})


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def view(user: User) -> dict[str, Any]:
    local = user.user_id.split("|", 1)[1] if "|" in user.user_id else user.user_id
    out: dict[str, Any] = {
        "user_id": user.user_id,
        "email": user.email,
        "email_verified": user.email_verified,
        "name": user.name or user.email,
        "nickname": user.email.split("@", 1)[0],
        "created_at": iso(user.created_at),
        "updated_at": iso(user.updated_at if user.updated_at is not None else user.created_at),
        "identities": [
            {
                "connection": user.realm,
                "provider": PROVIDER,
                "user_id": local,
                "isSocial": False,
            }
        ],
        "user_metadata": user.user_metadata,
        "app_metadata": user.app_metadata,
        "blocked": user.blocked,
    }
    if user.username is not None:
        out["username"] = user.username
    return out


async def load(deps: Deps, user_id: str) -> User:
    user = await deps.storage.users.get(user_id)
    if user is None:
        raise no_user()
    return user


def _sort(raw: str | None) -> tuple[str, bool]:
    if not raw:
        return "created_at", False
    field, _, direction = raw.partition(":")
    if field not in _SORTABLE or direction not in ("1", "-1"):
        raise bad_query(f"sort must be one of {', '.join(_SORTABLE)} followed by :1 or :-1")
    return field, direction == "-1"


async def list_users(deps: Deps, query: Mapping[str, str]) -> Any:
    paging = params.paging(query, MAX_RESULTS, MAX_PER_PAGE)
    if paging.start + paging.per_page > MAX_RESULTS:
        raise bad_query(f"You can only page through the first {MAX_RESULTS} records")
    q = query.get("q") or ""
    if len(q) > 1024:
        raise bad_query("q is too long")
    filters = params.search(q, ("email", "user_id"))
    sort, descending = _sort(query.get("sort"))
    shown = projection.from_query(query)
    users, total = await deps.storage.users.search(
        UserQuery(
            email=filters.get("email"),
            user_id=filters.get("user_id"),
            sort=sort,
            descending=descending,
            offset=paging.start,
            limit=paging.per_page,
        )
    )
    return paging.answer([shown.apply(view(u)) for u in users], total, "users")


async def get_user(
    deps: Deps, user_id: str, query: Mapping[str, str] | None = None
) -> dict[str, Any]:
    shown = projection.from_query(query or {})
    return shown.apply(view(await load(deps, user_id)))


async def users_by_email(deps: Deps, query: Mapping[str, str]) -> list[dict[str, Any]]:
    email = query.get("email")
    if not email:
        raise bad_query("Missing required property: email")
    if len(email) > 320:
        raise bad_query("email is too long")
    shown = projection.from_query(query)
    users, _ = await deps.storage.users.search(UserQuery(email=email, limit=MAX_PER_PAGE))
    return [shown.apply(view(u)) for u in users]


def _email(body: Mapping[str, Any], *, required: bool) -> str | None:
    email = params.text(body, "email", required=required, max_chars=320)
    if email is None:
        return None
    if EMAIL_FORMAT.fullmatch(email.strip()) is None:
        raise bad_body("'Object didn't pass validation for format email' on property email")
    return email.strip().lower()


def _password(body: Mapping[str, Any], *, required: bool) -> str | None:
    password = params.text(body, "password", required=required, max_chars=MAX_PASSWORD_CHARS)
    if password is not None and len(password) < MIN_PASSWORD_CHARS:
        raise ManagementError(400, "invalid_body", "PasswordStrengthError: Password is too weak")
    return password


def _metadata(body: Mapping[str, Any], name: str) -> dict[str, Any] | None:
    value: dict[str, Any] | None = params.typed(body, name, dict)
    if value is not None and len(repr(value)) > MAX_METADATA_CHARS:
        raise bad_body(f"'Metadata must be at most {MAX_METADATA_CHARS} characters' on {name}")
    return value


def merge_metadata(current: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """One level deep, as Auth0 merges metadata: a null value deletes its key."""
    merged = dict(current)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def _conflict() -> ManagementError:
    return ManagementError(409, "auth0_idp_error", "The user already exists.")


async def create_user(deps: Deps, raw: Any) -> dict[str, Any]:
    body = params.body_object(raw)
    params.allowed(body, USER_FIELDS)
    connection = params.text(body, "connection", required=True, max_chars=255)
    assert connection is not None
    email = _email(body, required=True)
    assert email is not None
    password = _password(body, required=True)
    assert password is not None
    suffix = params.text(body, "user_id", max_chars=200)
    if suffix is not None and ID_SUFFIX_FORMAT.fullmatch(suffix) is None:
        raise bad_body("'user_id may only hold letters, digits, _ . and -' on property user_id")
    username = params.text(body, "username", max_chars=128)
    name = params.text(body, "name", max_chars=255)
    params.text(body, "nickname", max_chars=255)
    email_verified = params.typed(body, "email_verified", bool)
    params.typed(body, "verify_email", bool)
    blocked = params.typed(body, "blocked", bool)
    user_metadata = _metadata(body, "user_metadata")
    app_metadata = _metadata(body, "app_metadata")
    now = deps.clock.now()
    user = User(
        user_id=USER_ID_PREFIX + suffix if suffix is not None else new_user_id(),
        email=email,
        password_hash=await deps.hasher.hash(password),
        realm=connection,
        username=username,
        email_verified=bool(email_verified),
        name=name,
        created_at=now,
        blocked=bool(blocked),
        user_metadata=merge_metadata({}, user_metadata or {}),
        app_metadata=merge_metadata({}, app_metadata or {}),
        updated_at=now,
    )
    try:
        await deps.storage.users.create(user)
    except Conflict:
        raise _conflict() from None
    return view(user)


def update_scopes(raw: Any) -> tuple[str, ...]:
    """The scopes a PATCH needs: metadata alone may be changed with update:users_app_metadata."""
    if isinstance(raw, dict) and raw and set(raw) <= METADATA_ONLY:
        return ("update:users", "update:users_app_metadata")
    return ("update:users",)


async def update_user(deps: Deps, user_id: str, raw: Any) -> dict[str, Any]:
    body = params.body_object(raw)
    params.allowed(body, UPDATE_FIELDS)
    user = await load(deps, user_id)
    changes: dict[str, Any] = {}
    connection = params.text(body, "connection", max_chars=255)
    if connection is not None and connection != user.realm:
        raise bad_body("'The user is not in that connection' on property connection")
    if (email := _email(body, required=False)) is not None:
        changes["email"] = email
        if "email_verified" not in body:
            # A new address has not been verified by anyone yet.
            changes["email_verified"] = email == user.email and user.email_verified
    if (verified := params.typed(body, "email_verified", bool)) is not None:
        changes["email_verified"] = verified
    params.typed(body, "verify_email", bool)
    if (blocked := params.typed(body, "blocked", bool)) is not None:
        changes["blocked"] = blocked
    if (name := params.text(body, "name", max_chars=255)) is not None:
        changes["name"] = name
    if (username := params.text(body, "username", max_chars=128)) is not None:
        changes["username"] = username
    if (user_metadata := _metadata(body, "user_metadata")) is not None:
        changes["user_metadata"] = merge_metadata(user.user_metadata, user_metadata)
    if (app_metadata := _metadata(body, "app_metadata")) is not None:
        changes["app_metadata"] = merge_metadata(user.app_metadata, app_metadata)
    if (password := _password(body, required=False)) is not None:
        changes["password_hash"] = await deps.hasher.hash(password)
    updated = replace(user, **changes, updated_at=deps.clock.now())
    try:
        await deps.storage.users.update(updated)
    except Conflict:
        raise _conflict() from None
    if changes.get("blocked") or "password_hash" in changes:
        # Sessions started before the block or the new password end with it.
        await deps.storage.refresh_tokens.revoke_for_user(user_id)
    return view(updated)


async def set_password(deps: Deps, user_id: str, password: str) -> None:
    await update_user(deps, user_id, {"password": password})


async def set_blocked(deps: Deps, user_id: str, blocked: bool) -> None:
    await update_user(deps, user_id, {"blocked": blocked})


async def delete_user(deps: Deps, user_id: str) -> None:
    """Remove the user and end their sessions; 404 for an unknown id."""
    await load(deps, user_id)
    await deps.storage.refresh_tokens.revoke_for_user(user_id)
    if not await deps.storage.users.delete(user_id):
        raise no_user()

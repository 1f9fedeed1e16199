"""Repositories for who and what may authenticate: tenant settings, clients, APIs, users."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from twofold.core.models import (
    Api,
    AuthMethod,
    Client,
    MfaPolicy,
    SigningAlg,
    Tenant,
    User,
    UserQuery,
)
from twofold.core.ports import Conflict
from twofold.storage import tables as t
from twofold.storage.base import SqlRepository, dumps, from_row, to_row
from twofold.storage.upsert import insert_for


class SqlTenantRepository(SqlRepository):
    async def get(self) -> Tenant:
        row = await self._one(sa.select(t.tenant).where(t.tenant.c.id == t.TENANT_ROW_ID))
        if row is None:
            return Tenant()
        return Tenant(
            friendly_name=row.friendly_name,
            mfa_policy=cast(MfaPolicy, row.mfa_policy),
            enabled_factors=frozenset(json.loads(row.enabled_factors)),
            recovery_codes_enabled=bool(row.recovery_codes_enabled),
            access_token_lifetime=row.access_token_lifetime,
            id_token_lifetime=row.id_token_lifetime,
            refresh_token_lifetime=row.refresh_token_lifetime,
            default_audience=row.default_audience,
            signing_alg=cast(SigningAlg, row.signing_alg),
            email_counts_as_factor=bool(row.email_counts_as_factor),
        )

    async def save(self, tenant: Tenant) -> None:
        values = {
            "friendly_name": tenant.friendly_name,
            "mfa_policy": tenant.mfa_policy,
            "enabled_factors": dumps(sorted(tenant.enabled_factors)),
            "recovery_codes_enabled": tenant.recovery_codes_enabled,
            "access_token_lifetime": tenant.access_token_lifetime,
            "id_token_lifetime": tenant.id_token_lifetime,
            "refresh_token_lifetime": tenant.refresh_token_lifetime,
            "default_audience": tenant.default_audience,
            "signing_alg": tenant.signing_alg,
            "email_counts_as_factor": tenant.email_counts_as_factor,
        }
        insert = insert_for(self._db.dialect_name)(t.tenant).values(id=t.TENANT_ROW_ID, **values)
        await self._write(insert.on_conflict_do_update(index_elements=["id"], set_=values))


# The client's URL lists, each a JSON list in the column of its name.
_URL_LISTS = ("callbacks", "allowed_logout_urls", "web_origins")


def _client_values(client: Client) -> dict[str, Any]:
    return {
        "name": client.name,
        "auth_method": client.auth_method,
        "grant_types": dumps(sorted(client.grant_types)),
        "secret_hash": client.secret_hash,
        "jwks": None if client.jwks is None else dumps(client.jwks),
        "api_grants": dumps({aud: list(s) for aud, s in client.api_grants.items()}),
        **{name: dumps(list(getattr(client, name))) for name in _URL_LISTS},
    }


def _client(row: sa.Row[Any]) -> Client:
    return from_row(
        Client,
        row,
        auth_method=cast(AuthMethod, row.auth_method),
        grant_types=frozenset(json.loads(row.grant_types)),
        jwks=None if row.jwks is None else json.loads(row.jwks),
        api_grants={aud: tuple(s) for aud, s in json.loads(row.api_grants).items()},
        **{name: tuple(json.loads(getattr(row, name))) for name in _URL_LISTS},
    )


_CLIENT_BY_ID = sa.select(t.clients).where(t.clients.c.client_id == sa.bindparam("client_id"))


class SqlClientRepository(SqlRepository):
    async def get(self, client_id: str) -> Client | None:
        row = await self._one(_CLIENT_BY_ID, {"client_id": client_id})
        return None if row is None else _client(row)

    async def create(self, client: Client) -> None:
        stmt = sa.insert(t.clients).values(
            client_id=client.client_id, created_at=client.created_at, **_client_values(client)
        )
        await self._create(stmt, "client_id already exists")

    async def list(self) -> Sequence[Client]:
        rows = await self._all(
            sa.select(t.clients).order_by(t.clients.c.created_at, t.clients.c.client_id)
        )
        return [_client(row) for row in rows]

    async def update(self, client: Client) -> None:
        # created_at is history, not a setting: an update never moves it.
        await self._write(
            sa.update(t.clients)
            .where(t.clients.c.client_id == client.client_id)
            .values(**_client_values(client))
        )

    async def delete(self, client_id: str) -> bool:
        stmt = sa.delete(t.clients).where(t.clients.c.client_id == client_id)
        return await self._write(stmt) > 0

    async def web_origins(self) -> frozenset[str]:
        column = t.clients.c.web_origins
        rows = await self._all(sa.select(column).where(column != "[]"))
        return frozenset(origin for row in rows for origin in json.loads(row.web_origins))


def _api(row: sa.Row[Any]) -> Api:
    return from_row(
        Api,
        row,
        scopes=tuple(json.loads(row.scopes)),
    )


_API_BY_ID = sa.select(t.apis).where(t.apis.c.identifier == sa.bindparam("identifier"))


class SqlApiRepository(SqlRepository):
    async def get(self, identifier: str) -> Api | None:
        # Read by every client_credentials grant and token for an API: built once, bound.
        row = await self._one(_API_BY_ID, {"identifier": identifier})
        return None if row is None else _api(row)

    async def create(self, api: Api) -> None:
        stmt = sa.insert(t.apis).values(to_row(t.apis, api, scopes=dumps(list(api.scopes))))
        await self._create(stmt, "api identifier already exists")

    async def list(self) -> Sequence[Api]:
        rows = await self._all(sa.select(t.apis).order_by(t.apis.c.created_at, t.apis.c.identifier))
        return [_api(row) for row in rows]


def user_from_row(row: sa.Row[Any]) -> User:
    return from_row(
        User,
        row,
        email_verified=bool(row.email_verified),
        blocked=bool(row.blocked),
        user_metadata=_metadata(row.user_metadata),
        app_metadata=_metadata(row.app_metadata),
    )


def _metadata(text: str) -> dict[str, Any]:
    # Most users have none, and every token and MFA request reads its user: "{}" is skipped
    # rather than parsed (a new dict each time, as the caller may keep it).
    return {} if text == "{}" else cast(dict[str, Any], json.loads(text))


def _user_values(user: User) -> dict[str, Any]:
    return {
        "realm": user.realm,
        "email": user.email.lower(),
        "username": user.username,
        "password_hash": user.password_hash,
        "email_verified": user.email_verified,
        "name": user.name,
        "blocked": user.blocked,
        "user_metadata": dumps(user.user_metadata),
        "app_metadata": dumps(user.app_metadata),
        "updated_at": user.updated_at,
    }


# No sort key is NULL (NULLs sort first on SQLite, last on PostgreSQL): the API shows a user
# never updated as updated when created, and a user without a name under their email.
_SORTABLE: dict[str, sa.ColumnElement[Any]] = {
    "created_at": t.users.c.created_at,
    "updated_at": sa.func.coalesce(t.users.c.updated_at, t.users.c.created_at),
    "email": t.users.c.email,
    "user_id": t.users.c.user_id,
    "name": sa.func.coalesce(t.users.c.name, t.users.c.email),
}

USER_BY_ID = sa.select(t.users).where(t.users.c.user_id == sa.bindparam("user_id"))
_by_email = t.users.c.email == sa.bindparam("email")
# Should one user's username equal another's email, the email owner wins: that is the identifier
# Auth0 documents as primary.
_USER_BY_LOGIN = (
    sa.select(t.users)
    .where(
        t.users.c.realm == sa.bindparam("realm"),
        sa.or_(_by_email, t.users.c.username == sa.bindparam("login")),
    )
    .order_by(sa.case((_by_email, 0), else_=1))
    .limit(1)
)


class SqlUserRepository(SqlRepository):
    async def get(self, user_id: str) -> User | None:
        row = await self._one(USER_BY_ID, {"user_id": user_id})
        return None if row is None else user_from_row(row)

    async def find_by_login(self, realm: str, login: str) -> User | None:
        params = {"realm": realm, "email": login.lower(), "login": login}
        row = await self._one(_USER_BY_LOGIN, params)
        return None if row is None else user_from_row(row)

    async def create(self, user: User) -> None:
        stmt = sa.insert(t.users).values(
            user_id=user.user_id, created_at=user.created_at, **_user_values(user)
        )
        await self._create(stmt, "user_id, email or username already exists in the realm")

    async def search(self, query: UserQuery) -> tuple[Sequence[User], int]:
        c = t.users.c
        conditions: list[sa.ColumnElement[bool]] = []
        if query.email is not None:
            conditions.append(c.email == query.email.lower())
        if query.user_id is not None:
            conditions.append(c.user_id == query.user_id)
        column = _SORTABLE[query.sort]
        order = column.desc() if query.descending else column.asc()
        # user_id breaks ties, so pages never overlap nor skip a row.
        tie = c.user_id.desc() if query.descending else c.user_id.asc()
        stmt = (
            sa.select(t.users)
            .where(*conditions)
            .order_by(order, tie)
            .offset(query.offset)
            .limit(query.limit)
        )
        rows = await self._all(stmt)
        count = await self._one(sa.select(sa.func.count()).select_from(t.users).where(*conditions))
        return [user_from_row(row) for row in rows], int(count[0]) if count is not None else 0

    async def update(self, user: User) -> None:
        stmt = (
            sa.update(t.users).where(t.users.c.user_id == user.user_id).values(**_user_values(user))
        )
        try:
            await self._write(stmt)
        except IntegrityError as exc:
            raise Conflict("email or username already exists in the realm") from exc

    async def delete(self, user_id: str) -> bool:
        return await self._write(sa.delete(t.users).where(t.users.c.user_id == user_id)) > 0

    async def forget_remembered_browsers(self, user_id: str, now: float) -> bool:
        stmt = (
            sa.update(t.users)
            .where(t.users.c.user_id == user_id)
            .values(remember_browser_invalidated_at=now)
        )
        return await self._write(stmt) > 0

    async def update_password_hash(
        self, user_id: str, password_hash: str, *, replacing: str | None = None
    ) -> bool:
        stmt = sa.update(t.users).where(t.users.c.user_id == user_id)
        if replacing is not None:
            stmt = stmt.where(t.users.c.password_hash == replacing)
        return await self._write(stmt.values(password_hash=password_hash)) > 0

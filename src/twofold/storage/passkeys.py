"""Passkeys' WebAuthn credentials (the `webauthn_credentials` table).

The sign counter moves in one conditional UPDATE (compare-and-set on the counter read before
verification), so two concurrent uses of one credential cannot both record theirs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from twofold.core.models import WebAuthnCredential
from twofold.storage import tables as t
from twofold.storage.base import SqlRepository, dumps, from_row, to_row

_w = t.webauthn_credentials.c
_BY_ID = sa.select(t.webauthn_credentials).where(_w.credential_id == sa.bindparam("credential_id"))
_OF_USER = (
    sa.select(t.webauthn_credentials)
    .where(_w.user_id == sa.bindparam("user_id"))
    .order_by(_w.created_at, _w.credential_id)
)
_RECORD_USE = (
    sa.update(t.webauthn_credentials)
    .where(
        _w.credential_id == sa.bindparam("b_credential_id"),
        _w.sign_count == sa.bindparam("seen_count"),
    )
    .values(
        sign_count=sa.bindparam("new_count"),
        backed_up=sa.bindparam("b_backed_up"),
        last_used_at=sa.bindparam("now"),
    )
)


def _credential(row: sa.Row[Any]) -> WebAuthnCredential:
    return from_row(
        WebAuthnCredential,
        row,
        sign_count=int(row.sign_count),
        transports=tuple(json.loads(row.transports)),
        backup_eligible=bool(row.backup_eligible),
        backed_up=bool(row.backed_up),
    )


class SqlWebAuthnCredentialRepository(SqlRepository):
    _t = t.webauthn_credentials

    async def add(self, credential: WebAuthnCredential) -> None:
        c = credential
        stmt = sa.insert(self._t).values(
            to_row(
                self._t,
                c,
                transports=dumps(list(c.transports)),
                name=None if c.name is None else c.name[:255],
                user_agent=None if c.user_agent is None else c.user_agent[:255],
            )
        )
        await self._create(stmt, "credential id already registered or authenticator unknown")

    async def get(self, credential_id: str) -> WebAuthnCredential | None:
        row = await self._one(_BY_ID, {"credential_id": credential_id})
        return None if row is None else _credential(row)

    async def list_for_user(self, user_id: str) -> Sequence[WebAuthnCredential]:
        return [_credential(row) for row in await self._all(_OF_USER, {"user_id": user_id})]

    async def record_use(
        self, credential_id: str, seen_count: int, new_count: int, backed_up: bool, now: float
    ) -> bool:
        params = {
            "b_credential_id": credential_id,
            "seen_count": seen_count,
            "new_count": new_count,
            "b_backed_up": backed_up,
            "now": now,
        }
        return await self._write(_RECORD_USE, params) == 1

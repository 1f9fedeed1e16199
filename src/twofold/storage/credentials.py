"""Repositories for secrets in use: authenticators, recovery codes, signing keys, refresh tokens.

The single-use writes live here (TOTP step, recovery code, refresh token): each is one
conditional UPDATE whose row count decides, so concurrent requests cannot both succeed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Literal, cast

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from twofold.core.models import Authenticator, AuthenticatorKind, RefreshToken, SigningKey
from twofold.core.ports import Conflict, RefreshUse
from twofold.storage import tables as t
from twofold.storage.base import SqlRepository, dumps, from_row, to_row
from twofold.storage.locks import lock_in_transaction
from twofold.storage.upsert import insert_for


def authenticator_from_row(row: sa.Row[Any]) -> Authenticator:
    return from_row(
        Authenticator,
        row,
        kind=cast(AuthenticatorKind, row.kind),
        active=bool(row.active),
    )


_a = t.authenticators.c
AUTHENTICATORS_OF_USER = (
    sa.select(t.authenticators)
    .where(_a.user_id == sa.bindparam("user_id"))
    .order_by(_a.created_at, _a.seq, _a.id)
)
_AUTHENTICATOR_BY_ID = sa.select(t.authenticators).where(_a.id == sa.bindparam("authenticator_id"))
# The WHERE clause is the replay guard: of two requests with the same code, the second finds
# last_step already at `step` and updates nothing.
_CLAIM_TOTP_STEP = (
    sa.update(t.authenticators)
    .where(
        _a.id == sa.bindparam("authenticator_id"),
        sa.or_(_a.last_step.is_(None), _a.last_step < sa.bindparam("step")),
    )
    .values(last_step=sa.bindparam("step"), last_used_at=sa.bindparam("now"))
)
_TOUCH = (
    sa.update(t.authenticators)
    .where(_a.id == sa.bindparam("authenticator_id"))
    .values(last_used_at=sa.bindparam("now"))
)


class SqlAuthenticatorRepository(SqlRepository):
    _t = t.authenticators

    async def list_for_user(self, user_id: str) -> Sequence[Authenticator]:
        rows = await self._all(AUTHENTICATORS_OF_USER, {"user_id": user_id})
        return [authenticator_from_row(row) for row in rows]

    async def get(self, authenticator_id: str) -> Authenticator | None:
        row = await self._one(_AUTHENTICATOR_BY_ID, {"authenticator_id": authenticator_id})
        return None if row is None else authenticator_from_row(row)

    async def add(self, authenticator: Authenticator) -> None:
        a = authenticator
        fields: dict[str, Any] = {
            "id": a.id,
            "user_id": a.user_id,
            "kind": a.kind,
            "active": a.active,
            "created_at": a.created_at,
            "secret_enc": a.secret_enc,
            "last_step": a.last_step,
            "name": a.name,
            "target_enc": a.target_enc,
            "link_id": a.link_id,
            "confirmed_at": a.confirmed_at,
            "last_used_at": a.last_used_at,
        }
        # seq = the user's next insertion number, computed in the same statement.
        next_seq = sa.func.coalesce(sa.func.max(self._t.c.seq), 0) + 1
        source = sa.select(
            *(sa.literal(v, self._t.c[k].type).label(k) for k, v in fields.items()),
            next_seq.label("seq"),
        ).where(self._t.c.user_id == a.user_id)
        stmt = sa.insert(self._t).from_select([*fields, "seq"], source)
        await self._create(stmt, "authenticator id already exists or user is unknown")

    async def activate(self, authenticator_ids: Sequence[str], now: float) -> None:
        if not authenticator_ids:
            return
        # A repeated confirmation keeps the first confirmation time.
        await self._write(
            sa.update(self._t)
            .where(self._t.c.id.in_(list(authenticator_ids)))
            .values(active=True, confirmed_at=sa.func.coalesce(self._t.c.confirmed_at, now))
        )

    async def delete(self, authenticator_ids: Sequence[str]) -> int:
        if not authenticator_ids:
            return 0
        return await self._write(
            sa.delete(self._t).where(self._t.c.id.in_(list(authenticator_ids)))
        )

    async def delete_inactive(self, user_id: str, kinds: Sequence[str]) -> int:
        if not kinds:
            return 0
        return await self._write(
            sa.delete(self._t).where(
                self._t.c.user_id == user_id,
                self._t.c.kind.in_(list(kinds)),
                sa.not_(self._t.c.active),
            )
        )

    async def claim_totp_step(self, authenticator_id: str, step: int, now: float) -> bool:
        params = {"authenticator_id": authenticator_id, "step": step, "now": now}
        return await self._write(_CLAIM_TOTP_STEP, params) == 1

    async def touch(self, authenticator_id: str, now: float) -> None:
        await self._write(_TOUCH, {"authenticator_id": authenticator_id, "now": now})

    async def rename(self, authenticator_ids: Sequence[str], name: str) -> int:
        if not authenticator_ids:
            return 0
        return await self._write(
            sa.update(self._t).where(self._t.c.id.in_(list(authenticator_ids))).values(name=name)
        )


_r = t.recovery_codes.c
RECOVERY_HASH = sa.select(_r.code_hash).where(_r.user_id == sa.bindparam("user_id"))
# Conditional on the old hash, so one recovery code can be redeemed exactly once.
_ROTATE_RECOVERY = (
    sa.update(t.recovery_codes)
    .where(_r.user_id == sa.bindparam("b_user_id"), _r.code_hash == sa.bindparam("old_hash"))
    .values(code_hash=sa.bindparam("new_hash"), updated_at=sa.bindparam("now"))
)


class SqlRecoveryCodeRepository(SqlRepository):
    _t = t.recovery_codes

    async def get_hash(self, user_id: str) -> str | None:
        row = await self._one(RECOVERY_HASH, {"user_id": user_id})
        return None if row is None else cast(str, row.code_hash)

    async def set(self, user_id: str, code_hash: str, now: float) -> None:
        insert = insert_for(self._db.dialect_name)(self._t).values(
            user_id=user_id, code_hash=code_hash, updated_at=now
        )
        await self._write(
            insert.on_conflict_do_update(
                index_elements=["user_id"], set_={"code_hash": code_hash, "updated_at": now}
            )
        )

    async def rotate(self, user_id: str, old_hash: str, new_hash: str, now: float) -> bool:
        params = {"b_user_id": user_id, "old_hash": old_hash, "new_hash": new_hash, "now": now}
        return await self._write(_ROTATE_RECOVERY, params) == 1

    async def delete(self, user_id: str) -> None:
        await self._write(sa.delete(self._t).where(self._t.c.user_id == user_id))


SigningKeyStatus = Literal["current", "previous", "retired"]
_STATUS_RANK = {"current": 0, "previous": 1, "retired": 2}


class SqlSigningKeyRepository(SqlRepository):
    _t = t.signing_keys

    async def list(self) -> Sequence[SigningKey]:
        rank = sa.case(_STATUS_RANK, value=self._t.c.status, else_=3)
        rows = await self._all(
            sa.select(self._t).order_by(self._t.c.created_at.desc(), rank, self._t.c.kid)
        )
        return [
            SigningKey(
                kid=row.kid,
                alg=row.alg,
                private_key_enc=row.private_key_enc,
                public_jwk=json.loads(row.public_jwk),
                created_at=row.created_at,
                status=cast(SigningKeyStatus, row.status),
            )
            for row in rows
        ]

    async def add_current(self, key: SigningKey) -> None:
        status = self._t.c.status
        try:
            async with self._db.write_transaction() as conn:
                # One rotation at a time: at READ COMMITTED each statement below sees the rows
                # committed when it starts, so a concurrent rotation that commits between two of
                # them could leave two "previous" keys.
                await lock_in_transaction(conn, self._db.dialect_name, "signing-key-rotation")
                # Order matters: retire the old previous before demoting the current one.
                await conn.execute(
                    sa.update(self._t).where(status == "previous").values(status="retired")
                )
                await conn.execute(
                    sa.update(self._t).where(status == "current").values(status="previous")
                )
                await conn.execute(
                    sa.insert(self._t).values(
                        kid=key.kid,
                        alg=key.alg,
                        private_key_enc=key.private_key_enc,
                        public_jwk=dumps(key.public_jwk),
                        created_at=key.created_at,
                        status="current",
                    )
                )
        except IntegrityError as exc:
            raise Conflict("kid already exists or another rotation won") from exc


def _refresh_token(row: sa.Row[Any]) -> RefreshToken:
    return from_row(
        RefreshToken,
        row,
        revoked=bool(row.revoked),
        amr=None if row.amr is None else tuple(json.loads(row.amr)),
    )


class SqlRefreshTokenRepository(SqlRepository):
    _t = t.refresh_tokens

    async def add(self, token: RefreshToken) -> None:
        amr = None if token.amr is None else dumps(list(token.amr))
        stmt = sa.insert(self._t).values(to_row(self._t, token, amr=amr))
        await self._create(stmt, "refresh token already exists")

    async def get(self, token_hash: str) -> RefreshToken | None:
        row = await self._one(sa.select(self._t).where(self._t.c.token_hash == token_hash))
        return None if row is None else _refresh_token(row)

    async def use(self, token_hash: str, now: float) -> RefreshUse:
        c = self._t.c
        # Expiry is part of the condition too, so an expired token can never be spent even if a
        # caller forgets to check it first.
        used = await self._write(
            sa.update(self._t)
            .where(
                c.token_hash == token_hash,
                c.used_at.is_(None),
                sa.not_(c.revoked),
                c.expires_at > now,
            )
            .values(used_at=now)
        )
        if used == 1:
            return "ok"
        # The write already decided; this read only explains the refusal. used_at never goes
        # back to NULL, so the answer cannot change between the two statements.
        row = await self._one(sa.select(c.used_at).where(c.token_hash == token_hash))
        return "reused" if row is not None and row.used_at is not None else "unknown"

    async def revoke_family(self, family_id: str) -> None:
        await self._write(
            sa.update(self._t).where(self._t.c.family_id == family_id).values(revoked=True)
        )

    async def revoke_for_user(self, user_id: str) -> int:
        c = self._t.c
        return await self._write(
            sa.update(self._t).where(c.user_id == user_id, sa.not_(c.revoked)).values(revoked=True)
        )

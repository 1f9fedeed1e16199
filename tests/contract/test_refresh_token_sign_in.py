"""Migration 0011 on SQLite and PostgreSQL: a refresh token stored before it reads back with no
sign-in, and is still spent and rotated as before."""

from __future__ import annotations

import anyio.to_thread
import pytest
import sqlalchemy as sa

from twofold.storage import migrate
from twofold.storage.database import Database, make_sync_engine
from twofold.storage.repositories import SqlStorage

pytestmark = pytest.mark.anyio


async def test_a_refresh_token_from_before_has_no_sign_in(database_url: str) -> None:
    await anyio.to_thread.run_sync(migrate.upgrade, database_url, "0010")
    sync = make_sync_engine(database_url)
    try:
        with sync.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO refresh_tokens (token_hash, family_id, user_id, client_id,"
                    " audience, scope, created_at, expires_at, mfa_at, used_at, revoked)"
                    " VALUES ('rt-old', 'fam', 'auth0|u1', 'c1', 'https://api.test',"
                    " 'openid offline_access', 1000, 10000, 999, NULL, false)"
                )
            )
    finally:
        sync.dispose()
    await anyio.to_thread.run_sync(migrate.upgrade, database_url)
    database = Database.open(database_url)
    try:
        tokens = SqlStorage(database).refresh_tokens
        old = await tokens.get("rt-old")
        assert old is not None
        assert (old.auth_time, old.amr, old.acr, old.sid) == (None, None, None, None)
        assert (old.family_id, old.mfa_at) == ("fam", 999)
        assert await tokens.use("rt-old", 2000.0) == "ok"
    finally:
        await database.dispose()

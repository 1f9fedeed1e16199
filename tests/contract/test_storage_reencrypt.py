"""Contract: the encrypted-column pager and compare-and-set swap behind
`twofold keys rotate-encryption`, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from twofold.core.models import Authenticator, User
from twofold.storage.database import Database
from twofold.storage.reencrypt import SqlEncryptedColumns
from twofold.storage.repositories import SqlStorage

pytestmark = pytest.mark.anyio

MakeUser = Callable[..., Awaitable[User]]
COLUMN = "authenticators.secret_enc"


async def test_pages_cover_every_cell_once_and_swaps_only_unchanged_ones(
    storage: SqlStorage, database: Database, make_user: MakeUser
) -> None:
    user = await make_user("auth0|u1")
    # Mixed case and digits: paging must follow the database's own ordering on both backends.
    ids = ["totp|dev_b", "totp|dev_A", "totp|dev_9", "totp|dev_a", "totp|dev_Z"]
    for auth_id in ids:
        await storage.authenticators.add(
            Authenticator(auth_id, user.user_id, "totp", True, 1.0, secret_enc=f"v1.old.{auth_id}")
        )
    await storage.authenticators.add(Authenticator("sms|dev_1", user.user_id, "sms", True, 1.0))
    cells = SqlEncryptedColumns(database)

    seen: list[tuple[str, str]] = []
    after: str | None = None
    for _ in range(10):  # bounded
        page = await cells.page(COLUMN, after, 2)
        if not page:
            break
        seen.extend(page)
        after = page[-1][0]
    assert sorted(seen) == sorted((i, f"v1.old.{i}") for i in ids)  # NULL cells are skipped

    changes = [
        ("totp|dev_b", "v1.old.totp|dev_b", "v1.new.b"),
        ("totp|dev_A", "v1.stale", "v1.new.A"),  # changed by a server meanwhile: left alone
    ]
    assert await cells.replace(COLUMN, changes) == 1
    got = {a.id: a.secret_enc for a in await storage.authenticators.list_for_user(user.user_id)}
    assert got["totp|dev_b"] == "v1.new.b"
    assert got["totp|dev_A"] == "v1.old.totp|dev_A"

"""Contract: what the Management API needs of storage (user search, update and delete; revoking a
user's refresh tokens; deleting clients; paging the audit trail), on every database."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace

import pytest

from twofold.core.models import AuditEvent, Authenticator, Client, RefreshToken, User, UserQuery
from twofold.core.ports import Conflict
from twofold.storage.repositories import SqlStorage

pytestmark = pytest.mark.anyio

MakeUser = Callable[..., Awaitable[User]]


async def test_user_fields_round_trip(storage: SqlStorage, make_user: MakeUser) -> None:
    user = await make_user("auth0|a")
    changed = replace(
        user,
        blocked=True,
        user_metadata={"k": [1, 2], "n": {"x": None}},
        app_metadata={"plan": "pro"},
        updated_at=123.5,
        name="A",
        email="Moved@example.com",
    )

    await storage.users.update(changed)

    got = await storage.users.get("auth0|a")
    assert got == replace(changed, email="moved@example.com")


async def test_new_users_are_unblocked_with_empty_metadata(
    storage: SqlStorage, make_user: MakeUser
) -> None:
    user = await make_user("auth0|a")
    got = await storage.users.get(user.user_id)
    assert got is not None
    assert (got.blocked, got.user_metadata, got.app_metadata) == (False, {}, {})


async def test_forget_remembered_browsers_is_kept_by_later_updates(
    storage: SqlStorage, make_user: MakeUser
) -> None:
    user = await make_user("auth0|a")
    assert user.remember_browser_invalidated_at is None

    assert await storage.users.forget_remembered_browsers("auth0|a", 500.25) is True
    # A change read before the browsers were forgotten does not write the old value back.
    await storage.users.update(replace(user, name="Renamed"))

    got = await storage.users.get("auth0|a")
    assert got is not None
    assert (got.remember_browser_invalidated_at, got.name) == (500.25, "Renamed")
    assert await storage.users.forget_remembered_browsers("auth0|nobody", 501.0) is False


async def test_update_to_a_taken_email_is_a_conflict(
    storage: SqlStorage, make_user: MakeUser
) -> None:
    await make_user("auth0|a")
    b = await make_user("auth0|b")
    with pytest.raises(Conflict):
        await storage.users.update(replace(b, email="a@example.com"))


async def test_search_filters_sorts_pages_and_counts(
    storage: SqlStorage, make_user: MakeUser
) -> None:
    for name in ("c", "a", "d", "b"):
        await make_user(f"auth0|{name}")

    page, total = await storage.users.search(UserQuery(sort="email", offset=1, limit=2))
    assert [u.user_id for u in page] == ["auth0|b", "auth0|c"]
    assert total == 4
    desc, _ = await storage.users.search(UserQuery(sort="user_id", descending=True, limit=10))
    assert [u.user_id for u in desc] == ["auth0|d", "auth0|c", "auth0|b", "auth0|a"]
    one, count = await storage.users.search(UserQuery(email="B@EXAMPLE.COM"))
    assert ([u.user_id for u in one], count) == (["auth0|b"], 1)
    none, zero = await storage.users.search(UserQuery(email="b@example.com", user_id="auth0|a"))
    assert (list(none), zero) == ([], 0)
    nul, _ = await storage.users.search(UserQuery(user_id="a\x00b"))
    assert list(nul) == []


async def test_delete_user_takes_authenticators_and_recovery_code(
    storage: SqlStorage, make_user: MakeUser
) -> None:
    await make_user("auth0|a")
    await storage.authenticators.add(
        Authenticator(id="totp|dev_1", user_id="auth0|a", kind="totp", active=True, created_at=1)
    )
    await storage.recovery_codes.set("auth0|a", "hash", 1.0)

    assert await storage.users.delete("auth0|a") is True

    assert await storage.users.get("auth0|a") is None
    assert await storage.authenticators.get("totp|dev_1") is None
    assert await storage.recovery_codes.get_hash("auth0|a") is None
    assert await storage.users.delete("auth0|a") is False


async def test_revoke_for_user(storage: SqlStorage) -> None:
    for i, user in enumerate(("auth0|a", "auth0|a", "auth0|b")):
        await storage.refresh_tokens.add(
            RefreshToken(
                token_hash=f"h{i}",
                family_id=f"f{i}",
                user_id=user,
                client_id="c",
                audience="x",
                scope="",
                created_at=1.0,
                expires_at=10.0**10,
            )
        )

    assert await storage.refresh_tokens.revoke_for_user("auth0|a") == 2

    assert await storage.refresh_tokens.use("h0", 2.0) == "unknown"
    assert await storage.refresh_tokens.use("h2", 2.0) == "ok"
    assert await storage.refresh_tokens.revoke_for_user("auth0|a") == 0


async def test_delete_client(storage: SqlStorage) -> None:
    client = Client("c1", "n", "client_secret_post", frozenset({"password"}))
    await storage.clients.create(client)
    assert await storage.clients.delete("c1") is True
    assert await storage.clients.get("c1") is None
    assert await storage.clients.delete("c1") is False


async def test_audit_page_offset_and_checkpoint(storage: SqlStorage) -> None:
    for i in range(5):
        await storage.audit.record(
            AuditEvent(
                type="s" if i % 2 == 0 else "fp",
                at=float(i),
                description=str(i),
                user_id="auth0|a" if i < 3 else "auth0|b",
            )
        )

    newest, total = await storage.audit.page(offset=1, limit=2)
    assert [e.description for e in newest] == ["3", "2"]
    assert total == 5
    assert all(isinstance(e.seq, int) for e in newest)
    assert newest[0].seq is not None
    assert newest[1].seq is not None
    assert newest[0].seq > newest[1].seq

    after, _ = await storage.audit.page(after_seq=newest[1].seq, limit=10)
    assert [e.description for e in after] == ["3", "4"]
    mine, count = await storage.audit.page(user_id="auth0|a", types=["s"])
    assert ([e.description for e in mine], count) == (["2", "0"], 2)
    oldest, _ = await storage.audit.page(after_seq=0, offset=1, limit=2)
    assert [e.description for e in oldest] == ["1", "2"]


async def test_rename_authenticators(storage: SqlStorage, make_user: MakeUser) -> None:
    await make_user("auth0|a")
    for row_id in ("sms|dev_1", "voice|dev_1", "totp|dev_2"):
        await storage.authenticators.add(
            Authenticator(
                id=row_id, user_id="auth0|a", kind=row_id.split("|")[0], active=True, created_at=1
            )
        )

    assert await storage.authenticators.rename(["sms|dev_1", "voice|dev_1"], "Phone") == 2

    names = {a.id: a.name for a in await storage.authenticators.list_for_user("auth0|a")}
    assert names == {"sms|dev_1": "Phone", "voice|dev_1": "Phone", "totp|dev_2": None}
    assert await storage.authenticators.rename([], "x") == 0


async def test_sort_keys_are_never_null(storage: SqlStorage) -> None:
    def user(user_id: str, created_at: float, **extra: object) -> User:
        return User(
            user_id=user_id,
            email=f"{user_id[6:]}@example.com",
            password_hash="$argon2id$fake",
            created_at=created_at,
            **extra,  # type: ignore[arg-type]
        )

    # "b" was updated after "a" was created; "a" never was; "c" has no name.
    await storage.users.create(user("auth0|a", 300.0, name="Ann"))
    await storage.users.create(user("auth0|b", 100.0, updated_at=200.0, name="Bob"))
    await storage.users.create(user("auth0|c", 50.0))

    by_update, _ = await storage.users.search(UserQuery(sort="updated_at", limit=10))
    by_name, _ = await storage.users.search(UserQuery(sort="name", limit=10))

    assert [u.user_id for u in by_update] == ["auth0|c", "auth0|b", "auth0|a"]
    # Without a name, the email ("c@example.com") stands in.
    assert [u.user_id for u in by_name] == ["auth0|a", "auth0|b", "auth0|c"]

"""Contract: AuthenticatorRepository, including the TOTP replay guard under concurrency."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import anyio
import pytest

from twofold.core.models import Authenticator, AuthenticatorKind, User
from twofold.core.ports import Conflict
from twofold.storage.repositories import SqlStorage

pytestmark = pytest.mark.anyio

MakeUser = Callable[..., Awaitable[User]]
USER = "auth0|u1"


def _auth(
    auth_id: str,
    kind: AuthenticatorKind = "totp",
    *,
    user_id: str = USER,
    active: bool = False,
    created_at: float = 100.0,
) -> Authenticator:
    return Authenticator(auth_id, user_id, kind, active, created_at)


@pytest.fixture
async def user(make_user: MakeUser) -> User:
    return await make_user(USER)


async def test_add_get_round_trip(storage: SqlStorage, user: User) -> None:
    assert await storage.authenticators.get("totp|dev_1") is None
    full = Authenticator(
        id="sms|dev_1",
        user_id=user.user_id,
        kind="sms",
        active=True,
        created_at=100.5,
        secret_enc=None,
        last_step=None,
        name="XXXXXXXX1234",
        target_enc="v1.k1.ciphertext",
        link_id="lnk_1",
        confirmed_at=101.0,
        last_used_at=102.0,
    )
    totp = Authenticator(
        "totp|dev_1", user.user_id, "totp", False, 99.0, secret_enc="v1.k1.s", last_step=7
    )
    await storage.authenticators.add(full)
    await storage.authenticators.add(totp)
    assert await storage.authenticators.get("sms|dev_1") == full
    assert await storage.authenticators.get("totp|dev_1") == totp


async def test_add_conflicts(storage: SqlStorage, user: User) -> None:
    await storage.authenticators.add(_auth("totp|dev_1"))
    with pytest.raises(Conflict):
        await storage.authenticators.add(_auth("totp|dev_1"))
    with pytest.raises(Conflict):  # no such user
        await storage.authenticators.add(_auth("totp|dev_2", user_id="auth0|ghost"))


async def test_list_for_user_oldest_first(
    storage: SqlStorage, user: User, make_user: MakeUser
) -> None:
    await make_user("auth0|other")
    await storage.authenticators.add(_auth("totp|dev_b", created_at=200.0))
    # Same timestamp (one request, frozen clock): insertion order decides, not the id.
    await storage.authenticators.add(_auth("totp|dev_z", created_at=100.0))
    await storage.authenticators.add(_auth("recovery-code|dev_a", "recovery-code"))
    await storage.authenticators.add(_auth("totp|dev_o", user_id="auth0|other"))
    listed = await storage.authenticators.list_for_user(USER)
    assert [a.id for a in listed] == ["totp|dev_z", "recovery-code|dev_a", "totp|dev_b"]
    assert await storage.authenticators.list_for_user("auth0|nobody") == []


async def test_activate(storage: SqlStorage, user: User) -> None:
    await storage.authenticators.add(_auth("sms|dev_1", "sms"))
    await storage.authenticators.add(_auth("voice|dev_1", "voice"))
    await storage.authenticators.add(_auth("totp|dev_1"))
    await storage.authenticators.activate(["sms|dev_1", "voice|dev_1"], 500.0)
    await storage.authenticators.activate([], 500.0)
    by_id = {a.id: a for a in await storage.authenticators.list_for_user(USER)}
    assert by_id["sms|dev_1"].active
    assert by_id["sms|dev_1"].confirmed_at == 500.0
    assert by_id["voice|dev_1"].active
    assert not by_id["totp|dev_1"].active
    assert by_id["totp|dev_1"].confirmed_at is None

    # Confirming again keeps the original confirmation time.
    await storage.authenticators.activate(["sms|dev_1"], 900.0)
    again = await storage.authenticators.get("sms|dev_1")
    assert again is not None
    assert again.confirmed_at == 500.0


async def test_delete(storage: SqlStorage, user: User) -> None:
    for auth_id in ("sms|dev_1", "voice|dev_1", "totp|dev_1"):
        await storage.authenticators.add(_auth(auth_id))
    assert await storage.authenticators.delete(["sms|dev_1", "voice|dev_1", "nope"]) == 2
    assert await storage.authenticators.delete(["sms|dev_1"]) == 0
    assert await storage.authenticators.delete([]) == 0
    assert [a.id for a in await storage.authenticators.list_for_user(USER)] == ["totp|dev_1"]


async def test_delete_inactive(storage: SqlStorage, user: User, make_user: MakeUser) -> None:
    await make_user("auth0|other")
    await storage.authenticators.add(_auth("totp|old", active=True))
    await storage.authenticators.add(_auth("totp|pending"))
    await storage.authenticators.add(_auth("sms|pending", "sms"))
    await storage.authenticators.add(_auth("email|pending", "email"))
    await storage.authenticators.add(_auth("totp|theirs", user_id="auth0|other"))
    assert await storage.authenticators.delete_inactive(USER, ["totp", "sms"]) == 2
    assert await storage.authenticators.delete_inactive(USER, []) == 0
    left = {a.id for a in await storage.authenticators.list_for_user(USER)}
    assert left == {"totp|old", "email|pending"}
    assert await storage.authenticators.get("totp|theirs") is not None


async def test_claim_totp_step_only_moves_forward(storage: SqlStorage, user: User) -> None:
    await storage.authenticators.add(_auth("totp|dev_1", active=True))
    claim = storage.authenticators.claim_totp_step
    assert await claim("totp|dev_1", 1000, 30_000.0) is True
    assert await claim("totp|dev_1", 1000, 30_001.0) is False
    assert await claim("totp|dev_1", 999, 30_002.0) is False
    got = await storage.authenticators.get("totp|dev_1")
    assert got is not None
    assert got.last_used_at == 30_000.0  # a refused claim records no use
    assert await claim("totp|dev_1", 1001, 30_030.0) is True
    assert await claim("totp|unknown", 5, 30_031.0) is False
    got = await storage.authenticators.get("totp|dev_1")
    assert got is not None
    assert got.last_step == 1001
    assert got.last_used_at == 30_030.0


async def test_claim_totp_step_concurrent_same_step_exactly_one(
    storage: SqlStorage, user: User
) -> None:
    await storage.authenticators.add(_auth("totp|dev_1", active=True))
    results: list[bool] = []

    async def claim() -> None:
        results.append(await storage.authenticators.claim_totp_step("totp|dev_1", 55_000_000, 1.0))

    async with anyio.create_task_group() as tg:
        for _ in range(30):
            tg.start_soon(claim)
    assert results.count(True) == 1
    assert len(results) == 30


async def test_claim_totp_step_concurrent_mixed_steps_never_regress(
    storage: SqlStorage, user: User
) -> None:
    await storage.authenticators.add(_auth("totp|dev_1", active=True))
    steps = list(range(1, 31))
    random.shuffle(steps)
    won: list[int] = []

    async def claim(step: int) -> None:
        if await storage.authenticators.claim_totp_step("totp|dev_1", step, 1.0):
            won.append(step)

    async with anyio.create_task_group() as tg:
        for step in steps:
            tg.start_soon(claim, step)
    # The highest step always wins, whatever order the writes land in.
    assert 30 in won
    got = await storage.authenticators.get("totp|dev_1")
    assert got is not None
    assert got.last_step == 30


async def test_touch(storage: SqlStorage, user: User) -> None:
    await storage.authenticators.add(_auth("totp|dev_1", active=True))
    await storage.authenticators.touch("totp|dev_1", 777.0)
    await storage.authenticators.touch("totp|unknown", 777.0)
    got = await storage.authenticators.get("totp|dev_1")
    assert got is not None
    assert got.last_used_at == 777.0


@pytest.fixture
def pipelines(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of statements in each psycopg pipeline sent from here on (PostgreSQL only)."""
    from twofold.storage import direct

    sizes: list[int] = []
    together = direct.run_psycopg_together

    async def spy(
        cursors: direct.Cursors,
        runs: Sequence[tuple[direct.Plan, Mapping[str, Any]]],
        **options: Any,
    ) -> list[direct.Rows]:
        sizes.append(len(runs))
        return await together(cursors, runs, **options)

    monkeypatch.setattr(direct, "run_psycopg_together", spy)
    return sizes


async def test_the_user_and_their_authenticators_read_together_answer_as_read_apart(
    storage: SqlStorage, make_user: MakeUser, pipelines: list[int]
) -> None:
    user = await make_user(USER)
    await make_user("auth0|other")
    await storage.authenticators.add(_auth("totp|dev_b", active=True, created_at=200.0))
    await storage.authenticators.add(_auth("sms|dev_a", "sms", created_at=100.0))
    await storage.authenticators.add(_auth("totp|dev_o", user_id="auth0|other"))

    found, held = await storage.user_and_authenticators(USER)
    assert found == user == await storage.users.get(USER)
    assert list(held) == list(await storage.authenticators.list_for_user(USER))
    assert [a.id for a in held] == ["sms|dev_a", "totp|dev_b"]

    assert await storage.user_and_authenticators("auth0|nobody") == (None, [])
    # A value no row could hold (PostgreSQL refuses a NUL character outright): nothing found.
    assert await storage.user_and_authenticators("auth0|\x00") == (None, [])
    # PostgreSQL: each read was one pipeline of both statements. SQLite runs them in turn.
    postgresql = storage.database.dialect_name == "postgresql"
    assert pipelines == ([2, 2, 2] if postgresql else [])


async def test_the_recovery_hash_read_with_them_answers_as_read_apart(
    storage: SqlStorage, make_user: MakeUser, pipelines: list[int]
) -> None:
    user = await make_user(USER)
    await make_user("auth0|other")
    await storage.authenticators.add(_auth("recovery-code|dev_a", "recovery-code"))
    await storage.recovery_codes.set(USER, "hash-of-mine", 1.0)
    await storage.recovery_codes.set("auth0|other", "hash-of-theirs", 1.0)

    found, held, code_hash = await storage.user_authenticators_and_recovery_hash(USER)
    assert found == user
    assert list(held) == list(await storage.authenticators.list_for_user(USER))
    assert code_hash == "hash-of-mine" == await storage.recovery_codes.get_hash(USER)

    # A user without a code, a user that does not exist, a value no row could hold.
    lone = await make_user("auth0|lone")
    assert await storage.user_authenticators_and_recovery_hash("auth0|lone") == (lone, [], None)
    assert await storage.user_authenticators_and_recovery_hash("auth0|nobody") == (None, [], None)
    assert await storage.user_authenticators_and_recovery_hash("auth0|\x00") == (None, [], None)
    # PostgreSQL: each read was one pipeline of the three statements. SQLite runs them in turn.
    postgresql = storage.database.dialect_name == "postgresql"
    assert pipelines == ([3, 3, 3, 3] if postgresql else [])

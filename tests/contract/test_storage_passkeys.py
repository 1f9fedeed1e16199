"""Contract: WebAuthnCredentialRepository (passkeys), on SQLite and PostgreSQL.

The sign counter is a compare-and-set: of concurrent uses that read the same counter, one
records its use. A credential goes with its authenticator and with its user.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio
import pytest

from twofold.core.models import Authenticator, User, WebAuthnCredential
from twofold.core.ports import Conflict
from twofold.storage.repositories import SqlStorage

pytestmark = pytest.mark.anyio

MakeUser = Callable[..., Awaitable[User]]
USER = "auth0|u1"


def _credential(cred_id: str, authenticator_id: str, **kw: object) -> WebAuthnCredential:
    fields: dict[str, object] = {
        "credential_id": cred_id,
        "authenticator_id": authenticator_id,
        "user_id": USER,
        "public_key": "pQECAyYgASFYIA",
        "sign_count": 0,
        "user_handle": "aGFuZGxl",
        "created_at": 100.0,
    }
    fields.update(kw)
    return WebAuthnCredential(**fields)  # type: ignore[arg-type]


async def _passkey(storage: SqlStorage, auth_id: str, user_id: str = USER) -> None:
    await storage.authenticators.add(Authenticator(auth_id, user_id, "passkey", True, 100.0))


@pytest.fixture
async def user(make_user: MakeUser) -> User:
    return await make_user(USER)


async def test_add_get_round_trip(storage: SqlStorage, user: User) -> None:
    assert await storage.passkeys.get("cred1") is None
    await _passkey(storage, "passkey|dev_1")
    full = _credential(
        "cred1",
        "passkey|dev_1",
        sign_count=7,
        transports=("internal", "hybrid"),
        aaguid="adce0002-35bc-c60a-648b-0b25f1f05503",
        backup_eligible=True,
        backed_up=True,
        name="My phone",
        last_used_at=101.5,
        user_agent="Mozilla/5.0 (X11; Linux x86_64)",
    )
    await storage.passkeys.add(full)
    assert await storage.passkeys.get("cred1") == full
    assert full.device_type == "multi_device"


async def test_credential_ids_are_unique_across_users(
    storage: SqlStorage, user: User, make_user: MakeUser
) -> None:
    other = await make_user("auth0|u2", email="u2@example.com")
    await _passkey(storage, "passkey|dev_1")
    await _passkey(storage, "passkey|dev_2", other.user_id)
    await storage.passkeys.add(_credential("cred1", "passkey|dev_1"))
    with pytest.raises(Conflict):
        await storage.passkeys.add(_credential("cred1", "passkey|dev_2", user_id=other.user_id))


async def test_one_credential_per_authenticator(storage: SqlStorage, user: User) -> None:
    await _passkey(storage, "passkey|dev_1")
    await storage.passkeys.add(_credential("cred1", "passkey|dev_1"))
    with pytest.raises(Conflict):
        await storage.passkeys.add(_credential("cred2", "passkey|dev_1"))


async def test_unknown_authenticator_is_refused(storage: SqlStorage, user: User) -> None:
    with pytest.raises(Conflict):
        await storage.passkeys.add(_credential("cred1", "passkey|dev_nope"))


async def test_list_for_user_oldest_first(
    storage: SqlStorage, user: User, make_user: MakeUser
) -> None:
    other = await make_user("auth0|u2", email="u2@example.com")
    for n, at in ((1, 300.0), (2, 100.0)):
        await _passkey(storage, f"passkey|dev_{n}")
        await storage.passkeys.add(_credential(f"cred{n}", f"passkey|dev_{n}", created_at=at))
    await _passkey(storage, "passkey|dev_3", other.user_id)
    await storage.passkeys.add(_credential("cred3", "passkey|dev_3", user_id=other.user_id))
    listed = await storage.passkeys.list_for_user(USER)
    assert [c.credential_id for c in listed] == ["cred2", "cred1"]
    assert await storage.passkeys.list_for_user("auth0|nobody") == []


async def test_record_use_moves_the_counter_only_from_the_seen_value(
    storage: SqlStorage, user: User
) -> None:
    await _passkey(storage, "passkey|dev_1")
    await storage.passkeys.add(_credential("cred1", "passkey|dev_1", sign_count=5))
    assert await storage.passkeys.record_use("cred1", 5, 6, True, 200.0)
    stored = await storage.passkeys.get("cred1")
    assert stored is not None
    assert (stored.sign_count, stored.backed_up, stored.last_used_at) == (6, True, 200.0)
    # A stale read of the counter changes nothing.
    assert not await storage.passkeys.record_use("cred1", 5, 9, False, 300.0)
    assert await storage.passkeys.get("cred1") == stored
    assert not await storage.passkeys.record_use("nope", 0, 1, False, 300.0)


async def test_concurrent_uses_of_one_counter_value_record_once(
    storage: SqlStorage, user: User
) -> None:
    await _passkey(storage, "passkey|dev_1")
    await storage.passkeys.add(_credential("cred1", "passkey|dev_1", sign_count=1))
    results: list[bool] = []

    async def use(n: int) -> None:
        results.append(await storage.passkeys.record_use("cred1", 1, 2 + n, False, 200.0))

    async with anyio.create_task_group() as tg:
        for n in range(20):
            tg.start_soon(use, n)
    assert results.count(True) == 1


async def test_credential_goes_with_its_authenticator(storage: SqlStorage, user: User) -> None:
    await _passkey(storage, "passkey|dev_1")
    await storage.passkeys.add(_credential("cred1", "passkey|dev_1"))
    assert await storage.authenticators.delete(["passkey|dev_1"]) == 1
    assert await storage.passkeys.get("cred1") is None


async def test_unit_of_work_rolls_credentials_back(storage: SqlStorage, user: User) -> None:
    async def crash() -> None:
        async with storage.unit_of_work():
            await _passkey(storage, "passkey|dev_1")
            await storage.passkeys.add(_credential("cred1", "passkey|dev_1"))
            raise RuntimeError("crash")

    with pytest.raises(RuntimeError):
        await crash()
    assert await storage.passkeys.get("cred1") is None
    assert await storage.authenticators.get("passkey|dev_1") is None

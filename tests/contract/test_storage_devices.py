"""Contract: PushDeviceRepository (one device per push authenticator, also under concurrency)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio
import pytest

from twofold.core.models import Authenticator, User
from twofold.core.ports import PushDeviceRepository
from twofold.storage.database import Database
from twofold.storage.devices import SqlPushDeviceRepository
from twofold.storage.repositories import SqlStorage

pytestmark = pytest.mark.anyio

MakeUser = Callable[..., Awaitable[User]]


@pytest.fixture
def devices(database: Database) -> PushDeviceRepository:
    return SqlPushDeviceRepository(database)


@pytest.fixture
async def user(make_user: MakeUser) -> User:
    return await make_user("auth0|u1")


async def test_attach_once(storage: SqlStorage, devices: PushDeviceRepository, user: User) -> None:
    await storage.authenticators.add(Authenticator("push|dev_1", user.user_id, "push", False, 1.0))
    assert await devices.attach("push|dev_1", "Pixel", "v1.k1.device") is True
    assert await devices.attach("push|dev_1", "Other", "v1.k1.other") is False
    got = await storage.authenticators.get("push|dev_1")
    assert got is not None
    assert (got.name, got.target_enc) == ("Pixel", "v1.k1.device")


async def test_attach_refuses_other_kinds_and_unknown_ids(
    storage: SqlStorage, devices: PushDeviceRepository, user: User
) -> None:
    await storage.authenticators.add(Authenticator("totp|dev_1", user.user_id, "totp", False, 1.0))
    assert await devices.attach("totp|dev_1", "Pixel", "v1.k1.device") is False
    assert await devices.attach("push|nope", "Pixel", "v1.k1.device") is False


async def test_concurrent_attach_exactly_one(
    storage: SqlStorage, devices: PushDeviceRepository, user: User
) -> None:
    await storage.authenticators.add(Authenticator("push|dev_1", user.user_id, "push", False, 1.0))
    wins: list[int] = []

    async def attach(i: int) -> None:
        if await devices.attach("push|dev_1", f"device {i}", f"v1.k1.d{i}"):
            wins.append(i)

    async with anyio.create_task_group() as tg:
        for i in range(20):
            tg.start_soon(attach, i)
    assert len(wins) == 1
    got = await storage.authenticators.get("push|dev_1")
    assert got is not None
    assert got.target_enc == f"v1.k1.d{wins[0]}"

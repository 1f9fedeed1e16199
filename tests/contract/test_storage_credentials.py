"""Contract: RecoveryCodeRepository, SigningKeyRepository, RefreshTokenRepository."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable

import anyio
import pytest

from twofold.core.models import RefreshToken, SigningKey, User
from twofold.core.ports import Conflict, RefreshUse
from twofold.storage.repositories import SqlStorage

pytestmark = pytest.mark.anyio

MakeUser = Callable[..., Awaitable[User]]
USER = "auth0|u1"


# --- recovery codes --------------------------------------------------------------------------


@pytest.fixture
async def user(make_user: MakeUser) -> User:
    return await make_user(USER)


async def test_recovery_code_set_get_delete(storage: SqlStorage, user: User) -> None:
    codes = storage.recovery_codes
    assert await codes.get_hash(USER) is None
    await codes.set(USER, "h1", 1.0)
    assert await codes.get_hash(USER) == "h1"
    await codes.set(USER, "h2", 2.0)  # replaces
    assert await codes.get_hash(USER) == "h2"
    await codes.delete(USER)
    assert await codes.get_hash(USER) is None
    await codes.delete(USER)  # deleting nothing is fine


async def test_recovery_code_rotate(storage: SqlStorage, user: User) -> None:
    codes = storage.recovery_codes
    assert await codes.rotate(USER, "h1", "h2", 1.0) is False  # nothing stored yet
    await codes.set(USER, "h1", 1.0)
    assert await codes.rotate(USER, "wrong", "h2", 2.0) is False
    assert await codes.get_hash(USER) == "h1"
    assert await codes.rotate(USER, "h1", "h2", 2.0) is True
    assert await codes.get_hash(USER) == "h2"
    assert await codes.rotate(USER, "h1", "h3", 3.0) is False  # the old code is spent
    assert await codes.rotate("auth0|ghost", "h2", "h3", 3.0) is False


async def test_recovery_code_concurrent_rotate_exactly_one(storage: SqlStorage, user: User) -> None:
    await storage.recovery_codes.set(USER, "old", 1.0)
    winners: list[str] = []

    async def redeem(i: int) -> None:
        if await storage.recovery_codes.rotate(USER, "old", f"new{i}", 2.0):
            winners.append(f"new{i}")

    async with anyio.create_task_group() as tg:
        for i in range(30):
            tg.start_soon(redeem, i)
    assert len(winners) == 1
    assert await storage.recovery_codes.get_hash(USER) == winners[0]


# --- signing keys ----------------------------------------------------------------------------


def _key(kid: str, created_at: float) -> SigningKey:
    jwk = {"kty": "RSA", "kid": kid, "n": "AQAB" * 4, "e": "AQAB", "alg": "RS256", "use": "sig"}
    return SigningKey(kid, "RS256", f"v1.k1.{kid}", jwk, created_at)


async def test_signing_keys_rotation(storage: SqlStorage) -> None:
    keys = storage.signing_keys
    assert await keys.list() == []
    await keys.add_current(_key("k1", 1.0))
    assert await keys.list() == [_key("k1", 1.0)]

    await keys.add_current(_key("k2", 2.0))
    assert [(k.kid, k.status) for k in await keys.list()] == [
        ("k2", "current"),
        ("k1", "previous"),
    ]

    await keys.add_current(_key("k3", 3.0))
    listed = await keys.list()
    assert [(k.kid, k.status) for k in listed] == [
        ("k3", "current"),
        ("k2", "previous"),
        ("k1", "retired"),
    ]
    assert listed[0].public_jwk == _key("k3", 3.0).public_jwk
    assert listed[0].private_key_enc == "v1.k1.k3"


async def test_signing_key_is_stored_as_current_whatever_its_status(storage: SqlStorage) -> None:
    base = _key("k1", 1.0)
    await storage.signing_keys.add_current(
        SigningKey(base.kid, base.alg, base.private_key_enc, base.public_jwk, 1.0, "retired")
    )
    assert [k.status for k in await storage.signing_keys.list()] == ["current"]


async def test_signing_key_duplicate_kid_conflicts_and_changes_nothing(
    storage: SqlStorage,
) -> None:
    await storage.signing_keys.add_current(_key("k1", 1.0))
    await storage.signing_keys.add_current(_key("k2", 2.0))
    before = await storage.signing_keys.list()
    with pytest.raises(Conflict):
        await storage.signing_keys.add_current(_key("k1", 3.0))
    # One transaction: the demotions before the failed insert rolled back with it.
    assert await storage.signing_keys.list() == before


async def test_signing_keys_concurrent_rotations_keep_one_current(storage: SqlStorage) -> None:
    async def rotate(i: int) -> None:
        # A lost race (Conflict) is allowed; a second current key is not.
        with contextlib.suppress(Conflict):
            await storage.signing_keys.add_current(_key(f"k{i}", float(i)))

    async with anyio.create_task_group() as tg:
        for i in range(10):
            tg.start_soon(rotate, i)
    statuses = [k.status for k in await storage.signing_keys.list()]
    assert statuses.count("current") == 1
    assert statuses.count("previous") <= 1


# --- refresh tokens --------------------------------------------------------------------------


def _token(token_hash: str = "rt1", family_id: str = "fam1", **kw: object) -> RefreshToken:
    fields: dict[str, object] = {
        "user_id": USER,
        "client_id": "cid1",
        "audience": "https://api.test",
        "scope": "openid offline_access",
        "created_at": 1_000.0,
        "expires_at": 10_000.0,
        **kw,
    }
    return RefreshToken(token_hash, family_id, **fields)  # type: ignore[arg-type]


async def test_refresh_token_add_get(storage: SqlStorage) -> None:
    assert await storage.refresh_tokens.get("rt1") is None
    token = _token(mfa_at=999.5)
    await storage.refresh_tokens.add(token)
    assert await storage.refresh_tokens.get("rt1") == token
    with pytest.raises(Conflict):
        await storage.refresh_tokens.add(_token())


async def test_refresh_token_keeps_its_sign_in(storage: SqlStorage) -> None:
    signed_in = _token(
        "rt1",
        auth_time=1_700_000_000,
        amr=("pwd", "mfa", "otp"),
        acr="http://schemas.openid.net/pape/policies/2007/06/multi-factor",
        sid="sid-1",
    )
    await storage.refresh_tokens.add(signed_in)
    await storage.refresh_tokens.add(_token("rt2", auth_time=5, amr=(), sid="s"))
    await storage.refresh_tokens.add(_token("rt3"))
    assert await storage.refresh_tokens.get("rt1") == signed_in
    stored = await storage.refresh_tokens.get("rt2")
    assert stored is not None
    assert (stored.auth_time, stored.amr, stored.acr, stored.sid) == (5, (), None, "s")
    plain = await storage.refresh_tokens.get("rt3")
    assert plain is not None
    assert (plain.auth_time, plain.amr, plain.acr, plain.sid) == (None, None, None, None)


async def test_refresh_token_use(storage: SqlStorage) -> None:
    tokens = storage.refresh_tokens
    await tokens.add(_token("rt1"))
    assert await tokens.use("rt1", 2_000.0) == "ok"
    got = await tokens.get("rt1")
    assert got is not None
    assert got.used_at == 2_000.0
    assert await tokens.use("rt1", 2_001.0) == "reused"
    assert await tokens.use("nope", 2_000.0) == "unknown"


async def test_refresh_token_revoked_or_expired_is_unknown(storage: SqlStorage) -> None:
    tokens = storage.refresh_tokens
    await tokens.add(_token("rt1", "fam1"))
    await tokens.add(_token("rt2", "fam1"))
    await tokens.add(_token("rt3", "fam2"))
    await tokens.add(_token("rt4", "fam3", expires_at=1_500.0))
    assert await tokens.use("rt1", 2_000.0) == "ok"

    await tokens.revoke_family("fam1")
    assert await tokens.use("rt2", 2_000.0) == "unknown"  # revoked, never used
    assert await tokens.use("rt1", 2_000.0) == "reused"  # used then revoked: still a replay
    assert await tokens.use("rt3", 2_000.0) == "ok"  # another family is untouched
    assert await tokens.use("rt4", 2_000.0) == "unknown"  # expired
    rt2 = await tokens.get("rt2")
    assert rt2 is not None
    assert rt2.revoked
    assert rt2.used_at is None


async def test_refresh_token_concurrent_use_exactly_one_ok(storage: SqlStorage) -> None:
    await storage.refresh_tokens.add(_token("rt1"))
    results: list[RefreshUse] = []

    async def use() -> None:
        results.append(await storage.refresh_tokens.use("rt1", 2_000.0))

    async with anyio.create_task_group() as tg:
        for _ in range(30):
            tg.start_soon(use)
    assert results.count("ok") == 1
    assert results.count("reused") == 29

"""oob_code records: binding codes MACed with the oob_code, binding to the transaction, expiry,
single use, polling pace, push decisions."""

from __future__ import annotations

from typing import Any

import pytest

from twofold.core import errors
from twofold.core.clock import FrozenClock
from twofold.core.deps import Deps
from twofold.core.errors import ExpiredToken, InvalidGrant, InvalidRequest
from twofold.core.factors import oob_codes
from twofold.core.models import MfaToken
from twofold.state.memory import MemoryStateStore

pytestmark = pytest.mark.anyio
NOW = 1_750_000_000.0


def _deps(clock: FrozenClock) -> Deps:
    none: Any = None
    return Deps(
        storage=none,
        state=MemoryStateStore(clock),
        clock=clock,
        keyring=none,
        hasher=none,
        issuer="https://t.test/",
    )


def _tx(tx_id: str = "t1", user: str = "u1", via_access_token: bool = False) -> MfaToken:
    return MfaToken(
        id=tx_id,
        user_id=user,
        client_id="c",
        audience="a",
        scope="",
        issued_at=NOW,
        expires_at=NOW + 600,
        via_access_token=via_access_token,
    )


async def _issue(deps: Deps, tx: MfaToken, code: str | None = "123456") -> tuple[str, str]:
    owner = oob_codes.Owner(tx.user_id, "c", oob_codes.binding_for(tx), tx.expires_at)
    channel = "email" if code else "auth0"
    return await oob_codes.issue(
        deps, owner, "email|dev_x", channel, enrolment=False, binding_code=code
    )


def test_binding_codes_are_six_digits() -> None:
    codes = {oob_codes.new_binding_code() for _ in range(300)}
    assert all(len(c) == 6 and c.isdigit() for c in codes)
    assert len(codes) > 250


async def test_code_matches_only_the_right_code() -> None:
    clock = FrozenClock(NOW)
    deps = _deps(clock)
    tx = _tx()
    oob_code, key = await _issue(deps, tx)
    record = await oob_codes.load(deps, oob_code, tx)
    assert oob_codes.code_matches(record, oob_code, "123456")
    assert oob_codes.code_matches(record, oob_code, " 123456 ")
    for wrong in [
        "123457",
        "12345",
        "1234567",
        "\uff11\uff12\uff13\uff14\uff15\uff16",
        "",
        "abcdef",
    ]:
        assert not oob_codes.code_matches(record, oob_code, wrong)
    # The MAC is keyed with the oob_code: the same code under another oob_code does not match.
    assert not oob_codes.code_matches(record, oob_code + "x", "123456")
    raw = await deps.state.get(key)
    assert raw is not None
    assert "123456" not in raw
    assert oob_code not in raw


async def test_bound_to_its_transaction_and_user() -> None:
    deps = _deps(FrozenClock(NOW))
    oob_code, _ = await _issue(deps, _tx())
    with pytest.raises(InvalidRequest) as info:
        await oob_codes.load(deps, oob_code, _tx("t2"))
    assert info.value.description == errors.OOB_MISMATCH
    with pytest.raises(InvalidRequest):
        await oob_codes.load(deps, oob_code, _tx(user="u2"))
    with pytest.raises(InvalidRequest):
        await oob_codes.load(deps, oob_code, _tx(via_access_token=True))


async def test_expiry_is_five_minutes_or_the_transaction_end() -> None:
    clock = FrozenClock(NOW)
    deps = _deps(clock)
    tx = _tx()
    oob_code, _ = await _issue(deps, tx)
    clock.advance(299)
    await oob_codes.load(deps, oob_code, tx)
    clock.advance(1)
    with pytest.raises(ExpiredToken) as info:
        await oob_codes.load(deps, oob_code, tx)
    assert info.value.description == errors.OOB_EXPIRED

    short = MfaToken(
        id="t3",
        user_id="u1",
        client_id="c",
        audience="a",
        scope="",
        issued_at=clock.now(),
        expires_at=clock.now() + 60,
    )
    code2, _ = await _issue(deps, short)
    clock.advance(60)
    with pytest.raises(ExpiredToken):
        await oob_codes.load(deps, code2, short)


async def test_unknown_codes() -> None:
    deps = _deps(FrozenClock(NOW))
    for bad in ["", "x" * 300, "never-issued"]:
        with pytest.raises(InvalidGrant):
            await oob_codes.load(deps, bad, _tx())


async def test_spent_once() -> None:
    deps = _deps(FrozenClock(NOW))
    oob_code, _ = await _issue(deps, _tx())
    assert await oob_codes.spend(deps, oob_code)
    assert not await oob_codes.spend(deps, oob_code)
    with pytest.raises(InvalidGrant):
        await oob_codes.load(deps, oob_code, _tx())


async def test_poll_pace() -> None:
    clock = FrozenClock(NOW)
    deps = _deps(clock)
    oob_code, _ = await _issue(deps, _tx(), code=None)
    assert isinstance(await oob_codes.poll(deps, oob_code), errors.AuthorizationPending)
    clock.advance(4.9)
    assert isinstance(await oob_codes.poll(deps, oob_code), errors.SlowDown)
    clock.advance(0.2)
    assert isinstance(await oob_codes.poll(deps, oob_code), errors.AuthorizationPending)


async def test_push_decided_once() -> None:
    clock = FrozenClock(NOW)
    deps = _deps(clock)
    tx = _tx()
    oob_code, key = await _issue(deps, tx, code=None)
    assert await oob_codes.decide(deps, key, "rejected")
    assert not await oob_codes.decide(deps, key, "approved")
    assert (await oob_codes.load(deps, oob_code, tx)).status == "rejected"
    _, key2 = await _issue(deps, tx, code=None)
    clock.advance(300)
    assert not await oob_codes.decide(deps, key2, "approved")


def test_error_shapes() -> None:
    assert (errors.AuthorizationPending.status, errors.AuthorizationPending.error) == (
        400,
        "authorization_pending",
    )
    assert (errors.SlowDown.status, errors.SlowDown.error) == (400, "slow_down")
    assert errors.PushRejected().body() == {
        "error": "access_denied",
        "error_description": "MFA Authorization rejected.",
    }
    assert errors.PushRejected.status == 400
    assert (errors.BadGateway.status, errors.BadGateway.error) == (502, "bad_gateway")

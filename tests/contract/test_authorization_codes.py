"""Authorization codes on every StateStore: of many concurrent redemptions of one code, exactly
one wins, and the code then stands for nothing but its replay marker."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from twofold.core import authorization_codes as codes
from twofold.core.clock import FrozenClock
from twofold.core.deps import Deps
from twofold.core.errors import InvalidGrant
from twofold.core.ports import StateStore
from twofold.core.signin import CodeGrant, SignIn

pytestmark = pytest.mark.anyio
CALLBACK = "https://app.example.com/callback"


class _Families:
    def __init__(self) -> None:
        self.revoked: list[str] = []

    async def revoke_family(self, family_id: str) -> None:
        self.revoked.append(family_id)


class _Storage:
    def __init__(self) -> None:
        self.refresh_tokens = _Families()


def _deps(state_store: StateStore, clock: FrozenClock) -> tuple[Deps, _Families]:
    none: Any = None
    storage = _Storage()
    deps = Deps(
        storage=storage,  # type: ignore[arg-type]
        state=state_store,
        clock=clock,
        keyring=none,
        hasher=none,
        issuer="https://t.test/",
    )
    return deps, storage.refresh_tokens


GRANT = CodeGrant(
    client_id="c1",
    redirect_uri=CALLBACK,
    scope="openid offline_access",
    audience=None,
    nonce=None,
    code_challenge=None,
    sign_in=SignIn(user_id="auth0|u1", sid="s1", auth_time=1, amr=("pwd",)),
)


async def test_concurrent_redemptions_exactly_one_wins(
    state_store: StateStore, clock: FrozenClock
) -> None:
    deps, families = _deps(state_store, clock)
    code = await codes.issue(deps, GRANT)

    async def redeem() -> codes.Redemption:
        return await codes.redeem(
            deps,
            code,
            client_id="c1",
            redirect_uri=CALLBACK,
            code_verifier=None,
            require_pkce=False,
        )

    results = await asyncio.gather(*(redeem() for _ in range(12)), return_exceptions=True)

    wins = [r for r in results if isinstance(r, codes.Redemption)]
    losses = [r for r in results if isinstance(r, InvalidGrant)]
    assert len(wins) == 1, results
    assert len(losses) == 11, results
    assert {e.description for e in losses} == {codes.INVALID_CODE}
    # Every loser was a second redemption: each revoked the winner's family, and the winner
    # learns of it when it settles.
    assert set(families.revoked) == {wins[0].family_id}
    with pytest.raises(InvalidGrant):
        await codes.settle(deps, code, wins[0])


async def test_a_code_expires_with_the_store_clock(
    state_store: StateStore, clock: FrozenClock
) -> None:
    deps, _ = _deps(state_store, clock)
    code = await codes.issue(deps, GRANT)
    clock.advance(codes.CODE_LIFETIME)
    with pytest.raises(InvalidGrant):
        await codes.redeem(
            deps,
            code,
            client_id="c1",
            redirect_uri=CALLBACK,
            code_verifier=None,
            require_pkce=False,
        )

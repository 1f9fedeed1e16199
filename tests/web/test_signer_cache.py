"""The signer cache: a node picks up keys rotated elsewhere once its cache period ends, and
keeps the signer it has (no new private key check on the loop) while the keys are unchanged."""

from __future__ import annotations

from typing import Any

import pytest

from twofold.core.clock import FrozenClock
from twofold.core.tokens import generate_signing_key

pytestmark = pytest.mark.anyio


async def test_an_unchanged_key_set_keeps_its_signer(services: Any, clock: FrozenClock) -> None:
    deps = services.deps
    first = await deps.signer()
    clock.advance(deps.policy.signing_key_cache_seconds + 1)
    assert await deps.signer() is first


async def test_a_rotation_by_another_node_is_seen_after_the_cache_period(
    services: Any, clock: FrozenClock
) -> None:
    deps = services.deps
    first = await deps.signer()
    # Another node rotates: the rows change, this node's cache is not told.
    key = generate_signing_key(deps.keyring, clock.now() + 1)
    await deps.storage.signing_keys.add_current(key)
    assert (await deps.signer()).kid == first.kid
    clock.advance(deps.policy.signing_key_cache_seconds + 1)
    rotated = await deps.signer()
    assert rotated.kid == key.kid
    assert {k["kid"] for k in rotated.jwks()["keys"]} == {first.kid, key.kid}


async def test_keys_retired_by_another_node_leave_the_published_set(
    services: Any, clock: FrozenClock
) -> None:
    deps = services.deps
    first = await deps.signer()
    # Two rotations elsewhere: the first key goes from previous to retired.
    for step in (1, 2):
        await deps.storage.signing_keys.add_current(
            generate_signing_key(deps.keyring, clock.now() + step)
        )
    clock.advance(deps.policy.signing_key_cache_seconds + 1)
    published = {k["kid"] for k in (await deps.signer()).jwks()["keys"]}
    assert first.kid not in published
    assert len(published) == 2

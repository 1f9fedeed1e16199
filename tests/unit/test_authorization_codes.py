"""Authorization codes: single use, 60 s, bound to client and redirect_uri, PKCE S256 only, and a
replay revokes the refresh family of the first redemption."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
from typing import Any

import pytest

from twofold.core import authorization_codes as codes
from twofold.core.clock import FrozenClock
from twofold.core.deps import Deps
from twofold.core.errors import InvalidGrant
from twofold.core.signin import MULTI_FACTOR_ACR, CodeGrant, SignIn
from twofold.state.memory import MemoryStateStore

pytestmark = pytest.mark.anyio
NOW = 1_750_000_000.0
CLIENT = "client-1"
CALLBACK = "https://app.example.com/callback"
INVALID = "Invalid authorization code"
PKCE_FAILED = "Failed to verify code verifier"


class _Families:
    """The refresh-token repository's revoke_family, recorded."""

    def __init__(self) -> None:
        self.revoked: list[str] = []

    async def revoke_family(self, family_id: str) -> None:
        self.revoked.append(family_id)


class _Storage:
    def __init__(self) -> None:
        self.refresh_tokens = _Families()


def _deps(clock: FrozenClock) -> Deps:
    none: Any = None
    storage: Any = _Storage()
    return Deps(
        storage=storage,
        state=MemoryStateStore(clock),
        clock=clock,
        keyring=none,
        hasher=none,
        issuer="https://t.test/",
    )


def _revoked(deps: Deps) -> list[str]:
    families: _Families = deps.storage.refresh_tokens  # type: ignore[assignment]
    return families.revoked


def _verifier() -> str:
    return secrets.token_urlsafe(48)


def _challenge(verifier: str) -> str:
    # Computed here, not with codes.s256, so the test does not trust the code under test.
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _grant(challenge: str | None = None, **changes: Any) -> CodeGrant:
    fields: dict[str, Any] = {
        "client_id": CLIENT,
        "redirect_uri": CALLBACK,
        "scope": "openid profile offline_access",
        "audience": None,
        "nonce": "n-1",
        "code_challenge": challenge,
        "sign_in": SignIn(
            user_id="auth0|u1",
            sid="sid-1",
            auth_time=int(NOW) - 30,
            amr=("pwd", "mfa", "otp"),
            acr=MULTI_FACTOR_ACR,
        ),
    }
    fields.update(changes)
    return CodeGrant(**fields)


async def _redeem(
    deps: Deps,
    code: str,
    verifier: str | None = None,
    *,
    client_id: str = CLIENT,
    redirect_uri: str = CALLBACK,
    public: bool = False,
) -> codes.Redemption:
    return await codes.redeem(
        deps,
        code,
        client_id=client_id,
        redirect_uri=redirect_uri,
        code_verifier=verifier,
        require_pkce=public,
    )


async def _refused(deps: Deps, code: str, description: str, *args: Any, **kw: Any) -> None:
    with pytest.raises(InvalidGrant) as refused:
        await _redeem(deps, code, *args, **kw)
    assert refused.value.description == description
    assert refused.value.status == 403


async def test_a_code_stands_for_its_grant_once() -> None:
    deps = _deps(FrozenClock(NOW))
    verifier = _verifier()
    grant = _grant(_challenge(verifier))
    code = await codes.issue(deps, grant)

    redemption = await _redeem(deps, code, verifier, public=True)

    assert redemption.grant == grant
    assert len(redemption.family_id) == 32
    await _refused(deps, code, INVALID, verifier, public=True)


async def test_codes_are_random_and_kept_under_a_digest() -> None:
    deps = _deps(FrozenClock(NOW))
    issued = {await codes.issue(deps, _grant()) for _ in range(50)}
    assert len(issued) == 50
    for code in issued:
        assert len(code) == 43
        assert set(code) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    state: MemoryStateStore = deps.state  # type: ignore[assignment]
    stored = " ".join(f"{k} {v}" for k, (v, _) in state._entries.items())
    assert not any(code in stored for code in issued)


async def test_concurrent_redemptions_exactly_one_wins() -> None:
    deps = _deps(FrozenClock(NOW))
    code = await codes.issue(deps, _grant())

    results = await asyncio.gather(
        *(_redeem(deps, code) for _ in range(20)), return_exceptions=True
    )

    wins = [r for r in results if isinstance(r, codes.Redemption)]
    assert len(wins) == 1
    assert all(isinstance(r, InvalidGrant) for r in results if r not in wins)


async def test_a_code_lives_sixty_seconds() -> None:
    clock = FrozenClock(NOW)
    deps = _deps(clock)
    young, old = await codes.issue(deps, _grant()), await codes.issue(deps, _grant())

    clock.advance(59.999)
    assert (await _redeem(deps, young)).grant == _grant()
    clock.advance(0.001)
    await _refused(deps, old, INVALID)
    assert _revoked(deps) == []


async def test_an_expired_code_in_the_store_is_still_refused() -> None:
    # The entry's own expiry is checked too, whatever the store's TTL does (a store on a clock
    # that lags, a TTL rounded up).
    clock = FrozenClock(NOW)
    deps = _deps(clock)
    code = await codes.issue(deps, _grant())
    state: MemoryStateStore = deps.state  # type: ignore[assignment]
    ((key, (value, _)),) = state._entries.items()
    state._entries[key] = (value, NOW + 3600)
    clock.advance(61)
    await _refused(deps, code, INVALID)


async def test_another_client_or_redirect_uri_is_refused_and_spends_nothing() -> None:
    deps = _deps(FrozenClock(NOW))
    code = await codes.issue(deps, _grant())

    await _refused(deps, code, INVALID, client_id="client-2")
    await _refused(deps, code, INVALID, redirect_uri=CALLBACK + "/")
    await _refused(deps, code, INVALID, redirect_uri=CALLBACK.upper())
    await _refused(deps, code, INVALID, redirect_uri=CALLBACK + "?x=1")

    # Those could not have redeemed it: the code is still its client's.
    assert (await _redeem(deps, code)).grant.client_id == CLIENT
    assert _revoked(deps) == []


@pytest.mark.parametrize("code", ["", "x", "A" * 43, "A" * 600, "\ud800" * 43, "abc\x00def" * 6])
async def test_unknown_and_malformed_codes(code: str) -> None:
    deps = _deps(FrozenClock(NOW))
    await codes.issue(deps, _grant())
    await _refused(deps, code, INVALID)


async def test_pkce_wrong_missing_or_malformed_verifier() -> None:
    deps = _deps(FrozenClock(NOW))
    verifier = _verifier()
    code = await codes.issue(deps, _grant(_challenge(verifier)))

    for wrong in [
        None,
        _verifier(),
        verifier[:-1],
        verifier + "A",
        verifier[:42],  # too short for RFC 7636 even though a prefix
        "~" * 129,
        "é" * 43,
        _challenge(verifier),  # the challenge itself is not the verifier
    ]:
        await _refused(deps, code, PKCE_FAILED, wrong)

    assert (await _redeem(deps, code, verifier)).grant.code_challenge == _challenge(verifier)


async def test_pkce_plain_is_refused() -> None:
    # With plain the stored challenge would be the verifier itself; S256 never matches that.
    deps = _deps(FrozenClock(NOW))
    verifier = _verifier()
    code = await codes.issue(deps, _grant(challenge=verifier))
    await _refused(deps, code, PKCE_FAILED, verifier)
    assert not codes.challenge_ok(verifier, "plain")
    assert not codes.challenge_ok(_challenge(verifier), "plain")
    assert not codes.challenge_ok(_challenge(verifier), None)
    assert not codes.challenge_ok(_challenge(verifier), "s256")
    assert not codes.challenge_ok(_challenge(verifier) + "A", "S256")
    assert not codes.challenge_ok("!" * 43, "S256")
    assert codes.challenge_ok(_challenge(verifier), "S256")


async def test_rfc7636_appendix_b_vector() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    assert codes.s256(verifier) == challenge
    deps = _deps(FrozenClock(NOW))
    code = await codes.issue(deps, _grant(challenge))
    assert (await _redeem(deps, code, verifier)).grant.nonce == "n-1"


async def test_a_public_client_must_have_used_pkce() -> None:
    deps = _deps(FrozenClock(NOW))
    code = await codes.issue(deps, _grant(challenge=None))
    await _refused(deps, code, PKCE_FAILED, public=True)
    await _refused(deps, code, PKCE_FAILED, _verifier(), public=True)
    # A confidential client may go without; a verifier for a code without a challenge is not
    # the request /authorize saw.
    await _refused(deps, code, PKCE_FAILED, _verifier())
    assert (await _redeem(deps, code)).grant.code_challenge is None


async def test_a_replay_revokes_the_family_of_the_first_redemption() -> None:
    clock = FrozenClock(NOW)
    deps = _deps(clock)
    verifier = _verifier()
    code = await codes.issue(deps, _grant(_challenge(verifier)))
    first = await _redeem(deps, code, verifier)
    await codes.settle(deps, code, first)  # nothing replayed yet: no error, nothing revoked
    assert _revoked(deps) == []

    # Long after the code's own minute, the marker still catches it.
    clock.advance(codes.REDEEMED_MEMORY - 1)
    await _refused(deps, code, INVALID, verifier)
    assert _revoked(deps) == [first.family_id]


async def test_only_a_request_that_could_have_redeemed_it_revokes() -> None:
    deps = _deps(FrozenClock(NOW))
    verifier = _verifier()
    code = await codes.issue(deps, _grant(_challenge(verifier)))
    await _redeem(deps, code, verifier)

    await _refused(deps, code, INVALID, verifier, client_id="client-2")
    await _refused(deps, code, INVALID, verifier, redirect_uri="https://evil.example/cb")
    await _refused(deps, code, PKCE_FAILED, _verifier())
    assert _revoked(deps) == []


async def test_a_replay_during_the_first_redemption_revokes_at_settle() -> None:
    deps = _deps(FrozenClock(NOW))
    code = await codes.issue(deps, _grant())
    first = await _redeem(deps, code)
    # The replay arrives while the first redemption is still minting: it revokes a family that
    # may have no token yet ...
    await _refused(deps, code, INVALID)
    assert _revoked(deps) == [first.family_id]
    # ... so the first redemption, once its refresh token is stored, revokes again and fails.
    with pytest.raises(InvalidGrant) as refused:
        await codes.settle(deps, code, first)
    assert refused.value.description == INVALID
    assert _revoked(deps) == [first.family_id, first.family_id]


async def test_the_marker_is_forgotten_after_its_memory() -> None:
    clock = FrozenClock(NOW)
    deps = _deps(clock)
    code = await codes.issue(deps, _grant())
    await _redeem(deps, code)
    clock.advance(codes.REDEEMED_MEMORY)
    await _refused(deps, code, INVALID)
    assert _revoked(deps) == []

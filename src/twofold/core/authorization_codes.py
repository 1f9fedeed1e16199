"""Authorization codes: what /authorize hands the app, and the token endpoint redeems once.

    issue(grant) → code            the state store keeps the grant under a digest of the code,
                                   for CODE_LIFETIME (60 s)
    redeem(code, client, …)        checks the binding (client, redirect_uri, PKCE), then turns
                                   the entry into a "redeemed" marker in one compare-and-set:
                                   of any number of concurrent redemptions exactly one wins
    settle(code, redemption)       after the tokens are minted: a replay that came in meanwhile
                                   revokes them after all

A code redeemed twice is a stolen code (RFC 6749 §4.1.2): the marker names the refresh family
the first redemption was given, and a second redemption revokes that family and is refused. The
family id is chosen before any token exists, and `settle` looks at the marker again once the
refresh token is stored, so a replay is caught whichever of the two requests gets there first.

Decisions:
- Only a request that could have redeemed the code (same client and redirect_uri, the PKCE
  verifier) triggers the revocation: a leaked code alone cannot be used to log someone out.
- A failed check spends nothing: the code stays redeemable by its own client until it expires.
  The verifier has 256 bits of entropy at best-practice length, so there is nothing to guess.
- PKCE is S256 only (plain is refused: the challenge would be the verifier, sent in the clear
  through the browser). A public client must have used it; a confidential client may not have.
- Every refusal of the code itself says "Invalid authorization code", every PKCE refusal
  "Failed to verify code verifier" (Auth0's strings), so a caller learns nothing about a code
  that is not theirs.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import uuid
from dataclasses import asdict, dataclass, replace
from typing import Any, NoReturn

from twofold.core.deps import Deps
from twofold.core.errors import InvalidGrant
from twofold.core.ids import constant_time_equal, digest, opaque_token
from twofold.core.signin import CodeGrant, SignIn

# Auth0 lets a code live a minute at most; the app redeems it at once.
CODE_LIFETIME = 60
# How long a redeemed code is remembered: a replay within this time revokes what the first
# redemption issued; after it, the code is simply unknown.
REDEEMED_MEMORY = 600
MAX_CODE_CHARS = 512
INVALID_CODE = "Invalid authorization code"
PKCE_FAILED = "Failed to verify code verifier"
PKCE_METHOD = "S256"
# RFC 7636 §4.1: 43 to 128 unreserved characters.
_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
# RFC 7636 §4.2: S256 is BASE64URL(SHA256(verifier)) without padding, always 43 characters.
_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")
_KEY_PREFIX = "authz_code:"


def challenge_ok(challenge: str, method: str | None) -> bool:
    """Whether /authorize may accept this `code_challenge` and `code_challenge_method`: S256
    only (a missing method means plain, RFC 7636 §4.3), and a challenge S256 could produce."""
    return method == PKCE_METHOD and _CHALLENGE.fullmatch(challenge) is not None


def s256(verifier: str) -> str:
    """The S256 challenge of a verifier (what the app sends to /authorize)."""
    hashed = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(hashed).rstrip(b"=").decode("ascii")


@dataclass(frozen=True, slots=True)
class Redemption:
    grant: CodeGrant
    # The refresh family the tokens minted for this code must use (whether or not a refresh
    # token is minted): what a replay revokes.
    family_id: str


@dataclass(frozen=True, slots=True)
class _Record:
    grant: CodeGrant
    expires_at: float
    # Set by the one redemption that won; the entry is then a marker, no longer a code.
    family_id: str | None = None
    # A second redemption was tried: whatever the first one issued is revoked.
    replayed: bool = False

    def encode(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def decode(cls, raw: str) -> _Record:
        fields: dict[str, Any] = json.loads(raw)
        grant: dict[str, Any] = fields.pop("grant")
        sign_in: dict[str, Any] = grant.pop("sign_in")
        sign_in["amr"] = tuple(sign_in["amr"])
        return cls(grant=CodeGrant(**grant, sign_in=SignIn(**sign_in)), **fields)


def _key(code: str) -> str:
    return _KEY_PREFIX + digest(code, "authorization_code")


async def issue(deps: Deps, grant: CodeGrant) -> str:
    """A new code for `grant`, redeemable for CODE_LIFETIME seconds."""
    code = opaque_token(32)
    record = _Record(grant=grant, expires_at=deps.clock.now() + CODE_LIFETIME)
    await deps.state.put(_key(code), record.encode(), ttl=CODE_LIFETIME)
    return code


async def redeem(
    deps: Deps,
    code: str,
    *,
    client_id: str,
    redirect_uri: str,
    code_verifier: str | None,
    require_pkce: bool,
) -> Redemption:
    """Spend `code` for this client; InvalidGrant unless it is live, this client's, for this
    redirect_uri, with the verifier of its challenge (`require_pkce`: the client is public and
    must have used PKCE). A code already redeemed revokes what it was redeemed for."""
    if not code or len(code) > MAX_CODE_CHARS:
        raise InvalidGrant(INVALID_CODE, debug="malformed code")
    key = _key(code)
    # A lost compare-and-set means another request redeemed the code meanwhile: the second
    # pass then finds the marker and answers as to a replay.
    for _ in range(2):
        raw = await deps.state.get(key)
        if raw is None:
            raise InvalidGrant(INVALID_CODE, debug="unknown or expired code")
        record = _decode(raw)
        _check_binding(record.grant, client_id, redirect_uri)
        _check_pkce(record.grant, code_verifier, require_pkce)
        if record.family_id is not None:
            await _revoke(deps, key, record, record.family_id)
        if record.expires_at <= deps.clock.now():
            raise InvalidGrant(INVALID_CODE, debug="expired code")
        family_id = uuid.uuid4().hex
        redeemed = replace(record, family_id=family_id)
        if await deps.state.cas(key, raw, redeemed.encode(), ttl=REDEEMED_MEMORY):
            return Redemption(record.grant, family_id)
    raise InvalidGrant(INVALID_CODE, debug="code changed twice during redemption")


async def settle(deps: Deps, code: str, redemption: Redemption) -> None:
    """After the tokens for `redemption` are minted: if the code was replayed meanwhile, the
    replay may have come before the refresh token was stored, so revoke the family now and
    refuse the answer."""
    raw = await deps.state.get(_key(code))
    if raw is not None and _decode(raw).replayed:
        await deps.storage.refresh_tokens.revoke_family(redemption.family_id)
        raise InvalidGrant(INVALID_CODE, debug="code replayed during its redemption")


def _decode(raw: str) -> _Record:
    try:
        return _Record.decode(raw)
    except (ValueError, TypeError, KeyError, AttributeError):
        # Only this module writes these entries; one it cannot read is no code at all.
        raise InvalidGrant(INVALID_CODE, debug="unreadable code record") from None


async def _revoke(deps: Deps, key: str, record: _Record, family_id: str) -> NoReturn:
    """A replay: mark it (for `settle`), revoke the family, refuse."""
    if not record.replayed:
        await deps.state.put(key, replace(record, replayed=True).encode(), ttl=REDEEMED_MEMORY)
    await deps.storage.refresh_tokens.revoke_family(family_id)
    raise InvalidGrant(INVALID_CODE, debug="code replayed")


def _check_binding(grant: CodeGrant, client_id: str, redirect_uri: str) -> None:
    # Exact, constant-time string comparison: a redirect_uri is matched character for
    # character at /authorize, and must be the same one here (RFC 6749 §4.1.3).
    if not constant_time_equal(grant.client_id, client_id):
        raise InvalidGrant(INVALID_CODE, debug="code issued to another client")
    if not constant_time_equal(grant.redirect_uri, redirect_uri):
        raise InvalidGrant(INVALID_CODE, debug="redirect_uri differs from the authorization's")


def _check_pkce(grant: CodeGrant, verifier: str | None, require_pkce: bool) -> None:
    challenge = grant.code_challenge
    if challenge is None:
        # A public client without PKCE, or a verifier for a code that has no challenge: both
        # mean the request is not the one /authorize saw.
        if require_pkce or verifier is not None:
            raise InvalidGrant(PKCE_FAILED, debug="no code_challenge for this code")
        return
    if verifier is None or _VERIFIER.fullmatch(verifier) is None:
        raise InvalidGrant(PKCE_FAILED, debug="missing or malformed code_verifier")
    if not constant_time_equal(s256(verifier), challenge):
        raise InvalidGrant(PKCE_FAILED, debug="code_verifier does not match")

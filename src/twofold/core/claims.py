"""Reading JWT claims strictly: the rules every signed payload Twofold accepts goes through.

A payload is a JSON object with unique member names and no NaN or Infinity (Python's json reads
both, and an "exp" of NaN passes every comparison); dates are finite numbers, never booleans.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any, cast

from joserfc.util import urlsafe_b64decode


class TokenInvalid(Exception):
    """Why a token was refused; for server logs, never for the client."""


def parse(payload: bytes) -> dict[str, Any]:
    try:
        claims = json.loads(
            payload, object_pairs_hook=_unique_members, parse_constant=_reject_constant
        )
    except (ValueError, TypeError, RecursionError):
        raise TokenInvalid("malformed claims") from None
    if not isinstance(claims, dict):
        raise TokenInvalid("malformed claims")
    return cast(dict[str, Any], claims)


def unverified(token: str) -> dict[str, Any]:
    """The payload of a compact JWT read WITHOUT checking anything: only to find which key or
    client should verify it, never to trust a claim. Empty when it is not one."""
    try:
        payload = token.split(".")[1]
        return parse(urlsafe_b64decode(payload.encode("ascii")))
    except (IndexError, ValueError, UnicodeError, TokenInvalid):
        return {}


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Two "aud" or "exp" members would let two parsers read two different tokens.
    out = dict(pairs)
    if len(out) != len(pairs):
        raise ValueError("duplicate member")
    return out


def _reject_constant(name: str) -> Any:
    # Python's json reads NaN and Infinity, which are not JSON; an "exp" of NaN never expires.
    raise ValueError("non-standard JSON constant")


def check_times(
    claims: Mapping[str, Any], now: float, leeway: int, *, expired_ok: bool = False
) -> float:
    """Check exp (required; past only when `expired_ok`), nbf and iat; return exp."""
    exp = numeric_date(claims, "exp")
    if exp is None:
        raise TokenInvalid("missing exp")
    if exp <= now - leeway and not expired_ok:
        raise TokenInvalid("expired")
    nbf = numeric_date(claims, "nbf")
    if nbf is not None and nbf > now + leeway:
        raise TokenInvalid("not yet valid")
    iat = numeric_date(claims, "iat")
    if iat is not None and iat > now + leeway:
        raise TokenInvalid("issued in the future")
    return exp


def numeric_date(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    # bool is an int in Python; `"exp": true` is not a date.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TokenInvalid(f"malformed {name}")
    if isinstance(value, float) and not math.isfinite(value):
        raise TokenInvalid(f"malformed {name}")
    return value


def audience_ok(claim: object, accepted: str | Sequence[str]) -> bool:
    wanted = {accepted} if isinstance(accepted, str) else set(accepted)
    if isinstance(claim, str):
        return claim in wanted
    if isinstance(claim, list) and claim and all(isinstance(a, str) for a in claim):
        return any(a in wanted for a in claim)
    return False

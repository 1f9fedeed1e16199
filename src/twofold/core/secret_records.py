"""Short-lived records behind a bearer secret (an `auth_session`).

The StateStore keeps each record as JSON under a hash of its secret, never the secret itself,
until the record's `expires_at`. Reading changes nothing; `spend` takes the record in one atomic
consume, so of any number of concurrent callers exactly one gets it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from twofold.core.deps import Deps
from twofold.core.ids import digest, opaque_token

MAX_SECRET_CHARS = 512


class Expiring(Protocol):
    @property
    def expires_at(self) -> float: ...


T = TypeVar("T", bound=Expiring)


@dataclass(frozen=True, slots=True)
class Family:
    """One kind of record: its state key prefix, and the hash purpose of its secrets."""

    prefix: str
    purpose: str

    def key(self, secret: str) -> str:
        return self.prefix + digest(secret, self.purpose)


async def open_record(deps: Deps, family: Family, fields: Mapping[str, Any], ttl: float) -> str:
    """Store a record for `ttl` seconds; its new secret."""
    secret = opaque_token(32)
    await deps.state.put(family.key(secret), json.dumps(fields, separators=(",", ":")), ttl)
    return secret


async def read_record(deps: Deps, family: Family, secret: str, build: Callable[..., T]) -> T | None:
    """The live record behind `secret` (built from its fields), or None."""
    if not secret or len(secret) > MAX_SECRET_CHARS:
        return None
    raw = await deps.state.get(family.key(secret))
    if raw is None:
        return None
    try:
        record = build(**json.loads(raw))
    except (ValueError, TypeError):
        return None
    return record if record.expires_at > deps.clock.now() else None


async def spend(deps: Deps, family: Family, secret: str) -> bool:
    """Take the record: True for exactly one of any number of concurrent callers."""
    return await deps.state.consume(family.key(secret)) is not None

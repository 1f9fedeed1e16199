"""Sliding lifetimes: an idle limit that each use renews, inside an absolute limit that nothing
renews. The SSO session and the remembered browser both live this way.

A record keeps when it was made and when it was last seen; its end is computed from those and the
lifetimes configured now, so shortening a lifetime applies to records already made. Renewing
means rewriting the record (on every node's store), which a busy browser would otherwise do on
each request: `due` allows it only once `last_seen` is `rewrite_after` seconds old (never more
than a tenth of the idle limit, so a short idle limit is not outlived by the throttle). The idle
limit is therefore counted from the last rewrite, at most that many seconds early.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Sliding:
    # Seconds without a use after which the record ends.
    idle: float
    # Seconds after its making after which the record ends, however much it is used.
    absolute: float
    # Seconds a record's last use may lag behind before a use rewrites it.
    rewrite_after: float = 60.0

    def __post_init__(self) -> None:
        if self.idle <= 0 or self.rewrite_after <= 0:
            raise ValueError("lifetimes must be positive")
        if self.absolute < self.idle:
            raise ValueError("the absolute lifetime must be at least the idle lifetime")

    def expires_at(self, created_at: float, last_seen: float) -> float:
        return min(last_seen + self.idle, created_at + self.absolute)

    def live(self, created_at: float, last_seen: float, now: float) -> bool:
        return self.expires_at(created_at, last_seen) > now

    def due(self, last_seen: float, now: float) -> bool:
        """Whether a use now should rewrite the record (renewing its idle limit)."""
        return now - last_seen >= min(self.rewrite_after, self.idle / 10)

    def ttl(self, created_at: float, last_seen: float, now: float) -> float:
        """What the state store is told: the record's remaining life (positive while live)."""
        return self.expires_at(created_at, last_seen) - now

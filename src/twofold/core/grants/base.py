"""What a grant handler receives, and small helpers shared by the grants."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from twofold.core.errors import missing
from twofold.core.models import Client


@dataclass(frozen=True, slots=True)
class GrantRequest:
    params: Mapping[str, str]
    client: Client
    # End-user address: the peer, or auth0-forwarded-for from a trusted server-side client.
    ip: str | None = None

    def required(self, name: str) -> str:
        value = self.params.get(name)
        if value is None or value == "":
            raise missing(name)
        return value

    def optional(self, name: str) -> str | None:
        value = self.params.get(name)
        return value if value else None

"""Auth0's `fields` and `include_fields` on the user reads (GET /users, /users/{id},
/users-by-email) and on GET /logs: a comma-separated list of an item's top-level properties to
keep (`include_fields=true`, the default) or to leave out (`include_fields=false`).

As on Auth0, a name that is no property of the item selects nothing (`fields=user_id,nope` keeps
only `user_id`), and an absent or empty list keeps every property whatever `include_fields` says.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from twofold.core.management import params


@dataclass(frozen=True, slots=True)
class Projection:
    names: frozenset[str] = frozenset()
    include: bool = True

    def apply(self, view: dict[str, Any]) -> dict[str, Any]:
        if not self.names:
            return view
        return {k: v for k, v in view.items() if (k in self.names) == self.include}


def from_query(query: Mapping[str, str]) -> Projection:
    """The projection a query asks for; 400 invalid_query_string on a bad include_fields."""
    include = params.boolean(query, "include_fields", default=True)
    raw = query.get("fields") or ""
    return Projection(frozenset(n.strip() for n in raw.split(",") if n.strip()), include)

"""The dialect's INSERT construct, for `ON CONFLICT … DO UPDATE` upserts.

SQLite and PostgreSQL spell upserts the same way and SQLAlchemy gives both the same
`on_conflict_do_update` API, but through two different Insert classes; this picks the right one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite

InsertFactory = Callable[[Any], "sqlite.Insert | postgresql.Insert"]


def insert_for(name: str) -> InsertFactory:
    """The INSERT construct of the dialect called `name`."""
    if name == "sqlite":
        return sqlite.insert
    if name == "postgresql":
        return postgresql.insert
    raise ValueError(f"no upsert support for {name}")

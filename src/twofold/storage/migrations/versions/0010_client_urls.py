"""Clients: callbacks, allowed logout URLs and web origins.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-14

Each is a JSON list of URLs, read with the client; existing clients have none, so nothing is
redirected to or allowed cross-origin until an operator registers it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"

_COLUMNS = ("callbacks", "allowed_logout_urls", "web_origins")


def upgrade() -> None:
    for name in _COLUMNS:
        op.add_column("clients", sa.Column(name, sa.Text, nullable=False, server_default="[]"))


def downgrade() -> None:
    for name in reversed(_COLUMNS):
        op.drop_column("clients", name)

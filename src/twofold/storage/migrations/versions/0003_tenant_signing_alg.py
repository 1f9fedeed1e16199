"""Tenant setting: the algorithm of the next signing key.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29

Existing tenants get RS256, the algorithm every key had until now; keys already in
`signing_keys` are not touched.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"


def upgrade() -> None:
    op.add_column(
        "tenant",
        sa.Column("signing_alg", sa.String(16), nullable=False, server_default="RS256"),
    )


def downgrade() -> None:
    # SQLite has dropped columns in place since 3.35; no table rebuild (which could lose the
    # single-row CHECK constraint) is needed.
    op.drop_column("tenant", "signing_alg")

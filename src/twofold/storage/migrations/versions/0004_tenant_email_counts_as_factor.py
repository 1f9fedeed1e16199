"""Tenant setting: whether email counts as a factor.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02

Every tenant, existing ones included, gets the strict setting (true): an email-only user must
pass the email challenge before adding a factor or getting an MFA-API token. An operator who
relies on Auth0's lenient behaviour sets it back to false, knowing its risk.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"


def upgrade() -> None:
    op.add_column(
        "tenant",
        sa.Column("email_counts_as_factor", sa.Boolean, nullable=False, server_default=sa.true()),
    )


def downgrade() -> None:
    # SQLite has dropped columns in place since 3.35; no table rebuild (which could lose the
    # single-row CHECK constraint) is needed.
    op.drop_column("tenant", "email_counts_as_factor")

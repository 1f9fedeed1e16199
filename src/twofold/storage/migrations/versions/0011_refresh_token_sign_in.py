"""Refresh tokens: the sign-in their family came from.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-18

A family started by the hosted login keeps when the user authenticated (`auth_time`), how
(`amr`, a JSON list), whether a second factor ran (`acr`) and in which SSO session (`sid`), so
that every ID token refreshed from it tells the same story as the first. Existing families and
those of the other grants have none, and refresh as before.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"


def upgrade() -> None:
    op.add_column("refresh_tokens", sa.Column("auth_time", sa.BigInteger, nullable=True))
    op.add_column("refresh_tokens", sa.Column("amr", sa.Text, nullable=True))
    op.add_column("refresh_tokens", sa.Column("acr", sa.String(255), nullable=True))
    op.add_column("refresh_tokens", sa.Column("sid", sa.String(255), nullable=True))


def downgrade() -> None:
    for name in ("sid", "acr", "amr", "auth_time"):
        op.drop_column("refresh_tokens", name)

"""Users: the Management API's fields (blocked, metadata, updated_at).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04

Existing users are not blocked, have empty metadata, and no update time until their first change
(the API then answers `updated_at` with their creation time).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"


def upgrade() -> None:
    op.add_column(
        "users", sa.Column("blocked", sa.Boolean, nullable=False, server_default=sa.false())
    )
    op.add_column("users", sa.Column("user_metadata", sa.Text, nullable=False, server_default="{}"))
    op.add_column("users", sa.Column("app_metadata", sa.Text, nullable=False, server_default="{}"))
    op.add_column("users", sa.Column("updated_at", sa.Double, nullable=True))


def downgrade() -> None:
    # SQLite has dropped columns in place since 3.35; the users table keeps its constraints.
    op.drop_column("users", "updated_at")
    op.drop_column("users", "app_metadata")
    op.drop_column("users", "user_metadata")
    op.drop_column("users", "blocked")

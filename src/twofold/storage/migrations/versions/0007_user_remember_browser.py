"""Users: when their remembered browsers were last forgotten.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04

`POST /api/v2/users/{id}/multifactor/actions/invalidate-remember-browser` sets it; a browser
remembered (MFA skipped on it) before that time must pass MFA again. Existing users have none.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"


def upgrade() -> None:
    op.add_column("users", sa.Column("remember_browser_invalidated_at", sa.Double, nullable=True))


def downgrade() -> None:
    op.drop_column("users", "remember_browser_invalidated_at")

"""Passkeys: the user agent a credential was registered from.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05

The My Account API shows it (`user_agent`) so that a user can tell their passkeys apart.
Credentials registered before this revision have none.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"


def upgrade() -> None:
    op.add_column("webauthn_credentials", sa.Column("user_agent", sa.String(255), nullable=True))


def downgrade() -> None:
    op.drop_column("webauthn_credentials", "user_agent")

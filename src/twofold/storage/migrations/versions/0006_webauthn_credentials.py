"""Passkeys: the WebAuthn credential of each authenticator of kind "passkey".

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04

A table of its own: the authenticators table keeps what every kind shares, this one what only
WebAuthn knows (public key, sign counter, backup flags). Deleting the authenticator or the user
deletes the credential.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"


def upgrade() -> None:
    op.create_table(
        "webauthn_credentials",
        sa.Column("credential_id", sa.String(1400), nullable=False),
        sa.Column("authenticator_id", sa.String(255), nullable=False),
        sa.Column("user_id", sa.String(255), nullable=False),
        sa.Column("public_key", sa.Text, nullable=False),
        sa.Column("sign_count", sa.BigInteger, nullable=False),
        sa.Column("user_handle", sa.String(255), nullable=False),
        sa.Column("transports", sa.Text, nullable=False),
        sa.Column("aaguid", sa.String(36), nullable=False),
        sa.Column("backup_eligible", sa.Boolean, nullable=False),
        sa.Column("backed_up", sa.Boolean, nullable=False),
        sa.Column("name", sa.String(255), nullable=True),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("last_used_at", sa.Double, nullable=True),
        sa.PrimaryKeyConstraint("credential_id", name="pk_webauthn_credentials"),
        sa.UniqueConstraint("authenticator_id", name="uq_webauthn_credentials_authenticator_id"),
        sa.ForeignKeyConstraint(
            ["authenticator_id"],
            ["authenticators.id"],
            name="fk_webauthn_credentials_authenticator_id_authenticators",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.user_id"],
            name="fk_webauthn_credentials_user_id_users",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_webauthn_credentials_user_id", "webauthn_credentials", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_webauthn_credentials_user_id", table_name="webauthn_credentials")
    op.drop_table("webauthn_credentials")

"""Initial schema.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

Tables are spelled out here rather than taken from tables.py, so that editing tables.py later can
never change what this revision did. Constraint names follow tables.py's naming convention.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None


def upgrade() -> None:
    op.create_table(
        "tenant",
        sa.Column("id", sa.Integer, autoincrement=False, nullable=False),
        sa.Column("friendly_name", sa.String(255), nullable=False),
        sa.Column("mfa_policy", sa.String(32), nullable=False),
        sa.Column("enabled_factors", sa.Text, nullable=False),
        sa.Column("recovery_codes_enabled", sa.Boolean, nullable=False),
        sa.Column("access_token_lifetime", sa.Integer, nullable=False),
        sa.Column("id_token_lifetime", sa.Integer, nullable=False),
        sa.Column("refresh_token_lifetime", sa.Integer, nullable=False),
        sa.Column("default_audience", sa.String(1024), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_tenant"),
        sa.CheckConstraint("id = 1", name="ck_tenant_single_row"),
    )
    op.create_table(
        "clients",
        sa.Column("client_id", sa.String(255), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("auth_method", sa.String(32), nullable=False),
        sa.Column("grant_types", sa.Text, nullable=False),
        sa.Column("secret_hash", sa.Text, nullable=True),
        sa.Column("jwks", sa.Text, nullable=True),
        sa.Column("api_grants", sa.Text, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint("client_id", name="pk_clients"),
    )
    op.create_table(
        "apis",
        sa.Column("identifier", sa.String(1024), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("scopes", sa.Text, nullable=False),
        sa.Column("token_lifetime", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint("identifier", name="pk_apis"),
    )
    op.create_table(
        "users",
        sa.Column("user_id", sa.String(255), nullable=False),
        sa.Column("realm", sa.String(255), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("username", sa.String(255), nullable=True),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("email_verified", sa.Boolean, nullable=False),
        sa.Column("name", sa.String(255), nullable=True),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint("user_id", name="pk_users"),
        sa.UniqueConstraint("realm", "email", name="uq_users_realm_email"),
        sa.UniqueConstraint("realm", "username", name="uq_users_realm_username"),
    )
    op.create_table(
        "authenticators",
        sa.Column("id", sa.String(255), nullable=False),
        sa.Column("user_id", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("secret_enc", sa.Text, nullable=True),
        sa.Column("last_step", sa.BigInteger, nullable=True),
        sa.Column("name", sa.String(255), nullable=True),
        sa.Column("target_enc", sa.Text, nullable=True),
        sa.Column("link_id", sa.String(255), nullable=True),
        sa.Column("confirmed_at", sa.Double, nullable=True),
        sa.Column("last_used_at", sa.Double, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_authenticators"),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.user_id"],
            name="fk_authenticators_user_id_users",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_authenticators_user_id", "authenticators", ["user_id"])
    op.create_table(
        "recovery_codes",
        sa.Column("user_id", sa.String(255), nullable=False),
        sa.Column("code_hash", sa.Text, nullable=False),
        sa.Column("updated_at", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint("user_id", name="pk_recovery_codes"),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.user_id"],
            name="fk_recovery_codes_user_id_users",
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "signing_keys",
        sa.Column("kid", sa.String(255), nullable=False),
        sa.Column("alg", sa.String(16), nullable=False),
        sa.Column("private_key_enc", sa.Text, nullable=False),
        sa.Column("public_jwk", sa.Text, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("kid", name="pk_signing_keys"),
    )
    op.create_index(
        "uq_signing_keys_one_current",
        "signing_keys",
        ["status"],
        unique=True,
        sqlite_where=sa.text("status = 'current'"),
        postgresql_where=sa.text("status = 'current'"),
    )
    op.create_table(
        "refresh_tokens",
        sa.Column("token_hash", sa.String(255), nullable=False),
        sa.Column("family_id", sa.String(255), nullable=False),
        sa.Column("user_id", sa.String(255), nullable=False),
        sa.Column("client_id", sa.String(255), nullable=False),
        sa.Column("audience", sa.String(1024), nullable=False),
        sa.Column("scope", sa.Text, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("expires_at", sa.Double, nullable=False),
        sa.Column("mfa_at", sa.Double, nullable=True),
        sa.Column("used_at", sa.Double, nullable=True),
        sa.Column("revoked", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("token_hash", name="pk_refresh_tokens"),
    )
    op.create_index("ix_refresh_tokens_family_id", "refresh_tokens", ["family_id"])
    op.create_table(
        "state",
        sa.Column("key", sa.String(512), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("expires_at", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_state"),
    )
    op.create_index("ix_state_expires_at", "state", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_state_expires_at", table_name="state")
    op.drop_table("state")
    op.drop_index("ix_refresh_tokens_family_id", table_name="refresh_tokens")
    op.drop_table("refresh_tokens")
    op.drop_index("uq_signing_keys_one_current", table_name="signing_keys")
    op.drop_table("signing_keys")
    op.drop_table("recovery_codes")
    op.drop_index("ix_authenticators_user_id", table_name="authenticators")
    op.drop_table("authenticators")
    op.drop_table("users")
    op.drop_table("apis")
    op.drop_table("clients")
    op.drop_table("tenant")

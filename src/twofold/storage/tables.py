"""The database schema as SQLAlchemy Core tables.

This module is the reference for queries and for `alembic revision --autogenerate` while
developing; the migrations in `migrations/versions/` are what actually create the schema, and each
one spells its tables out so that later edits here never rewrite history.

Conventions:
- Timestamps are float epoch seconds supplied by the core's Clock; no column defaults to the
  database's now(), so frozen clocks in tests and multi-node clock skew behave identically.
- Structured values (sets, lists, dicts) are JSON in TEXT columns: portable between SQLite and
  PostgreSQL, and never queried inside.
- Secrets only ever arrive hashed (`*_hash`) or encrypted by the core (`*_enc`).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

# Stable constraint names keep future migrations (and SQLite batch mode) deterministic.
metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# Tenant-wide settings live in exactly one row so that they can be read in one query.
TENANT_ROW_ID = 1

tenant = sa.Table(
    "tenant",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("friendly_name", sa.String(255), nullable=False),
    sa.Column("mfa_policy", sa.String(32), nullable=False),
    sa.Column("enabled_factors", sa.Text, nullable=False),
    sa.Column("recovery_codes_enabled", sa.Boolean, nullable=False),
    sa.Column("access_token_lifetime", sa.Integer, nullable=False),
    sa.Column("id_token_lifetime", sa.Integer, nullable=False),
    sa.Column("refresh_token_lifetime", sa.Integer, nullable=False),
    sa.Column("default_audience", sa.String(1024), nullable=True),
    # Algorithm of the next signing key: RS256, ES256 or EdDSA (migration 0003).
    sa.Column("signing_alg", sa.String(16), nullable=False, server_default="RS256"),
    # Whether email counts as a factor (migration 0004; true is the strict default).
    sa.Column("email_counts_as_factor", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.CheckConstraint(f"id = {TENANT_ROW_ID}", name="single_row"),
)

clients = sa.Table(
    "clients",
    metadata,
    sa.Column("client_id", sa.String(255), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("auth_method", sa.String(32), nullable=False),
    sa.Column("grant_types", sa.Text, nullable=False),
    sa.Column("secret_hash", sa.Text, nullable=True),
    sa.Column("jwks", sa.Text, nullable=True),
    sa.Column("api_grants", sa.Text, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    # JSON lists of URLs (migration 0010): callbacks, logout URLs, web origins.
    sa.Column("callbacks", sa.Text, nullable=False, server_default="[]"),
    sa.Column("allowed_logout_urls", sa.Text, nullable=False, server_default="[]"),
    sa.Column("web_origins", sa.Text, nullable=False, server_default="[]"),
)

apis = sa.Table(
    "apis",
    metadata,
    sa.Column("identifier", sa.String(1024), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("scopes", sa.Text, nullable=False),
    sa.Column("token_lifetime", sa.Integer, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("user_id", sa.String(255), primary_key=True),
    sa.Column("realm", sa.String(255), nullable=False),
    # Lowercased on write so that the unique constraint and lookups are case-insensitive on
    # every backend without functional indexes.
    sa.Column("email", sa.String(320), nullable=False),
    sa.Column("username", sa.String(255), nullable=True),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("email_verified", sa.Boolean, nullable=False),
    sa.Column("name", sa.String(255), nullable=True),
    sa.Column("created_at", sa.Double, nullable=False),
    # The Management API's fields (migration 0005); metadata is JSON.
    sa.Column("blocked", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("user_metadata", sa.Text, nullable=False, server_default="{}"),
    sa.Column("app_metadata", sa.Text, nullable=False, server_default="{}"),
    sa.Column("updated_at", sa.Double, nullable=True),
    # When the user's remembered browsers were last forgotten (migration 0007).
    sa.Column("remember_browser_invalidated_at", sa.Double, nullable=True),
    sa.UniqueConstraint("realm", "email"),
    # NULL usernames never collide (SQL NULL semantics on SQLite and PostgreSQL).
    sa.UniqueConstraint("realm", "username"),
)


def _owner(**options: Any) -> sa.Column[str]:
    """The user a row belongs to: deleting the user deletes the row."""
    return sa.Column(
        "user_id", sa.String(255), sa.ForeignKey("users.user_id", ondelete="CASCADE"), **options
    )


authenticators = sa.Table(
    "authenticators",
    metadata,
    sa.Column("id", sa.String(255), primary_key=True),
    _owner(nullable=False, index=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    # Per-user insertion order: breaks created_at ties (frozen clocks, one request enrolling
    # several authenticators) so that "oldest first" is deterministic.
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("secret_enc", sa.Text, nullable=True),
    sa.Column("last_step", sa.BigInteger, nullable=True),
    sa.Column("name", sa.String(255), nullable=True),
    sa.Column("target_enc", sa.Text, nullable=True),
    sa.Column("link_id", sa.String(255), nullable=True),
    sa.Column("confirmed_at", sa.Double, nullable=True),
    sa.Column("last_used_at", sa.Double, nullable=True),
)

# A passkey's WebAuthn credential (migration 0006); its authenticator row (kind "passkey") holds
# the rest and takes the credential with it when deleted.
webauthn_credentials = sa.Table(
    "webauthn_credentials",
    metadata,
    sa.Column("credential_id", sa.String(1400), primary_key=True),
    sa.Column(
        "authenticator_id",
        sa.String(255),
        sa.ForeignKey("authenticators.id", ondelete="CASCADE"),
        nullable=False,
        unique=True,
    ),
    _owner(nullable=False, index=True),
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
    # The User-Agent the credential was registered from (migration 0009).
    sa.Column("user_agent", sa.String(255), nullable=True),
)

recovery_codes = sa.Table(
    "recovery_codes",
    metadata,
    _owner(primary_key=True),
    sa.Column("code_hash", sa.Text, nullable=False),
    sa.Column("updated_at", sa.Double, nullable=False),
)

signing_keys = sa.Table(
    "signing_keys",
    metadata,
    sa.Column("kid", sa.String(255), primary_key=True),
    sa.Column("alg", sa.String(16), nullable=False),
    sa.Column("private_key_enc", sa.Text, nullable=False),
    sa.Column("public_jwk", sa.Text, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    # At most one current key, even when two rotations race on PostgreSQL (READ COMMITTED would
    # otherwise let both demote the old key and insert their own current one).
    sa.Index(
        "uq_signing_keys_one_current",
        "status",
        unique=True,
        sqlite_where=sa.text("status = 'current'"),
        postgresql_where=sa.text("status = 'current'"),
    ),
)

refresh_tokens = sa.Table(
    "refresh_tokens",
    metadata,
    sa.Column("token_hash", sa.String(255), primary_key=True),
    sa.Column("family_id", sa.String(255), nullable=False, index=True),
    sa.Column("user_id", sa.String(255), nullable=False),
    sa.Column("client_id", sa.String(255), nullable=False),
    sa.Column("audience", sa.String(1024), nullable=False),
    sa.Column("scope", sa.Text, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("expires_at", sa.Double, nullable=False),
    sa.Column("mfa_at", sa.Double, nullable=True),
    sa.Column("used_at", sa.Double, nullable=True),
    sa.Column("revoked", sa.Boolean, nullable=False),
    # The hosted-login sign-in of the family (migration 0011); amr is a JSON list.
    sa.Column("auth_time", sa.BigInteger, nullable=True),
    sa.Column("amr", sa.Text, nullable=True),
    sa.Column("acr", sa.String(255), nullable=True),
    sa.Column("sid", sa.String(255), nullable=True),
)

state = sa.Table(
    "state",
    metadata,
    sa.Column("key", sa.String(512), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    # Indexed for purge_expired, which sweeps by expiry.
    sa.Column("expires_at", sa.Double, nullable=False, index=True),
)

audit_events = sa.Table(
    "audit_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("at", sa.Double, nullable=False, index=True),
    sa.Column("user_id", sa.String(255), nullable=True, index=True),
    sa.Column("client_id", sa.String(255), nullable=True),
    sa.Column("ip", sa.String(64), nullable=True),
    sa.Column("description", sa.String(255), nullable=False),
    sa.Column("details", sa.Text, nullable=False),
)

# The Management API's users-import jobs (migration 0008): status and counts, so that any node
# answers GET /api/v2/jobs/{id}; the records a job refused live in import_failures.
import_jobs = sa.Table(
    "import_jobs",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("connection_id", sa.String(255), nullable=False),
    sa.Column("client_id", sa.String(255), nullable=True),
    sa.Column("external_id", sa.String(255), nullable=True),
    sa.Column("upsert", sa.Boolean, nullable=False),
    sa.Column("send_completion_email", sa.Boolean, nullable=False),
    sa.Column("total", sa.Integer, nullable=False),
    sa.Column("inserted", sa.Integer, nullable=False),
    sa.Column("updated", sa.Integer, nullable=False),
    sa.Column("skipped", sa.Integer, nullable=False),
    sa.Column("failed", sa.Integer, nullable=False),
    sa.Column("status_details", sa.String(512), nullable=True),
    # Indexed for the purge of old jobs.
    sa.Column("created_at", sa.Double, nullable=False, index=True),
    sa.Column("updated_at", sa.Double, nullable=False),
)

import_failures = sa.Table(
    "import_failures",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "job_id",
        sa.String(64),
        sa.ForeignKey("import_jobs.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("line", sa.Integer, nullable=False),
    # JSON: {"user": the record with its secrets masked, "errors": [{code, message, path}]}.
    sa.Column("body", sa.Text, nullable=False),
)

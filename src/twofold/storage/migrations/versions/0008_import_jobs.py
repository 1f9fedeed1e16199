"""The Management API's users-import jobs and the records they refused.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-10

A job is a row any node can read (its status and counts move as it runs on the node that took
the upload); the refused records are rows of their own, deleted with their job.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"


def upgrade() -> None:
    op.create_table(
        "import_jobs",
        sa.Column("id", sa.String(64), nullable=False),
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
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("updated_at", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_import_jobs"),
    )
    op.create_index("ix_import_jobs_created_at", "import_jobs", ["created_at"])
    op.create_table(
        "import_failures",
        sa.Column("id", sa.Integer, nullable=False, autoincrement=True),
        sa.Column("job_id", sa.String(64), nullable=False),
        sa.Column("line", sa.Integer, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_import_failures"),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["import_jobs.id"],
            name="fk_import_failures_job_id_import_jobs",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_import_failures_job_id", "import_failures", ["job_id"])


def downgrade() -> None:
    op.drop_index("ix_import_failures_job_id", table_name="import_failures")
    op.drop_table("import_failures")
    op.drop_index("ix_import_jobs_created_at", table_name="import_jobs")
    op.drop_table("import_jobs")

"""Uploads (PostUploads / PutUploadContentParts): an archive sent in parts, imported by
PostInputsUploads. ``uploads`` holds one row per upload (``received``: bytes stored so far;
``job_id``: the newest import job that reads it, kept from expiring while that job runs);
``upload_parts`` one row per stored part (its bytes are a blob of the app, key ``blob_key``).

Revision ID: 0031
Revises: 0024
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0031"
down_revision = "0024"
branch_labels = None
depends_on = None

PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
ID = sa.String(128)


def _ts(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "uploads",
        sa.Column("pk", PK, primary_key=True, autoincrement=True),
        sa.Column("app_pk", PK, sa.ForeignKey("apps.pk", ondelete="CASCADE"), nullable=False),
        sa.Column("id", ID, nullable=False),
        sa.Column("content_name", sa.Text(), nullable=False),
        sa.Column("content_length", sa.BigInteger(), nullable=False),
        sa.Column("received", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("job_id", ID, nullable=True),
        _ts("created_at"),
        _ts("modified_at"),
        _ts("expires_at"),
        sa.UniqueConstraint("app_pk", "id", name="uq_uploads_app_pk_id"),
    )
    op.create_index("ix_uploads_state_expires_at", "uploads", ["state", "expires_at"])
    op.create_table(
        "upload_parts",
        sa.Column("upload_pk", PK, sa.ForeignKey("uploads.pk", ondelete="CASCADE"), primary_key=True),
        sa.Column("range_start", sa.BigInteger(), primary_key=True),
        sa.Column("length", sa.BigInteger(), nullable=False),
        sa.Column("part_number", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("blob_key", sa.String(128), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("upload_parts")
    op.drop_index("ix_uploads_state_expires_at", table_name="uploads")
    op.drop_table("uploads")

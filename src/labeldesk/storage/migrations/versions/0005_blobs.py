"""Hosted files: the ``blobs`` table records every file posted as bytes.

The bytes live in the blob store (a directory beside the SQLite database by default, see
``labeldesk.files``); a row says what they are (kind, content type, size, dimensions, SHA-256,
stored sizes) and which input owns them. Deleting an input sets ``input_pk`` NULL; the
server's garbage collector then deletes the stored bytes and the row.

Revision ID: 0005
Revises: 0006
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0006"
branch_labels = None
depends_on = None

PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # only when missing: a database stamped back to an earlier revision may have it already
    if "blobs" in sa.inspect(op.get_bind()).get_table_names():
        return
    op.create_table(
        "blobs",
        sa.Column("pk", PK, primary_key=True, autoincrement=True),
        sa.Column("app_pk", PK, nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column(
            "input_pk",
            PK,
            sa.ForeignKey("inputs.pk", ondelete="SET NULL", name="fk_blobs_input_pk_inputs"),
            nullable=True,
        ),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("content_type", sa.String(128), nullable=False),
        sa.Column("thumb_content_type", sa.String(128), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("sizes", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("pk", name="pk_blobs"),
        sa.UniqueConstraint("app_pk", "key", name="uq_blobs_app_pk_key"),
    )
    op.create_index("ix_blobs_input_pk", "blobs", ["input_pk"])


def downgrade() -> None:
    op.drop_index("ix_blobs_input_pk", table_name="blobs")
    op.drop_table("blobs")

"""Models: an app's models, each bound to an inference backend (through its metadata) with one
version per binding.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
ID = sa.String(128)


def upgrade() -> None:
    op.create_table(
        "models",
        sa.Column("pk", PK, primary_key=True, autoincrement=True),
        sa.Column("app_pk", PK, sa.ForeignKey("apps.pk", ondelete="CASCADE"), nullable=False),
        sa.Column("id", ID, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("model_type_id", sa.String(64), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=True),
        sa.Column("concepts", sa.JSON(), nullable=False),
        sa.Column("version_id", ID, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("app_pk", "id", name="uq_models_app_pk_id"),
    )


def downgrade() -> None:
    op.drop_table("models")

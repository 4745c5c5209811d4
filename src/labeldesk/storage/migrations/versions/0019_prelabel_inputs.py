"""Which inputs of a task the pre-label job has been through, per assistant model version
(pre-labelled, nothing suggested, or the backend failed): LABEL_START prefers inputs whose
pre-labels are ready, and a re-queued job skips them.

Revision ID: 0019
Revises: 0013
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0013"
branch_labels = None
depends_on = None

PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "prelabel_inputs",
        sa.Column("task_pk", PK, sa.ForeignKey("tasks.pk", ondelete="CASCADE"), primary_key=True),
        sa.Column("model_version_id", sa.String(128), primary_key=True),
        sa.Column("input_pk", PK, sa.ForeignKey("inputs.pk", ondelete="CASCADE"), primary_key=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("prelabel_inputs")

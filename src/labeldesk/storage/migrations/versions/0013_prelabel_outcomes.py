"""What labelers did with the assistant model's pre-labels (kept, changed, removed), per region:
GetTask's acceptance metrics per model.

Revision ID: 0013
Revises: 0011
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0011"
branch_labels = None
depends_on = None

PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "prelabel_outcomes",
        sa.Column("pk", PK, primary_key=True, autoincrement=True),
        sa.Column("task_pk", PK, sa.ForeignKey("tasks.pk", ondelete="CASCADE"), nullable=False),
        sa.Column("input_pk", PK, sa.ForeignKey("inputs.pk", ondelete="CASCADE"), nullable=False),
        sa.Column("worker_id", sa.String(128), nullable=False),
        sa.Column("model_id", sa.String(128), nullable=False),
        sa.Column("model_version_id", sa.String(128), nullable=False),
        sa.Column("region_id", sa.String(128), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint(
            "task_pk", "input_pk", "worker_id", "region_id", name="uq_prelabel_outcomes_region"
        ),
    )
    op.create_index(
        "ix_prelabel_outcomes_task_model", "prelabel_outcomes", ["task_pk", "model_version_id", "outcome"]
    )


def downgrade() -> None:
    op.drop_index("ix_prelabel_outcomes_task_model", "prelabel_outcomes")
    op.drop_table("prelabel_outcomes")

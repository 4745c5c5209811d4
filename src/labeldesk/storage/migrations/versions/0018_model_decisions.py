"""Which inputs of a task each model worker has decided (annotated, left to humans, or failed on),
so a model job finds the inputs that joined the task's source after it passed them.

Revision ID: 0018
Revises: 0015
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0015"
branch_labels = None
depends_on = None

PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "model_decisions",
        sa.Column("task_pk", PK, sa.ForeignKey("tasks.pk", ondelete="CASCADE"), primary_key=True),
        sa.Column("model_id", sa.String(128), primary_key=True),
        sa.Column("input_pk", PK, sa.ForeignKey("inputs.pk", ondelete="CASCADE"), primary_key=True),
    )


def downgrade() -> None:
    op.drop_table("model_decisions")

"""Annotations keep their data rendered as JSON next to the protobuf bytes; reviews are logged.

``ListAnnotations`` over REST splices ``data_json`` into the response instead of walking every
message of every annotation again. Rows written before this revision have no rendering
(``data_json_format`` NULL) and are rendered when read, exactly as before, until they are next
written.

The new table ``task_review_log`` records every reviewer action (REVIEW_APPROVE,
REVIEW_REQUEST_CHANGES, REVIEW_REJECT): task, input, reviewer, action and time. GetTask's review
metrics count from it the inputs each reviewer approved or rejected. Reviews made before this
revision were not recorded, so they count for nobody.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("annotations") as batch:
        batch.add_column(sa.Column("data_json", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("data_json_format", sa.SmallInteger(), nullable=True))
    op.create_table(
        "task_review_log",
        sa.Column("pk", PK, primary_key=True, autoincrement=True),
        sa.Column("task_pk", PK, sa.ForeignKey("tasks.pk", ondelete="CASCADE"), nullable=False),
        sa.Column("input_pk", PK, sa.ForeignKey("inputs.pk", ondelete="CASCADE"), nullable=False),
        sa.Column("reviewer_id", sa.String(128), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_task_review_log_task_reviewer",
        "task_review_log",
        ["task_pk", "reviewer_id", "input_pk", "action"],
    )


def downgrade() -> None:
    op.drop_index("ix_task_review_log_task_reviewer", table_name="task_review_log")
    op.drop_table("task_review_log")
    with op.batch_alter_table("annotations") as batch:
        batch.drop_column("data_json_format")
        batch.drop_column("data_json")

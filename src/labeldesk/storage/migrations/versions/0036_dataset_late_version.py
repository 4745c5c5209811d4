"""``datasets.late_version`` and ``tasks.source_rescan_version``: a dataset task's periodic rescan
looked at the whole dataset (an anti-join of its memberships with the task's seats: ~100 ms at
100,000 inputs, inside the write transaction of a LABEL_START) every ``source_rescan_seconds``,
though what it looks for -- inputs that joined below the plan's watermark -- only appears when an
input joins the dataset below its highest member. Such a join now counts in ``late_version``, the
rescan notes the count it started from, and skips the look while the count stays the same.

Revision ID: 0036
Revises: 0035
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0036"
down_revision = "0035"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("datasets") as batch:
        batch.add_column(sa.Column("late_version", sa.BigInteger(), nullable=False, server_default="0"))
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("source_rescan_version", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("source_rescan_version")
    with op.batch_alter_table("datasets") as batch:
        batch.drop_column("late_version")

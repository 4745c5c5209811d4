"""Seats of inputs that left their task's source: ``task_assignments.off_source`` marks the kept
(started or submitted) seats of an input that left the task's dataset or stopped matching its saved
search, so an expired DYNAMIC lease on it is not taken over and a rejection does not re-open it;
the source rescan clears the mark (and refills the seats) when the input comes back.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("task_assignments") as batch:
        batch.add_column(sa.Column("off_source", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("task_assignments") as batch:
        batch.drop_column("off_source")

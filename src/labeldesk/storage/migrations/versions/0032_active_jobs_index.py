"""``ix_jobs_active`` in place of ``ix_jobs_state_lease``: the jobs index holds only the jobs not
yet ended (queued, running, cancelling). Every job ever run stays in the table, and the job
worker looks for work twice a second in every process; once the planner's statistics saw a table
of finished jobs (``PRAGMA optimize``), the whole-table index looked useless for a state and
SQLite scanned the table on every poll (8 ms at 30,000 jobs). The partial index stays as small as
the work in flight; the queries name its condition to use it.

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None

_ACTIVE = "state IN ('queued', 'running', 'cancelling')"


def upgrade() -> None:
    op.drop_index("ix_jobs_state_lease", table_name="jobs")
    op.create_index(
        "ix_jobs_active",
        "jobs",
        ["state", "lease_until"],
        sqlite_where=sa.text(_ACTIVE),
        postgresql_where=sa.text(_ACTIVE),
    )


def downgrade() -> None:
    op.drop_index("ix_jobs_active", table_name="jobs")
    op.create_index("ix_jobs_state_lease", "jobs", ["state", "lease_until"])

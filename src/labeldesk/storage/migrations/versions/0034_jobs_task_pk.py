"""``jobs.task_pk``: the task a model worker's or an AI assistant's job works for, with the
partial index ``ix_jobs_task``. The queue of a task with model workers or pre-labels looks up the
task's jobs on every LABEL_START; it read every job of that kind in the app and picked the task's
out of their JSON payloads, a cost that grew with the app's tasks. Filled here from the payloads
of the jobs already there.

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0034"
down_revision = "0033"
branch_labels = None
depends_on = None

PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_OF_TASKS = "task_pk IS NOT NULL"


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("task_pk", PK, nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        task_pk = "CAST(payload::json ->> 'task_pk' AS BIGINT)"
        has_one = "(payload::json ->> 'task_pk') IS NOT NULL"
    else:
        task_pk = "CAST(json_extract(payload, '$.task_pk') AS INTEGER)"
        has_one = "json_extract(payload, '$.task_pk') IS NOT NULL"
    op.execute(f"UPDATE jobs SET task_pk = {task_pk} WHERE {has_one}")
    op.create_index(
        "ix_jobs_task",
        "jobs",
        ["task_pk", "kind"],
        sqlite_where=sa.text(_OF_TASKS),
        postgresql_where=sa.text(_OF_TASKS),
    )


def downgrade() -> None:
    op.drop_index("ix_jobs_task", table_name="jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("task_pk")

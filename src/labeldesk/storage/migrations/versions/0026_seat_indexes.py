"""The work queue's table keeps five indexes instead of seven, and PostgreSQL refreshes its
statistics sooner.

``ix_task_assignments_task_input`` (task, input) is the prefix of the unique constraint
``uq_task_assignments_task_input_worker`` (task, input, worker), and
``ix_task_assignments_task_worker_status`` (task, worker, status) the prefix of
``ix_task_assignments_queue`` (task, worker, status, input): every query the two served, the longer
ones serve. Each handed-out or submitted seat changes indexed columns, so PostgreSQL writes a new
entry into every index of the table per seat update; two fewer indexes is two fewer entries per
LABEL_START seat and per LABEL_SUBMIT. On PostgreSQL the redundant (task, input) index was also
the one the planner picked, with stale statistics, to look for a task's OPEN seats -- filtering
out every seat already handed out, so the seat claim cost more the further a task had come.

PostgreSQL: ``task_assignments`` and ``annotations`` are analyzed after 1 % of their rows (at
least 1,000) changed instead of 10 %. Until then the planner does not know a new task's seats (or
a new app's annotations) and expects one row for them, which makes every index that starts with
the task (or app) look as good as the one that fits, so a per-call look-up can walk everything the
task or app has; in a big table that lasted long (docs/postgres.md, "Query plans").

Revision ID: 0026
Revises: 0018
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0026"
down_revision = "0018"
branch_labels = None
depends_on = None

ANALYZED_SOONER = ("task_assignments", "annotations")


def upgrade() -> None:
    # IF EXISTS: databases made by early releases never had them
    op.execute("DROP INDEX IF EXISTS ix_task_assignments_task_input")
    op.execute("DROP INDEX IF EXISTS ix_task_assignments_task_worker_status")
    if op.get_bind().dialect.name == "postgresql":
        for table in ANALYZED_SOONER:
            op.execute(
                f"ALTER TABLE {table} SET "
                "(autovacuum_analyze_scale_factor = 0.01, autovacuum_analyze_threshold = 1000)"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in ANALYZED_SOONER:
            op.execute(
                f"ALTER TABLE {table} RESET (autovacuum_analyze_scale_factor, autovacuum_analyze_threshold)"
            )
    op.create_index(
        "ix_task_assignments_task_worker_status", "task_assignments", ["task_pk", "worker_id", "status"]
    )
    op.create_index("ix_task_assignments_task_input", "task_assignments", ["task_pk", "input_pk"])

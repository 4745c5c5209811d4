"""A submission's annotation update finds the worker's annotations of the input by index:
``ix_annotations_app_task_user`` (app, task, user) gains ``input_pk``. Before, each LABEL_SUBMIT's
``UPDATE annotations ... WHERE app_pk, task_id, input_pk, user_id`` walked every annotation the
worker had made in the task (SQLite and PostgreSQL both picked the three-column index), so a
submission cost more the more the labeler had done. The longer index serves every query the old one
did (same leading columns).

Revision ID: 0015
Revises: 0019
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0015"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_annotations_app_task_user", table_name="annotations")
    op.create_index(
        "ix_annotations_app_task_user", "annotations", ["app_pk", "task_id", "user_id", "input_pk"]
    )


def downgrade() -> None:
    op.drop_index("ix_annotations_app_task_user", table_name="annotations")
    op.create_index("ix_annotations_app_task_user", "annotations", ["app_pk", "task_id", "user_id"])

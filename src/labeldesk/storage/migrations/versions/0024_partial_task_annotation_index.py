"""``ix_annotations_app_task_user`` holds only the annotations made in a task (``task_id`` not
NULL). Every query it serves names a task (``task_id = ...``, which implies NOT NULL, so both
SQLite and PostgreSQL still use it), while most annotations have no task: those written by
PostAnnotations without one, and the input-level annotation of every input. Their entries all
sat under (app, NULL, user) ordered by input, so each batch of 128 inserted them at scattered
places of the index: about a quarter of the database's cost of a PostAnnotations or PostInputs
batch (docs/performance.md, "Batched writes").

Revision ID: 0024
Revises: 0026
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0026"
branch_labels = None
depends_on = None

_COLUMNS = ["app_pk", "task_id", "user_id", "input_pk"]


def upgrade() -> None:
    op.drop_index("ix_annotations_app_task_user", table_name="annotations")
    in_a_task = sa.text("task_id IS NOT NULL")
    op.create_index(
        "ix_annotations_app_task_user",
        "annotations",
        _COLUMNS,
        sqlite_where=in_a_task,
        postgresql_where=in_a_task,
    )


def downgrade() -> None:
    op.drop_index("ix_annotations_app_task_user", table_name="annotations")
    op.create_index("ix_annotations_app_task_user", "annotations", _COLUMNS)

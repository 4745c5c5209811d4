"""Input add jobs (what PostInputs answers and Clarifai clients poll) and concept relations.

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0004"
branch_labels = None
depends_on = None

PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _app_fk() -> sa.Column[int]:
    return sa.Column("app_pk", PK, sa.ForeignKey("apps.pk", ondelete="CASCADE"), nullable=False)


def upgrade() -> None:
    # only what is missing: a database stamped back to an earlier revision may have them already
    have = set(sa.inspect(op.get_bind()).get_table_names())
    if "inputs_add_jobs" not in have:
        _create_jobs()
    if "concept_relations" not in have:
        _create_relations()


def _create_jobs() -> None:
    op.create_table(
        "inputs_add_jobs",
        sa.Column("pk", PK, primary_key=True, autoincrement=True),
        _app_fk(),
        sa.Column("id", sa.String(128), nullable=False),
        sa.Column("success_count", sa.Integer(), nullable=False),
        sa.Column("failed_count", sa.Integer(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("app_pk", "id", name="uq_inputs_add_jobs_app_pk_id"),
    )


def _create_relations() -> None:
    op.create_table(
        "concept_relations",
        _app_fk(),
        sa.Column("id", sa.String(128), nullable=False),
        sa.Column("subject_id", sa.String(128), nullable=False),
        sa.Column("object_id", sa.String(128), nullable=False),
        sa.Column("predicate", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("app_pk", "id", name="uq_concept_relations_app_pk_id"),
        sa.Index("ix_concept_relations_app_pk", "app_pk", "subject_id"),
    )


def downgrade() -> None:
    op.drop_table("concept_relations")
    op.drop_table("inputs_add_jobs")

"""Background jobs (generic: kind, payload, state, progress, attempts, lease) and dataset
versions (frozen snapshots with their export archives).

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0005"
branch_labels = None
depends_on = None

PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
ID = sa.String(128)


def _ts(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("pk", PK, primary_key=True, autoincrement=True),
        sa.Column("id", ID, nullable=False),
        sa.Column("app_pk", PK, sa.ForeignKey("apps.pk", ondelete="CASCADE"), nullable=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("progress", sa.JSON(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        _ts("created_at"),
        _ts("modified_at"),
        sa.UniqueConstraint("id", name="uq_jobs_id"),
    )
    op.create_index("ix_jobs_state_lease", "jobs", ["state", "lease_until"])
    op.create_index("ix_jobs_app_kind", "jobs", ["app_pk", "kind"])
    op.create_table(
        "dataset_versions",
        sa.Column("pk", PK, primary_key=True, autoincrement=True),
        sa.Column("app_pk", PK, sa.ForeignKey("apps.pk", ondelete="CASCADE"), nullable=False),
        sa.Column("dataset_pk", PK, sa.ForeignKey("datasets.pk", ondelete="CASCADE"), nullable=False),
        sa.Column("id", ID, nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=True),
        sa.Column("filter", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("exports", sa.JSON(), nullable=False),
        _ts("created_at"),
        _ts("modified_at"),
        sa.UniqueConstraint("app_pk", "id", name="uq_dataset_versions_app_pk_id"),
    )
    op.create_index("ix_dataset_versions_dataset", "dataset_versions", ["dataset_pk", "pk"])
    op.create_table(
        "dataset_version_inputs",
        sa.Column(
            "version_pk", PK, sa.ForeignKey("dataset_versions.pk", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("position", sa.Integer(), primary_key=True),
        sa.Column("input_pk", PK, nullable=False),
        sa.Column("input", sa.LargeBinary(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("dataset_version_inputs")
    op.drop_table("dataset_versions")
    op.drop_table("jobs")

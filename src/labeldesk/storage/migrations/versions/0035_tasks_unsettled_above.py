"""``tasks.unsettled_above``: on PostgreSQL, the plan watermark below the inputs a planner passed
while writes of inputs were in flight. Two PostInputs in flight at once commit in either order, so
the planner, walking the source in pk order, can pass an input whose pk is lower than one it saw
and that commits later; such an input never got seats. The range above this mark is looked at
again, once no write of inputs that began before is still in flight. NULL: nothing to look at.

Revision ID: 0035
Revises: 0034
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0035"
down_revision = "0034"
branch_labels = None
depends_on = None

PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("unsettled_above", PK, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("unsettled_above")

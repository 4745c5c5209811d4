"""``sweep_turns``: one row per periodic sweep of the server, the moment it may run next. Every
process of every replica ran each sweep every minute; the blob-store sweeps list the store's keys
(an object store's LIST requests, once per replica and process), so now the process that moves a
sweep's ``due_at`` forward runs it and the others skip that round.

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0033"
down_revision = "0032"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sweep_turns",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("sweep_turns")

"""Annotations keep their data rendered as JSON next to the protobuf bytes.

``ListAnnotations`` over REST splices ``data_json`` into the response instead of walking every
message of every annotation again. Rows written before this revision have no rendering
(``data_json_format`` NULL) and are rendered when read, exactly as before, until they are next
written.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("annotations") as batch:
        batch.add_column(sa.Column("data_json", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("data_json_format", sa.SmallInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("annotations") as batch:
        batch.drop_column("data_json_format")
        batch.drop_column("data_json")

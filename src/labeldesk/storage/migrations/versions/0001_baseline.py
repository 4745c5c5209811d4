"""Baseline: the schema of the first release.

Fresh databases are created from ``labeldesk.storage.tables`` and stamped at the newest revision,
so this revision has nothing to do; later revisions upgrade databases created by earlier releases.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass

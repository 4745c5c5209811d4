"""Readiness: the database answers and its schema is at the revision this code expects."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text

from labeldesk.storage.engine import Database
from labeldesk.storage.migrate import head_revision


@dataclass(frozen=True)
class Readiness:
    ready: bool
    detail: str


def check(db: Database, expected_revision: str | None = None) -> Readiness:
    """Never raises: an unreachable or unmigrated database is a "not ready" answer."""
    try:
        with db.engine.connect() as conn:
            current = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    except Exception as e:
        return Readiness(False, f"database unreachable or not initialised: {type(e).__name__}")
    head = expected_revision or head_revision(db)
    if head not in current:
        return Readiness(False, f"schema at {', '.join(current) or 'no revision'}, expected {head}")
    return Readiness(True, f"database reachable, schema at {head}")

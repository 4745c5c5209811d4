"""Input add jobs: one row per ``inputs_add_job_id`` (PostInputs records the outcome)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, insert, select, update

from labeldesk.storage import tables as t
from labeldesk.storage.clock import utcnow

J = t.inputs_add_jobs.c


def get(conn: Connection, app_pk: int, job_id: str) -> Row[Any] | None:
    return conn.execute(select(t.inputs_add_jobs).where(J.app_pk == app_pk, J.id == job_id)).first()


def record(
    conn: Connection, app_pk: int, job_id: str, added: int, failed: int, status: int, new: bool = False
) -> Row[Any]:
    """Create the job, or add this batch's counts to it (a client may reuse a job id); answers
    its row. ``new``: the id was just generated, no row can have it (one statement instead of
    a look-up, an update and a read-back)."""
    ts = utcnow()
    if not new:
        changed = conn.execute(
            update(t.inputs_add_jobs)
            .where(J.app_pk == app_pk, J.id == job_id)
            .values(
                success_count=J.success_count + added, failed_count=J.failed_count + failed, modified_at=ts
            )
            .returning(*t.inputs_add_jobs.c)
        ).first()
        if changed is not None:
            return changed
    return conn.execute(
        insert(t.inputs_add_jobs)
        .values(
            app_pk=app_pk,
            id=job_id,
            success_count=added,
            failed_count=failed,
            status=status,
            created_at=ts,
            modified_at=ts,
        )
        .returning(*t.inputs_add_jobs.c)
    ).one()


def page(conn: Connection, app_pk: int, offset: int, limit: int) -> list[Row[Any]]:
    q = select(t.inputs_add_jobs).where(J.app_pk == app_pk).order_by(J.pk.desc()).offset(offset).limit(limit)
    return list(conn.execute(q))

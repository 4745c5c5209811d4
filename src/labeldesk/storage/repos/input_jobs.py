"""Input add jobs: one row per ``inputs_add_job_id`` (PostInputs records the outcome)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, insert, select, update

from labeldesk.storage import tables as t
from labeldesk.storage.clock import utcnow

J = t.inputs_add_jobs.c


def get(conn: Connection, app_pk: int, job_id: str) -> Row[Any] | None:
    return conn.execute(select(t.inputs_add_jobs).where(J.app_pk == app_pk, J.id == job_id)).first()


def record(conn: Connection, app_pk: int, job_id: str, added: int, failed: int, status: int) -> Row[Any]:
    """Create the job, or add this batch's counts to it (a client may reuse a job id)."""
    ts = utcnow()
    if get(conn, app_pk, job_id) is None:
        conn.execute(
            insert(t.inputs_add_jobs).values(
                app_pk=app_pk,
                id=job_id,
                success_count=added,
                failed_count=failed,
                status=status,
                created_at=ts,
                modified_at=ts,
            )
        )
    else:
        conn.execute(
            update(t.inputs_add_jobs)
            .where(J.app_pk == app_pk, J.id == job_id)
            .values(
                success_count=J.success_count + added, failed_count=J.failed_count + failed, modified_at=ts
            )
        )
    row = get(conn, app_pk, job_id)
    assert row is not None
    return row


def page(conn: Connection, app_pk: int, offset: int, limit: int) -> list[Row[Any]]:
    q = select(t.inputs_add_jobs).where(J.app_pk == app_pk).order_by(J.pk.desc()).offset(offset).limit(limit)
    return list(conn.execute(q))

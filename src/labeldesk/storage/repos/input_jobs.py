"""Input add jobs: one row per ``inputs_add_job_id`` (PostInputs records the outcome)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, Integer, Row, bindparam, insert, select, update

from labeldesk.storage import raw
from labeldesk.storage import tables as t
from labeldesk.storage.clock import utcnow

J = t.inputs_add_jobs.c


def get(conn: Connection, app_pk: int, job_id: str) -> Row[Any] | None:
    return conn.execute(select(t.inputs_add_jobs).where(J.app_pk == app_pk, J.id == job_id)).first()


class NewJob(NamedTuple):
    """A job just created: what its row holds (read like the row)."""

    id: str
    success_count: int
    failed_count: int
    status: int
    created_at: datetime
    modified_at: datetime


def record(
    conn: Connection, app_pk: int, job_id: str, added: int, failed: int, status: int, new: bool = False
) -> Row[Any] | NewJob:
    """Create the job, or add this batch's counts to it (a client may reuse a job id); answers
    its row. ``new``: the id was just generated, no row can have it (one plain insert on the
    driver, nothing read back: every PostInputs without a job id records one)."""
    ts = utcnow()
    if new:
        sqlite = raw.is_sqlite(conn)
        stored = raw.bind_time(sqlite, ts)
        _INSERT.run(conn, (app_pk, job_id, added, failed, status, stored, stored))
        return NewJob(job_id, added, failed, status, ts, ts)
    changed = conn.execute(
        _ADD_COUNTS, {"b_app_pk": app_pk, "b_id": job_id, "added": added, "failed": failed, "ts": ts}
    ).first()
    if changed is not None:
        return changed
    values = {"app_pk": app_pk, "id": job_id, "added": added, "failed": failed, "status": status, "ts": ts}
    return conn.execute(_CREATE, values).one()


# built once (every PostInputs records its job; building them cost more than running them)
_ADD_COUNTS = (
    update(t.inputs_add_jobs)
    .where(J.app_pk == bindparam("b_app_pk"), J.id == bindparam("b_id"))
    .values(
        success_count=J.success_count + bindparam("added", type_=Integer),
        failed_count=J.failed_count + bindparam("failed", type_=Integer),
        modified_at=bindparam("ts"),
    )
    .returning(*t.inputs_add_jobs.c)
)
_CREATE = (
    insert(t.inputs_add_jobs)
    .values(
        app_pk=bindparam("app_pk"),
        id=bindparam("id"),
        success_count=bindparam("added"),
        failed_count=bindparam("failed"),
        status=bindparam("status"),
        created_at=bindparam("ts"),
        modified_at=bindparam("ts"),
    )
    .returning(*t.inputs_add_jobs.c)
)


def page(conn: Connection, app_pk: int, offset: int, limit: int) -> list[Row[Any]]:
    q = select(t.inputs_add_jobs).where(J.app_pk == app_pk).order_by(J.pk.desc()).offset(offset).limit(limit)
    return list(conn.execute(q))


_INSERT = raw.Sql(
    "INSERT INTO inputs_add_jobs (app_pk, id, success_count, failed_count, status, created_at, modified_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)

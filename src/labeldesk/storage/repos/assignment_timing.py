"""When each assignment (seat) was started and submitted: ``task_assignments.started_at`` is set
by the first LABEL_START that hands the seat out, ``submitted_at`` by every LABEL_SUBMIT (both
written by the queue's own statements in :mod:`labeldesk.storage.repos.assignments`, so that a
LABEL_START or a submission stays one UPDATE per seat set); this module reads them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, select

from labeldesk.storage import tables as t

TA = t.task_assignments
Q = TA.c


def submitted(conn: Connection, task_pk: int) -> list[Row[Any]]:
    """The task's submitted seats: ``worker_id``, ``started_at``, ``submitted_at``."""
    q = (
        select(Q.worker_id, Q.started_at, Q.submitted_at)
        .where(Q.task_pk == task_pk, Q.submitted_at.is_not(None))
        .order_by(Q.submitted_at)
    )
    return list(conn.execute(q))

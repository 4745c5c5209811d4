"""When each assignment (seat) was started and submitted: ``task_assignments.started_at`` is set
by the first LABEL_START that hands the seat out, ``submitted_at`` by every LABEL_SUBMIT."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, select, update

from labeldesk.storage import tables as t

TA = t.task_assignments
Q = TA.c
_CHUNK = 500  # stay under SQLite's bound-parameter limit


def mark_started(conn: Connection, pks: Collection[int], now: datetime) -> None:
    """Stamp the seats handed out now that were never started before."""
    ordered = sorted(pks)
    for i in range(0, len(ordered), _CHUNK):
        chunk = ordered[i : i + _CHUNK]
        conn.execute(update(TA).where(Q.pk.in_(chunk), Q.started_at.is_(None)).values(started_at=now))


def mark_submitted(conn: Connection, pk: int, now: datetime) -> None:
    conn.execute(update(TA).where(Q.pk == pk).values(submitted_at=now))


def submitted(conn: Connection, task_pk: int) -> list[Row[Any]]:
    """The task's submitted seats: ``worker_id``, ``started_at``, ``submitted_at``."""
    q = (
        select(Q.worker_id, Q.started_at, Q.submitted_at)
        .where(Q.task_pk == task_pk, Q.submitted_at.is_not(None))
        .order_by(Q.submitted_at)
    )
    return list(conn.execute(q))

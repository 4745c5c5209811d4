"""Rows of the ``jobs`` table. Claiming is the only subtle part: a job is free when queued, or
running with its lease run out (the worker that held it died); :func:`claim` takes the oldest free
one with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (two replicas never take the same job) and under
SQLite's write lock (``Database.write`` starts with ``BEGIN IMMEDIATE``)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, and_, insert, or_, select, text, update

from labeldesk.storage import tables as t
from labeldesk.storage.clock import utcnow

C = t.jobs.c
QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
#: a running job asked to stop: its worker's next report fails and it ends CANCELLED
CANCELLING, CANCELLED = "cancelling", "cancelled"
#: the states of a job not yet ended, the ones ``ix_jobs_active`` holds
ACTIVE = t.JOB_ACTIVE_STATES
#: the term that lets a query use ``ix_jobs_active`` (the index holds only these states' jobs)
_ACTIVE = text(t.JOBS_ACTIVE)


def insert_job(conn: Connection, job_id: str, kind: str, payload: dict[str, Any], app_pk: int | None) -> None:
    ts = utcnow()
    conn.execute(
        insert(t.jobs).values(
            id=job_id,
            app_pk=app_pk,
            task_pk=payload.get("task_pk"),
            kind=kind,
            payload=payload,
            state=QUEUED,
            progress={},
            error="",
            attempts=0,
            created_at=ts,
            modified_at=ts,
        )
    )


def get(conn: Connection, job_id: str) -> Row[Any] | None:
    return conn.execute(select(t.jobs).where(C.id == job_id)).first()


def _orphaned(now: datetime) -> Any:
    """A job cancelled while running whose worker died before it stopped: nothing will end it else."""
    return and_(C.state == CANCELLING, C.lease_until < now)


def _free(now: datetime) -> Any:
    """Queued, or running with its lease run out (its worker died)."""
    return or_(C.state == QUEUED, and_(C.state == RUNNING, C.lease_until < now))


def claimable(conn: Connection, kinds: list[str], now: datetime | None = None) -> bool:
    """Whether :func:`claim` would find anything to do (a free job of ``kinds``, an orphaned
    cancellation), through ``ix_jobs_active``. The worker asks it in a read transaction before it
    claims, so that an idle poll never takes a writer's turn (SQLite's write lock, a PostgreSQL
    write per replica twice a second)."""
    now = now or utcnow()
    wanted = or_(_orphaned(now), and_(_free(now), C.kind.in_(kinds)))
    return conn.execute(select(C.pk).where(_ACTIVE, wanted).limit(1)).first() is not None


def claim(
    conn: Connection, kinds: list[str], lease: timedelta, now: datetime | None = None
) -> Row[Any] | None:
    """Take the oldest free job of ``kinds``: mark it running, leased until now + ``lease``."""
    now = now or utcnow()
    ended = {"state": CANCELLED, "lease_until": None, "modified_at": now}
    conn.execute(update(t.jobs).where(_ACTIVE, _orphaned(now)).values(**ended))
    q = select(C.pk).where(_ACTIVE, _free(now), C.kind.in_(kinds)).order_by(C.pk).limit(1)
    if conn.dialect.name == "postgresql":
        q = q.with_for_update(skip_locked=True)
    pk = conn.execute(q).scalar()
    if pk is None:
        return None
    conn.execute(
        update(t.jobs)
        .where(C.pk == pk)
        .values(state=RUNNING, lease_until=now + lease, attempts=C.attempts + 1, modified_at=now)
    )
    return conn.execute(select(t.jobs).where(C.pk == pk)).one()


def heartbeat(conn: Connection, pk: int, progress: dict[str, Any], lease: timedelta) -> bool:
    """Record progress and extend the lease; False when the job is no longer this worker's."""
    now = utcnow()
    res = conn.execute(
        update(t.jobs)
        .where(C.pk == pk, C.state == RUNNING)
        .values(progress=progress, lease_until=now + lease, modified_at=now)
    )
    return bool(res.rowcount)


def finish(
    conn: Connection, pk: int, state: str, progress: dict[str, Any], result: Any = None, error: str = ""
) -> None:
    conn.execute(
        update(t.jobs)
        .where(C.pk == pk)
        .values(
            state=state, progress=progress, result=result, error=error, lease_until=None, modified_at=utcnow()
        )
    )


def requeue(conn: Connection, pk: int, error: str) -> None:
    conn.execute(
        update(t.jobs)
        .where(C.pk == pk)
        .values(state=QUEUED, error=error, lease_until=None, modified_at=utcnow())
    )


def reopen(conn: Connection, pk: int, progress: dict[str, Any] | None = None) -> bool:
    """Queue a finished (DONE) job again with fresh attempts, its progress kept (or replaced by
    ``progress``): its handler goes on from there. False when the job is not DONE (another
    transaction reopened it first -- on PostgreSQL the second waits for the first's row and then
    finds it queued --, or it failed or was cancelled)."""
    again = {"state": QUEUED, "result": None, "error": "", "attempts": 0, "lease_until": None}
    kept = {} if progress is None else {"progress": progress}
    res = conn.execute(
        update(t.jobs).where(C.pk == pk, C.state == DONE).values(**again, **kept, modified_at=utcnow())
    )
    return bool(res.rowcount)


def note_result(conn: Connection, pk: int, modified_at: datetime, notes: dict[str, Any]) -> bool:
    """Add ``notes`` to the result of a DONE job that has not changed since ``modified_at`` (not
    reopened, not run again), leaving ``modified_at`` as it is: bookkeeping about the run, not a
    new state of the job. False when the job changed meanwhile."""
    row = conn.execute(
        select(C.result).where(C.pk == pk, C.state == DONE, C.modified_at == modified_at)
    ).first()
    if row is None:
        return False
    res = conn.execute(
        update(t.jobs)
        .where(C.pk == pk, C.state == DONE, C.modified_at == modified_at)
        .values(result={**(row.result or {}), **notes})
    )
    return bool(res.rowcount)


def cancel(conn: Connection, pk: int) -> str:
    """Ask the job to stop: a queued one is cancelled at once, a running one is marked
    CANCELLING (its worker's next :func:`heartbeat` fails, and it stops); answers the new state,
    or "" when the job had already ended."""
    now = utcnow()
    for before, after in ((QUEUED, CANCELLED), (RUNNING, CANCELLING)):
        res = conn.execute(
            update(t.jobs).where(C.pk == pk, C.state == before).values(state=after, modified_at=now)
        )
        if res.rowcount:
            return after
    return ""


def stop_cancelled(conn: Connection, pk: int, progress: dict[str, Any]) -> bool:
    """End a CANCELLING job as CANCELLED with the progress its worker reached; False when the job
    was not being cancelled (another worker took it over)."""
    res = conn.execute(
        update(t.jobs)
        .where(C.pk == pk, C.state == CANCELLING)
        .values(state=CANCELLED, progress=progress, lease_until=None, modified_at=utcnow())
    )
    return bool(res.rowcount)

"""Rows of ``uploads`` and ``upload_parts`` (the bytes are blobs; see services/uploads.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, case, delete, insert, or_, select, update

from labeldesk.storage import tables as t
from labeldesk.storage.clock import utcnow
from labeldesk.storage.repos import jobs

U = t.uploads.c
P = t.upload_parts.c
IN_PROGRESS, DONE, EXPIRED = "in_progress", "done", "expired"
LIVE = (IN_PROGRESS, DONE)  # every state but EXPIRED


def insert_upload(
    conn: Connection, app_pk: int, upload_id: str, name: str, length: int, expires_at: datetime
) -> Row[Any]:
    ts = utcnow()
    values = {
        "app_pk": app_pk,
        "id": upload_id,
        "content_name": name,
        "content_length": length,
        "received": 0,
        "state": IN_PROGRESS,
        "created_at": ts,
        "modified_at": ts,
        "expires_at": expires_at,
    }
    return conn.execute(insert(t.uploads).values(values).returning(*t.uploads.c)).one()


def get(conn: Connection, app_pk: int, upload_id: str, lock: bool = False) -> Row[Any] | None:
    """The app's upload ``upload_id``; with ``lock``, its row is locked until the transaction ends
    on PostgreSQL (two calls storing parts of one upload take turns, so overlaps are always seen;
    SQLite's writers take turns anyway)."""
    q = select(t.uploads).where(U.app_pk == app_pk, U.id == upload_id)
    if lock and conn.dialect.name == "postgresql":
        q = q.with_for_update()
    return conn.execute(q).first()


def by_pk(conn: Connection, pk: int) -> Row[Any] | None:
    return conn.execute(select(t.uploads).where(U.pk == pk)).first()


def page(conn: Connection, app_pk: int, offset: int, limit: int) -> list[Row[Any]]:
    q = select(t.uploads).where(U.app_pk == app_pk).order_by(U.pk.desc()).offset(offset).limit(limit)
    return list(conn.execute(q))


def overlapping(conn: Connection, upload_pk: int, start: int, end: int) -> list[Row[Any]]:
    """The stored parts that share a byte with ``start``..``end - 1``."""
    q = select(t.upload_parts).where(
        P.upload_pk == upload_pk, P.range_start < end, P.range_start + P.length > start
    )
    return list(conn.execute(q))


def parts(conn: Connection, upload_pk: int) -> list[Row[Any]]:
    """Every stored part, in byte order."""
    q = select(t.upload_parts).where(P.upload_pk == upload_pk).order_by(P.range_start)
    return list(conn.execute(q))


def add_part(
    conn: Connection, upload: Row[Any], start: int, length: int, number: int, sha256: str, key: str
) -> Row[Any]:
    """Record a stored part and count its bytes; answers the upload as it is now."""
    conn.execute(
        insert(t.upload_parts).values(
            upload_pk=upload.pk,
            range_start=start,
            length=length,
            part_number=number,
            sha256=sha256,
            blob_key=key,
        )
    )
    received = U.received + length
    state = case((received == U.content_length, DONE), else_=IN_PROGRESS)
    q = (
        update(t.uploads)
        .where(U.pk == upload.pk)
        .values(received=received, state=state, modified_at=utcnow())
        .returning(*t.uploads.c)
    )
    return conn.execute(q).one()


def use(conn: Connection, pk: int, job_id: str, expires_at: datetime) -> None:
    """An import job reads the upload: keep it at least until ``expires_at``."""
    now = utcnow()
    conn.execute(
        update(t.uploads).where(U.pk == pk).values(job_id=job_id, modified_at=now, expires_at=expires_at)
    )


def busy_job(conn: Connection, upload: Row[Any]) -> str:
    """The id of the queued or running import job that reads ``upload`` ("" when none)."""
    if not upload.job_id:
        return ""
    row = jobs.get(conn, upload.job_id)
    return row.id if row is not None and row.state in jobs.ACTIVE else ""


def due(conn: Connection, now: datetime, limit: int) -> list[Row[Any]]:
    """Uploads past their expiry that no queued or running job reads."""
    J = t.jobs.c
    idle = or_(U.job_id.is_(None), ~select(J.pk).where(J.id == U.job_id, J.state.in_(jobs.ACTIVE)).exists())
    # the states named, not "!= expired": ix_uploads_state_expires_at then reads only the uploads
    # past their time, not every upload ever made (expired ones stay, as UPLOAD_EXPIRED)
    live = U.state.in_(LIVE)
    q = select(t.uploads).where(live, U.expires_at < now, idle).limit(limit)
    return list(conn.execute(q))


def expire(conn: Connection, pk: int) -> None:
    conn.execute(delete(t.upload_parts).where(P.upload_pk == pk))
    conn.execute(update(t.uploads).where(U.pk == pk).values(state=EXPIRED, modified_at=utcnow()))


def delete_uploads(conn: Connection, pks: list[int]) -> None:
    """The uploads' rows; their parts' rows go with them (ON DELETE CASCADE)."""
    conn.execute(delete(t.uploads).where(U.pk.in_(pks)))


def live_pks(conn: Connection, app_pk: int, pks: set[int]) -> set[int]:
    """Which of ``pks`` are unexpired uploads of the app (none, for an app that is gone): the
    uploads whose parts' bytes must stay."""
    if not pks:
        return set()
    q = select(U.pk).where(U.app_pk == app_pk, U.pk.in_(sorted(pks)), U.state != EXPIRED)
    return set(conn.execute(q).scalars())

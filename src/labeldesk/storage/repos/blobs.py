"""Rows of the ``blobs`` table: what each hosted file is and which input owns it."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import Connection, Row, delete, insert, select

from labeldesk.storage import tables as t
from labeldesk.storage.clock import utcnow

C = t.blobs.c


def insert_many(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        ts = utcnow()
        conn.execute(insert(t.blobs), [{**r, "created_at": ts} for r in rows])


def live(conn: Connection, app_pk: int, key: str) -> Row[Any] | None:
    """The blob ``key`` of the app while its input exists (else None)."""
    q = select(t.blobs).where(C.app_pk == app_pk, C.key == key, C.input_pk.is_not(None))
    return conn.execute(q).first()


def orphans(conn: Connection, limit: int = 500) -> list[Row[Any]]:
    """Blobs whose input (or app) is gone, oldest first."""
    q = select(C.pk, C.app_pk, C.key, C.sizes).where(C.input_pk.is_(None)).order_by(C.pk).limit(limit)
    return list(conn.execute(q))


def delete_pks(conn: Connection, pks: Collection[int]) -> None:
    if pks:
        conn.execute(delete(t.blobs).where(C.pk.in_(list(pks))))

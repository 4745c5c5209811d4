"""Concept relations of an app (subject --predicate--> object)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import Connection, Row, delete, insert, or_, select

from labeldesk.storage import tables as t
from labeldesk.storage.clock import utcnow

R = t.concept_relations.c


def insert_many(conn: Connection, app_pk: int, rows: list[dict[str, Any]]) -> None:
    ts = utcnow()
    conn.execute(insert(t.concept_relations), [{**r, "app_pk": app_pk, "created_at": ts} for r in rows])


def involving(conn: Connection, app_pk: int, concept_id: str, offset: int, limit: int) -> list[Row[Any]]:
    """Relations where the concept is subject or object (all of the app's when ``concept_id`` is
    empty), oldest first."""
    q = select(t.concept_relations).where(R.app_pk == app_pk)
    if concept_id:
        q = q.where(or_(R.subject_id == concept_id, R.object_id == concept_id))
    return list(conn.execute(q.order_by(R.created_at, R.id).offset(offset).limit(limit)))


def by_ids(conn: Connection, app_pk: int, ids: list[str]) -> list[Row[Any]]:
    """The relations, in the order of ``ids``."""
    found = {
        r.id: r for r in conn.execute(select(t.concept_relations).where(R.app_pk == app_pk, R.id.in_(ids)))
    }
    return [found[i] for i in ids if i in found]


def existing(conn: Connection, app_pk: int, ids: Collection[str]) -> set[str]:
    return set(conn.execute(select(R.id).where(R.app_pk == app_pk, R.id.in_(list(ids)))).scalars())


def delete_ids(conn: Connection, app_pk: int, ids: Collection[str]) -> None:
    conn.execute(delete(t.concept_relations).where(R.app_pk == app_pk, R.id.in_(list(ids))))

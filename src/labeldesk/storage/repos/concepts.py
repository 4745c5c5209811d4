"""Concept rows of an app."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import Connection, Row, bindparam, insert, select, update

from labeldesk.storage import tables as t
from labeldesk.storage.clock import utcnow
from labeldesk.storage.repos.multirow import insert_ignoring_duplicates

C = t.concepts.c


def get_many(conn: Connection, app_pk: int, ids: Collection[str]) -> dict[str, Row[Any]]:
    if not ids:
        return {}
    return {r.id: r for r in conn.execute(_BY_IDS, {"app_pk": app_pk, "ids": list(ids)})}


# built once: every PostAnnotations and PostInputs looks its concepts up (see docs/performance.md)
_BY_IDS = select(t.concepts).where(
    C.app_pk == bindparam("app_pk"), C.id.in_(bindparam("ids", expanding=True))
)


def missing(conn: Connection, app_pk: int, ids: Collection[str]) -> list[str]:
    """Ids among ``ids`` that are not concepts of the app, in the order given."""
    found = set(get_many(conn, app_pk, ids))
    return [i for i in ids if i not in found]


def insert_many(conn: Connection, app_pk: int, rows: list[dict[str, Any]]) -> None:
    ts = utcnow()
    conn.execute(
        insert(t.concepts), [{**r, "app_pk": app_pk, "created_at": ts, "modified_at": ts} for r in rows]
    )


def insert_missing(conn: Connection, app_pk: int, rows: list[dict[str, Any]]) -> None:
    """Insert the concepts not there yet (ON CONFLICT DO NOTHING: concurrent batches naming the
    same new concept both succeed, on either database)."""
    if not rows:
        return
    ts = utcnow()
    values = [{**r, "app_pk": app_pk, "created_at": ts, "modified_at": ts} for r in rows]
    insert_ignoring_duplicates(conn, t.concepts, values)


def update_one(conn: Connection, app_pk: int, concept_id: str, **values: Any) -> None:
    conn.execute(
        update(t.concepts)
        .where(C.app_pk == app_pk, C.id == concept_id)
        .values(modified_at=utcnow(), **values)
    )


# built once: ListConcepts runs it on every call (docs/performance.md, "Per-call overhead")
_PAGE = (
    select(t.concepts)
    .where(C.app_pk == bindparam("app_pk"))
    .order_by(C.created_at, C.id)
    .offset(bindparam("offset"))
    .limit(bindparam("limit"))
)


def page(conn: Connection, app_pk: int, offset: int, limit: int, id_prefix: str = "") -> list[Row[Any]]:
    if not id_prefix:
        return list(conn.execute(_PAGE, {"app_pk": app_pk, "offset": offset, "limit": limit}))
    q = select(t.concepts).where(C.app_pk == app_pk, C.id.startswith(id_prefix, autoescape=True))
    return list(conn.execute(q.order_by(C.created_at, C.id).offset(offset).limit(limit)))


def ids_by_name(conn: Connection, app_pk: int, names: Collection[str]) -> dict[str, set[str]]:
    """Name → ids of the app's concepts with that name."""
    out: dict[str, set[str]] = {n: set() for n in names}
    for r in conn.execute(select(C.id, C.name).where(C.app_pk == app_pk, C.name.in_(list(names)))):
        out[r.name].add(r.id)
    return out

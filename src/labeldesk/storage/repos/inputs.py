"""Input rows of an app (and their dataset memberships)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import Connection, Integer, Row, Select, bindparam, delete, func, insert, select, update

from labeldesk.storage import tables as t
from labeldesk.storage.clock import utcnow

C = t.inputs.c


def by_ids(conn: Connection, app_pk: int, ids: Collection[str]) -> dict[str, Row[Any]]:
    if not ids:
        return {}
    out: dict[str, Row[Any]] = {}
    id_list = list(ids)
    for i in range(0, len(id_list), 500):  # stay under SQLite's bound-parameter limit
        q = select(t.inputs).where(C.app_pk == app_pk, C.id.in_(id_list[i : i + 500]))
        out.update({r.id: r for r in conn.execute(q)})
    return out


def by_pks(conn: Connection, pks: Collection[int]) -> dict[int, Row[Any]]:
    out: dict[int, Row[Any]] = {}
    pk_list = list(pks)
    for i in range(0, len(pk_list), 500):
        out.update({r.pk: r for r in conn.execute(_BY_PKS, {"pks": pk_list[i : i + 500]})})
    return out


# built once, as the other statements of the work queue's path (see docs/performance.md)
_PKS = bindparam("pks", expanding=True, type_=Integer)
_BY_PKS = select(t.inputs).where(C.pk.in_(_PKS))
_DATASET_IDS = (
    select(t.dataset_inputs.c.input_pk, t.datasets.c.id)
    .select_from(t.dataset_inputs.join(t.datasets, t.datasets.c.pk == t.dataset_inputs.c.dataset_pk))
    .where(t.dataset_inputs.c.input_pk.in_(_PKS))
    .order_by(t.datasets.c.pk)
)


def insert_many(conn: Connection, app_pk: int, rows: Sequence[dict[str, Any]]) -> dict[str, Row[Any]]:
    """Insert inputs; answer the stored rows by id. One multi-row ``INSERT ... RETURNING`` (SQLAlchemy's
    insertmanyvalues) instead of a row-by-row executemany and a query reading them back."""
    ts = utcnow()
    stmt = insert(t.inputs).returning(*t.inputs.c, sort_by_parameter_order=True)
    values = [{**r, "app_pk": app_pk, "created_at": ts, "modified_at": ts} for r in rows]
    return {r.id: r for r in conn.execute(stmt, values)}


def update_one(conn: Connection, pk: int, **values: Any) -> None:
    conn.execute(update(t.inputs).where(C.pk == pk).values(modified_at=utcnow(), **values))


def page_query(app_pk: int, ids: Sequence[str] = (), status: int = 0) -> Select[Any]:
    q = select(t.inputs).where(C.app_pk == app_pk)
    if ids:
        q = q.where(C.id.in_(list(ids)))
    if status:
        q = q.where(C.status == status)
    return q.order_by(C.pk)


def count(conn: Connection, app_pk: int) -> int:
    return int(
        conn.execute(select(func.count()).select_from(t.inputs).where(C.app_pk == app_pk)).scalar_one()
    )


def delete_pks(conn: Connection, pks: Collection[int]) -> None:
    pk_list = list(pks)
    for i in range(0, len(pk_list), 500):
        conn.execute(delete(t.inputs).where(C.pk.in_(pk_list[i : i + 500])))


def dataset_ids_of(conn: Connection, input_pks: Collection[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = defaultdict(list)
    pk_list = list(input_pks)
    for i in range(0, len(pk_list), 500):
        for input_pk, ds_id in conn.execute(_DATASET_IDS, {"pks": pk_list[i : i + 500]}):
            out[input_pk].append(ds_id)
    return out


def ids_of(conn: Connection, pks: Collection[int]) -> dict[int, str]:
    """pk → public id of the inputs."""
    out: dict[int, str] = {}
    given = list(pks)
    for i in range(0, len(given), 500):  # stay under SQLite's bound-parameter limit
        q = select(t.inputs.c.pk, t.inputs.c.id).where(t.inputs.c.pk.in_(given[i : i + 500]))
        out.update({r.pk: r.id for r in conn.execute(q)})
    return out

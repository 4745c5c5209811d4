"""Dataset rows and dataset membership of inputs."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import Connection, Row, Select, delete, insert, select, update

from labeldesk.storage import tables as t
from labeldesk.storage.clock import utcnow
from labeldesk.storage.repos import input_writes

D = t.datasets.c
DI = t.dataset_inputs.c
CHUNK = 500  # stay under SQLite's bound-parameter limit


def by_ids(conn: Connection, app_pk: int, ids: Collection[str]) -> dict[str, Row[Any]]:
    if not ids:
        return {}
    return {r.id: r for r in conn.execute(select(t.datasets).where(D.app_pk == app_pk, D.id.in_(list(ids))))}


def insert_many(conn: Connection, app_pk: int, rows: Sequence[dict[str, Any]]) -> None:
    ts = utcnow()
    conn.execute(
        insert(t.datasets), [{**r, "app_pk": app_pk, "created_at": ts, "modified_at": ts} for r in rows]
    )


def update_one(conn: Connection, pk: int, **values: Any) -> None:
    conn.execute(update(t.datasets).where(D.pk == pk).values(modified_at=utcnow(), **values))


def page(conn: Connection, app_pk: int, offset: int, limit: int) -> list[Row[Any]]:
    q = select(t.datasets).where(D.app_pk == app_pk).order_by(D.pk).offset(offset).limit(limit)
    return list(conn.execute(q))


def page_of_owner(conn: Connection, owner_id: str, offset: int, limit: int) -> list[Row[Any]]:
    """Datasets of every app the user owns (with ``app_id``), oldest first."""
    a = t.apps.c
    q = (
        select(t.datasets, a.id.label("app_id"))
        .select_from(t.datasets.join(t.apps, a.pk == D.app_pk))
        .where(a.user_id == owner_id)
        .order_by(D.pk)
        .offset(offset)
        .limit(limit)
    )
    return list(conn.execute(q))


def delete_pks(conn: Connection, pks: Collection[int]) -> None:
    conn.execute(delete(t.datasets).where(D.pk.in_(list(pks))))


def add_inputs(
    conn: Connection, app_pk: int, dataset_pk: int, input_pks: Collection[int], posted_now: bool = False
) -> int:
    """Add inputs to a dataset of app ``app_pk``, skipping those already in it; answer how many
    were added. Reads only the membership of the inputs given (O(batch), whatever the dataset's
    size). ``posted_now``: the inputs were created by this transaction, which holds the app's
    input-writes lock already (:mod:`labeldesk.storage.repos.input_writes`); else this takes it,
    and a join of inputs that existed before counts (:func:`count_late_join`)."""
    if not posted_now:
        input_writes.hold(conn, app_pk)
    given = list(dict.fromkeys(input_pks))
    have: set[int] = set()
    for i in range(0, len(given), CHUNK):
        chunk = given[i : i + CHUNK]
        q = select(DI.input_pk).where(DI.dataset_pk == dataset_pk, DI.input_pk.in_(chunk))
        have.update(conn.execute(q).scalars())
    new = [p for p in given if p not in have]
    if new:
        if not posted_now:
            count_late_join(conn, dataset_pk)
        ts = utcnow()
        conn.execute(
            insert(t.dataset_inputs),
            [{"dataset_pk": dataset_pk, "input_pk": p, "created_at": ts} for p in new],
        )
    return len(new)


def count_late_join(conn: Connection, dataset_pk: int) -> None:
    """Inputs that existed before this transaction join the dataset: its ``late_version`` moves
    on, so that the rescan of a task planned past them looks for them (:func:`late_version`). New
    inputs joining as they are posted move nothing -- their pks are above every plan's watermark
    (on PostgreSQL, one in flight below it is in the planner's unsettled range:
    :mod:`labeldesk.storage.repos.input_writes`) -- so streams of PostInputs into one dataset do
    not all write its row."""
    conn.execute(update(t.datasets).where(D.pk == dataset_pk).values(late_version=D.late_version + 1))


def late_version(conn: Connection, dataset_pk: int) -> int:
    """How many times inputs that existed before joined the dataset (:func:`count_late_join`)."""
    return int(conn.execute(select(D.late_version).where(D.pk == dataset_pk)).scalar_one_or_none() or 0)


def remove_inputs(conn: Connection, dataset_pk: int, input_pks: Collection[int]) -> None:
    conn.execute(
        delete(t.dataset_inputs).where(DI.dataset_pk == dataset_pk, DI.input_pk.in_(list(input_pks)))
    )


def remove_input_everywhere(conn: Connection, app_pk: int, input_pk: int) -> None:
    """Take an input out of every dataset of its app."""
    of_app = select(D.pk).where(D.app_pk == app_pk)
    conn.execute(delete(t.dataset_inputs).where(DI.input_pk == input_pk, DI.dataset_pk.in_(of_app)))


def input_pks_query(dataset_pk: int) -> Select[Any]:
    """The dataset's input pks, as a subquery other queries (task input sources) can use."""
    return select(DI.input_pk).where(DI.dataset_pk == dataset_pk)


def members_page(conn: Connection, dataset_pk: int, offset: int, limit: int) -> list[Row[Any]]:
    q = (
        select(t.inputs, DI.created_at.label("added_at"))
        .select_from(t.dataset_inputs.join(t.inputs, t.inputs.c.pk == DI.input_pk))
        .where(DI.dataset_pk == dataset_pk)
        .order_by(t.inputs.c.pk)
        .offset(offset)
        .limit(limit)
    )
    return list(conn.execute(q))

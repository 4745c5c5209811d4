"""Rows of ``dataset_versions`` and their frozen inputs (``dataset_version_inputs``)."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, Row, delete, insert, select, update

from labeldesk.storage import tables as t
from labeldesk.storage.clock import utcnow
from labeldesk.storage.repos import bulk

V = t.dataset_versions.c
VI = t.dataset_version_inputs.c


def insert_version(conn: Connection, values: dict[str, Any]) -> int:
    ts = utcnow()
    res = conn.execute(insert(t.dataset_versions).values(created_at=ts, modified_at=ts, **values))
    pk = res.inserted_primary_key
    assert pk is not None
    return int(pk[0])


def add_inputs(conn: Connection, version_pk: int, start: int, rows: Sequence[tuple[int, bytes]]) -> None:
    """Freeze ``(input_pk, Input bytes)`` rows at positions ``start``, ``start + 1``, ..."""
    values = [(version_pk, start + n, pk, data) for n, (pk, data) in enumerate(rows)]
    bulk.insert_rows(conn, t.dataset_version_inputs, ("version_pk", "position", "input_pk", "input"), values)


def by_ids(conn: Connection, app_pk: int, ids: Collection[str]) -> dict[str, Row[Any]]:
    q = select(t.dataset_versions).where(V.app_pk == app_pk, V.id.in_(list(ids)))
    return {r.id: r for r in conn.execute(q)}


def live_keys(conn: Connection) -> set[tuple[int, int]]:
    """(app pk, version pk) of every version."""
    return {(int(a), int(v)) for a, v in conn.execute(select(V.app_pk, V.pk))}


def by_pk(conn: Connection, pk: int) -> Row[Any] | None:
    return conn.execute(select(t.dataset_versions).where(V.pk == pk)).first()


def of_dataset(conn: Connection, dataset_pk: int, offset: int, limit: int) -> list[Row[Any]]:
    q = select(t.dataset_versions).where(V.dataset_pk == dataset_pk).order_by(V.pk.desc())
    return list(conn.execute(q.offset(offset).limit(limit)))


def delete_pks(conn: Connection, pks: Collection[int]) -> None:
    conn.execute(delete(t.dataset_version_inputs).where(VI.version_pk.in_(list(pks))))
    conn.execute(delete(t.dataset_versions).where(V.pk.in_(list(pks))))


def set_metrics(conn: Connection, pk: int, metrics: dict[str, int]) -> None:
    conn.execute(update(t.dataset_versions).where(V.pk == pk).values(metrics=metrics))


def set_export(conn: Connection, pk: int, fmt: str, entry: dict[str, Any]) -> None:
    """Replace the entry of one export format (read-modify-write inside the caller's transaction)."""
    row = by_pk(conn, pk)
    if row is None:
        return
    exports = {**(row.exports or {}), fmt: entry}
    conn.execute(update(t.dataset_versions).where(V.pk == pk).values(exports=exports, modified_at=utcnow()))


def frozen_inputs(conn: Connection, version_pk: int, after: int = -1, limit: int = 1000) -> list[Row[Any]]:
    q = select(VI.position, VI.input).where(VI.version_pk == version_pk, VI.position > after)
    return list(conn.execute(q.order_by(VI.position).limit(limit)))


def iter_frozen(conn: Connection, version_pk: int, batch: int = 1000) -> Iterator[list[bytes]]:
    after = -1
    while True:
        rows = frozen_inputs(conn, version_pk, after, batch)
        if not rows:
            return
        yield [r.input for r in rows]
        after = rows[-1].position

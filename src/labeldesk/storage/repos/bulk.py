"""Bulk writes for dataset imports: multi-row ``INSERT ... VALUES (...), (...)`` statements sent
straight to the driver, a few thousand rows a statement, so a chunk of 5,000 inputs costs a
handful of round trips instead of one per row. Values are bound as the SQLAlchemy column types
store them (times through the column's own bind processor), so rows read back as any other."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, Table

from labeldesk.storage import tables as t
from labeldesk.storage.repos import multirow
from labeldesk.storage.repos.multirow import MAX_PARAMS


def prepare_bulk(conn: Connection) -> None:
    """SQLite: a page cache big enough for the indexes a chunk touches (the default 2 MB makes
    every index insert of a large table a read from the file)."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("PRAGMA cache_size=-262144")  # 256 MiB, for this connection


def stored_time(conn: Connection, ts: datetime) -> Any:
    """``ts`` as a DateTime column binds it on this connection's dialect."""
    processor = t.inputs.c.created_at.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
    return processor(ts) if processor else ts


def stored_json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def insert_rows(
    conn: Connection,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
    returning: str = "",
) -> list[tuple[Any, ...]]:
    """Insert ``rows`` (tuples in ``columns`` order); answer the ``returning`` columns of each
    inserted row (in no particular order) when given. The statements are the API's batched
    writes' (:func:`~labeldesk.storage.repos.multirow.insert_sql`), sent on the driver's own
    cursor: for chunks of thousands of rows SQLAlchemy's handling of the parameters costs ~15 %."""
    if not rows:
        return []
    names, dialect = tuple(columns), conn.dialect.name
    size = max(1, MAX_PARAMS // len(names))
    out: list[tuple[Any, ...]] = []
    raw = conn.connection.driver_connection
    assert raw is not None
    cur = raw.cursor()
    try:
        for i in range(0, len(rows), size):
            batch = rows[i : i + size]
            cur.execute(
                multirow.insert_sql(dialect, table, names, len(batch), returning),
                [v for r in batch for v in r],
            )
            if returning:
                out += [tuple(r) for r in cur.fetchall()]
    finally:
        cur.close()
    return out


def _select_in(
    conn: Connection, sql: str, fixed: Sequence[Any], values: Sequence[Any]
) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` (whose last condition is ``IN ({in})``) for every chunk of ``values``."""
    mark = "?" if conn.dialect.name == "sqlite" else "%s"
    raw = conn.connection.driver_connection
    assert raw is not None
    cur = raw.cursor()
    out: list[tuple[Any, ...]] = []
    try:
        size = MAX_PARAMS - len(fixed)
        for i in range(0, len(values), size):
            part = list(values[i : i + size])
            cur.execute(sql.format(m=mark, ins=", ".join([mark] * len(part))), [*fixed, *part])
            out += [tuple(r) for r in cur.fetchall()]
    finally:
        cur.close()
    return out


def existing_ids(conn: Connection, table: Table, app_pk: int, ids: Collection[str]) -> dict[str, int]:
    """Which of ``ids`` the app already has in ``table`` (inputs or annotations): id -> pk."""
    return multirow.ids_to_pks(conn, table, app_pk, ids)


def existing_concepts(conn: Connection, app_pk: int, ids: Collection[str]) -> set[str]:
    sql = "SELECT id FROM concepts WHERE app_pk = {m} AND id IN ({ins})"
    return {str(r[0]) for r in _select_in(conn, sql, [app_pk], list(ids))}


def dataset_members(conn: Connection, dataset_pk: int, input_pks: Collection[int]) -> set[int]:
    sql = "SELECT input_pk FROM dataset_inputs WHERE dataset_pk = {m} AND input_pk IN ({ins})"
    return {int(r[0]) for r in _select_in(conn, sql, [dataset_pk], list(input_pks))}

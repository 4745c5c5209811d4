"""Bulk writes for dataset imports: multi-row ``INSERT ... VALUES (...), (...)`` statements sent
straight to the driver, a few thousand rows a statement, so a chunk of 5,000 inputs costs a
handful of round trips instead of one per row. Values are bound as the SQLAlchemy column types
store them (times through the column's own bind processor), so rows read back as any other."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Connection, Table, select

from labeldesk.storage import tables as t

# SQLite allows 32,766 bound parameters per statement (since 3.32), PostgreSQL 65,535.
MAX_PARAMS = 30_000


def _placeholder(conn: Connection, table: Table, column: str) -> str:
    mark = "?" if conn.dialect.name == "sqlite" else "%s"
    if conn.dialect.name == "postgresql" and isinstance(table.c[column].type, JSON):
        return f"CAST({mark} AS JSON)"
    return mark


def prepare_bulk(conn: Connection) -> None:
    """SQLite: a page cache big enough for the indexes a chunk touches (the default 2 MB makes
    every index insert of a large table a read from the file)."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("PRAGMA cache_size=-131072")  # 128 MiB, for this connection


def stored_time(conn: Connection, ts: datetime) -> Any:
    """``ts`` as a DateTime column binds it on this connection's dialect."""
    processor = t.inputs.c.created_at.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
    return processor(ts) if processor else ts


def stored_json(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


def _batches(rows: Sequence[tuple[Any, ...]], width: int) -> Iterator[Sequence[tuple[Any, ...]]]:
    size = max(1, MAX_PARAMS // max(width, 1))
    for i in range(0, len(rows), size):
        yield rows[i : i + size]


def insert_rows(
    conn: Connection,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
    returning: str = "",
) -> list[tuple[Any, ...]]:
    """Insert ``rows`` (tuples in ``columns`` order); answer the ``returning`` columns of each
    inserted row (in no particular order) when given."""
    if not rows:
        return []
    one = "(" + ", ".join(_placeholder(conn, table, c) for c in columns) + ")"
    head = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES "
    tail = f" RETURNING {returning}" if returning else ""
    out: list[tuple[Any, ...]] = []
    raw = conn.connection.driver_connection
    assert raw is not None
    cur = raw.cursor()
    try:
        for batch in _batches(rows, len(columns)):
            sql = head + ", ".join([one] * len(batch)) + tail
            cur.execute(sql, [v for row in batch for v in row])
            if returning:
                out += [tuple(r) for r in cur.fetchall()]
    finally:
        cur.close()
    return out


def existing_ids(conn: Connection, table: Table, app_pk: int, ids: Collection[str]) -> dict[str, int]:
    """Which of ``ids`` the app already has in ``table`` (inputs or annotations): id -> pk."""
    out: dict[str, int] = {}
    id_list = list(ids)
    for i in range(0, len(id_list), 500):
        q = select(table.c.id, table.c.pk).where(
            table.c.app_pk == app_pk, table.c.id.in_(id_list[i : i + 500])
        )
        out.update({r.id: r.pk for r in conn.execute(q)})
    return out


def existing_concepts(conn: Connection, app_pk: int, ids: Collection[str]) -> set[str]:
    out: set[str] = set()
    id_list = list(ids)
    for i in range(0, len(id_list), 500):
        q = select(t.concepts.c.id).where(
            t.concepts.c.app_pk == app_pk, t.concepts.c.id.in_(id_list[i : i + 500])
        )
        out.update(conn.execute(q).scalars())
    return out


def dataset_members(conn: Connection, dataset_pk: int, input_pks: Collection[int]) -> set[int]:
    out: set[int] = set()
    pk_list = list(input_pks)
    di = t.dataset_inputs.c
    for i in range(0, len(pk_list), 500):
        q = select(di.input_pk).where(di.dataset_pk == dataset_pk, di.input_pk.in_(pk_list[i : i + 500]))
        out.update(conn.execute(q).scalars())
    return out

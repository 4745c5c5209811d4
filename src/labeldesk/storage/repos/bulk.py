"""Bulk writes for dataset imports: multi-row ``INSERT ... VALUES (...), (...)`` statements sent
straight to the driver, a few thousand rows a statement, so a chunk of 5,000 inputs costs a
handful of round trips instead of one per row. Values are bound as the SQLAlchemy column types
store them (times through the column's own bind processor), so rows read back as any other."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import JSON, Connection, Table

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
        conn.exec_driver_sql("PRAGMA cache_size=-262144")  # 256 MiB, for this connection


def stored_time(conn: Connection, ts: datetime) -> Any:
    """``ts`` as a DateTime column binds it on this connection's dialect."""
    processor = t.inputs.c.created_at.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
    return processor(ts) if processor else ts


def stored_json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


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
    sql = f"SELECT id, pk FROM {table.name} WHERE app_pk = {{m}} AND id IN ({{ins}})"
    return {str(i): int(pk) for i, pk in _select_in(conn, sql, [app_pk], list(ids))}


def existing_concepts(conn: Connection, app_pk: int, ids: Collection[str]) -> set[str]:
    sql = "SELECT id FROM concepts WHERE app_pk = {m} AND id IN ({ins})"
    return {str(r[0]) for r in _select_in(conn, sql, [app_pk], list(ids))}


def dataset_members(conn: Connection, dataset_pk: int, input_pks: Collection[int]) -> set[int]:
    sql = "SELECT input_pk FROM dataset_inputs WHERE dataset_pk = {m} AND input_pk IN ({ins})"
    return {int(r[0]) for r in _select_in(conn, sql, [dataset_pk], list(input_pks))}

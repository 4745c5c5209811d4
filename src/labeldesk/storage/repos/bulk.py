"""Bulk writes for dataset imports: multi-row ``INSERT ... VALUES (...), (...)`` statements sent
straight to the driver, a few thousand rows a statement, so a chunk of 10,000 inputs costs a
handful of round trips instead of one per row. Values are bound as the SQLAlchemy column types
store them (times through the column's own bind processor), so rows read back as any other.

On SQLite the values every row of a chunk shares (``fixed``: the app, the owner, the status,
NULLs, flags) are written into the statement as literals instead of being bound once a row, and
new rows get their primary keys from the import (the largest key + 1, + 2, ...: what SQLite
itself would give them; the writer holds the database's write lock) instead of a ``RETURNING``
clause. Binding a None, a bool or a bytes value costs the driver an adapter lookup, and a
statement's text must stay the same from chunk to chunk: SQLite's parser takes ~30 ms for a
statement of 10,000 rows, so the driver's statement cache has to hit. PostgreSQL binds every
value and reads its keys back.

Values the rows share that change from chunk to chunk (the chunk's timestamps: ``shared``) are
bound once a statement on SQLite (``?1``, ``?2``, ... in every row: the text stays the same, and
the driver copies one string per statement instead of one per row)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from itertools import chain
from typing import Any

import orjson
from sqlalchemy import Connection, Table

from labeldesk.storage import raw as raw_sql
from labeldesk.storage import tables as t
from labeldesk.storage.repos import multirow
from labeldesk.storage.repos.multirow import MAX_PARAMS

# rows a statement on SQLite: its parser takes ~3 µs a row, so a statement's text is compiled
# once per connection and reused (every chunk has the same batch sizes); shorter statements
# cost more steps, longer ones more compiling of the last, partial batch
SQLITE_ROWS = 500


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
    fixed: Mapping[str, Any] | None = None,
    shared: Mapping[str, Any] | None = None,
) -> list[tuple[Any, ...]]:
    """Insert ``rows`` (tuples in ``columns`` order), each with the ``fixed`` and ``shared``
    values too (SQLite: ``fixed`` as literals, ``shared`` bound once a statement; PostgreSQL:
    both bound in every row); answer the ``returning`` columns of each inserted row (in no
    particular order) when given. The statements are the API's batched writes'
    (:func:`~labeldesk.storage.repos.multirow.insert_sql`; on SQLite without ``returning``
    :func:`~labeldesk.storage.repos.multirow.sqlite_insert_text`), sent on the driver's own
    cursor: for chunks of thousands of rows SQLAlchemy's handling of the parameters costs ~15 %."""
    if not rows:
        return []
    dialect = conn.dialect.name
    fixed_items, shared_items = tuple((fixed or {}).items()), tuple((shared or {}).items())
    literal = dialect == "sqlite" and not returning
    if literal:
        names, head = tuple(columns), [v for _, v in shared_items]
    else:
        names, head = (*(k for k, _ in fixed_items + shared_items), *columns), []
        if fixed_items or shared_items:
            both = tuple(v for _, v in fixed_items + shared_items)
            rows = [both + r for r in rows]
    size = max(1, min(SQLITE_ROWS, MAX_PARAMS // len(names)) if literal else MAX_PARAMS // len(names))
    shared_names = tuple(k for k, _ in shared_items)
    literals = tuple((k, multirow.sqlite_literal(v)) for k, v in fixed_items)
    out: list[tuple[Any, ...]] = []
    cur = raw_sql.cursor(conn)
    try:
        for i in range(0, len(rows), size):
            batch = rows[i : i + size]
            if literal:
                sql = multirow.sqlite_insert_text(table.name, literals, shared_names, names, len(batch))
                cur.execute(sql, [*head, *chain.from_iterable(batch)])
            else:
                sql = multirow.insert_sql(dialect, table, names, len(batch), returning)
                cur.execute(raw_sql.statement(conn, sql), list(chain.from_iterable(batch)))
            if returning:
                out += [tuple(r) for r in cur.fetchall()]
    finally:
        cur.close()
    return out


def insert_numbered(
    conn: Connection,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
    fixed: Mapping[str, Any] | None = None,
    shared: Mapping[str, Any] | None = None,
) -> list[int]:
    """Insert ``rows`` (their first column is the table's unique ``id`` within ``fixed``'s
    app) and answer their primary keys, in row order. On SQLite the rows are inserted in order
    without a key, so SQLite gives each one past the largest there (``INTEGER PRIMARY KEY``
    without ``AUTOINCREMENT``; the caller holds the write lock): the keys are known without
    reading them back. PostgreSQL reads them back."""
    if not rows:
        return []
    if conn.dialect.name != "sqlite":
        got = insert_rows(conn, table, columns, rows, "pk, id", fixed, shared)
        pks = {str(i): int(pk) for pk, i in got}
        return [pks[r[0]] for r in rows]
    raw = conn.connection.driver_connection
    assert raw is not None
    top = raw.execute(f"SELECT max(pk) FROM {table.name}").fetchone()[0] or 0
    insert_rows(conn, table, columns, rows, fixed=fixed, shared=shared)
    end = top + len(rows)
    if raw.execute(f"SELECT max(pk) FROM {table.name}").fetchone()[0] != end:  # cheap: the rowid's end
        raise RuntimeError(f"{table.name}: SQLite did not number the new rows {top + 1}..{end}")
    return list(range(top + 1, end + 1))


def _select_in(
    conn: Connection, sql: str, fixed: Sequence[Any], values: Sequence[Any]
) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` (whose last condition is ``IN ({in})``) for every chunk of ``values``."""
    mark = "?" if conn.dialect.name == "sqlite" else "%s"
    cur = raw_sql.cursor(conn)
    out: list[tuple[Any, ...]] = []
    try:
        size = MAX_PARAMS - len(fixed)
        for i in range(0, len(values), size):
            part = list(values[i : i + size])
            text = sql.format(m=mark, ins=", ".join([mark] * len(part)))
            cur.execute(raw_sql.statement(conn, text), [*fixed, *part])
            out += [tuple(r) for r in cur.fetchall()]
    finally:
        cur.close()
    return out


def existing_ids(conn: Connection, table: Table, app_pk: int, ids: Collection[str]) -> dict[str, int]:
    """Which of ``ids`` the app already has in ``table`` (inputs or annotations): id -> pk.
    SQLite: one look into the ``(app_pk, id)`` index first, for any id between the smallest
    and the largest of ``ids`` (Python orders strings as SQLite's BINARY collation does): a
    chunk of a first import finds none there, and needs no ``IN`` query of thousands of ids."""
    if not ids:
        return {}
    if conn.dialect.name == "sqlite":
        raw = conn.connection.driver_connection
        assert raw is not None
        sql = f"SELECT 1 FROM {table.name} WHERE app_pk = ? AND id BETWEEN ? AND ? LIMIT 1"
        if raw.execute(sql, (app_pk, min(ids), max(ids))).fetchone() is None:
            return {}
    return multirow.ids_to_pks(conn, table, app_pk, ids)


def app_exists(conn: Connection, app_pk: int) -> bool:
    mark = "?" if conn.dialect.name == "sqlite" else "%s"
    return conn.exec_driver_sql(f"SELECT 1 FROM apps WHERE pk = {mark}", (app_pk,)).first() is not None


def dataset_pk(conn: Connection, app_pk: int, dataset_id: str) -> int | None:
    mark = "?" if conn.dialect.name == "sqlite" else "%s"
    sql = f"SELECT pk FROM datasets WHERE app_pk = {mark} AND id = {mark}"
    row = conn.exec_driver_sql(sql, (app_pk, dataset_id)).first()
    return None if row is None else int(row[0])


def existing_concepts(conn: Connection, app_pk: int, ids: Collection[str]) -> set[str]:
    sql = "SELECT id FROM concepts WHERE app_pk = {m} AND id IN ({ins})"
    return {str(r[0]) for r in _select_in(conn, sql, [app_pk], list(ids))}


def dataset_members(conn: Connection, dataset_pk: int, input_pks: Collection[int]) -> set[int]:
    sql = "SELECT input_pk FROM dataset_inputs WHERE dataset_pk = {m} AND input_pk IN ({ins})"
    return {int(r[0]) for r in _select_in(conn, sql, [dataset_pk], list(input_pks))}

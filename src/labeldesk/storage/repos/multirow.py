"""Request-sized batched writes and lookups: one multi-row ``INSERT ... VALUES (...), (...)`` per
table and one ``IN (...)`` query per lookup, from pre-built tuples.

PostAnnotations and PostInputs write up to 128 rows per table per request. SQLAlchemy's
insertmanyvalues also sends one statement, but processes every value of every row in Python
first (bind processors, dict merging); here the services hand over tuples already in the stored
form (``stored_time`` and ``stored_json`` of :mod:`labeldesk.storage.repos.bulk`) and the SQL text is
built once per (table, columns, row count). Statements go through ``exec_driver_sql`` so driver
errors are still SQLAlchemy's (translated and retried as every other write's,
``storage.engine``).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from functools import cache
from itertools import chain
from typing import Any

from sqlalchemy import JSON, Connection, Table

# SQLite allows 32,766 bound parameters per statement (since 3.32), PostgreSQL 65,535.
MAX_PARAMS = 30_000

_MARK = {"sqlite": "?", "postgresql": "%s"}


def _mark(dialect: str) -> str:
    return _MARK.get(dialect, "?")


@cache
def insert_sql(dialect: str, table: Table, columns: tuple[str, ...], n: int, returning: str) -> str:
    mark = _mark(dialect)
    json_cast = dialect == "postgresql"
    one = (
        "("
        + ", ".join(
            f"CAST({mark} AS JSON)" if json_cast and isinstance(table.c[c].type, JSON) else mark
            for c in columns
        )
        + ")"
    )
    tail = f" RETURNING {returning}" if returning else ""
    return f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES {', '.join([one] * n)}{tail}"


def insert_values(
    conn: Connection,
    table: Table,
    columns: tuple[str, ...],
    rows: Sequence[Sequence[Any]],
    returning: str = "",
) -> list[tuple[Any, ...]]:
    """Insert ``rows`` (values in ``columns`` order, as stored); answer the ``returning``
    columns of every inserted row, in no particular order, when given."""
    out: list[tuple[Any, ...]] = []
    size = max(1, MAX_PARAMS // len(columns))
    dialect = conn.dialect.name
    for i in range(0, len(rows), size):
        batch = rows[i : i + size]
        sql = insert_sql(dialect, table, columns, len(batch), returning)
        result = conn.exec_driver_sql(sql, tuple(chain.from_iterable(batch)))
        if returning:
            out += [tuple(r) for r in result]
    return out


def insert_pks(
    conn: Connection, table: Table, columns: tuple[str, ...], rows: Sequence[Sequence[Any]]
) -> list[int]:
    """Insert ``rows`` (values in ``columns`` order, as stored, the first being the row's unique
    ``id``); answer their pks in the order of ``rows``.

    On SQLite the rows of one multi-row ``INSERT`` take consecutive rowids (each the largest so
    far plus one, and the transaction holds the write lock), so the pks are counted back from
    the last one instead of returned row by row; PostgreSQL returns ``pk, id`` pairs."""
    if not rows:
        return []
    if conn.dialect.name != "sqlite":
        by_id = {i: pk for pk, i in insert_values(conn, table, columns, rows, "pk, id")}
        return [int(by_id[row[0]]) for row in rows]
    out: list[int] = []
    size = max(1, MAX_PARAMS // len(columns))
    for i in range(0, len(rows), size):
        batch = rows[i : i + size]
        sql = insert_sql("sqlite", table, columns, len(batch), "")
        last = conn.exec_driver_sql(sql, tuple(chain.from_iterable(batch))).lastrowid
        out += range(last - len(batch) + 1, last + 1)
    return out


@cache
def _in_sql(dialect: str, head: str, n: int) -> str:
    mark = _mark(dialect)
    return head.format(m=mark) + "(" + ", ".join([mark] * n) + ")"


def ids_to_pks(conn: Connection, table: Table, app_pk: int, ids: Collection[str]) -> dict[str, int]:
    """Which of ``ids`` the app has in ``table`` (inputs, annotations, ...): id -> pk."""
    return {i: int(pk) for i, pk in by_ids(conn, table, app_pk, ids, "pk").items()}


def by_ids(conn: Connection, table: Table, app_pk: int, ids: Collection[str], column: str) -> dict[str, Any]:
    """``column`` of the app's rows of ``table`` with these ``ids``: id -> value (one ``IN``
    query per 30,000 ids, its SQL text built once per length)."""
    out: dict[str, Any] = {}
    given = list(ids)
    head = f"SELECT id, {column} FROM {table.name} WHERE app_pk = {{m}} AND id IN "
    size = MAX_PARAMS - 1
    for i in range(0, len(given), size):
        part = given[i : i + size]
        sql = _in_sql(conn.dialect.name, head, len(part))
        out.update((str(r[0]), r[1]) for r in conn.exec_driver_sql(sql, (app_pk, *part)))
    return out

"""Request-sized batched writes and lookups: one multi-row ``INSERT ... VALUES (...), (...)`` per
table and one ``IN (...)`` query per lookup, from pre-built tuples.

PostAnnotations and PostInputs write up to 128 rows per table per request. SQLAlchemy's
insertmanyvalues also sends one statement, but processes every value of every row in Python
first (bind processors, dict merging); here the services hand over tuples already in the stored
form (``stored_time`` and ``stored_json`` of :mod:`labeldesk.storage.repos.bulk`) and the SQL text is
built once per (table, columns, row count). Statements go to the driver on the transaction's own
connection (:mod:`labeldesk.storage.raw`: SQLAlchemy's ``exec_driver_sql`` cost ~40 µs per
statement and its result rows ~1 µs each), and driver errors still go through SQLAlchemy's
handler, so they are translated and retried as every other write's (``storage.engine``).

On SQLite, binding a value costs the driver ~50 ns for an ``int``, ~140 ns for a ``str``, but
~350 ns for ``None`` or a ``bool`` and ~750 ns for ``bytes`` (each goes through the adapter
look-up first; a ``bytearray`` does not). So :func:`insert_pks` writes the ``None``/``bool``
columns whose value every row of the batch shares as SQL literals (``NULL``, ``0``, ``1``: a
few texts per statement shape, each prepared once per connection), binds the other values every
row shares (the app, the owner, the request's time: a third of an input-level annotation's
columns) once per statement as numbered parameters, and binds blobs as ``bytearray`` (stored
the same: a BLOB).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from functools import cache, lru_cache
from itertools import chain
from typing import Any

from sqlalchemy import JSON, Connection, Table
from sqlalchemy.dialects import postgresql, sqlite

from labeldesk.storage import raw

# SQLite allows 32,766 bound parameters per statement (since 3.32), PostgreSQL 65,535.
MAX_PARAMS = 30_000

_MARK = {"sqlite": "?", "postgresql": "%s"}

#: a statement on the transaction's own driver connection, errors through SQLAlchemy's handler
_driver = raw.execute_on_driver


def _mark(dialect: str) -> str:
    return _MARK.get(dialect, "?")


def _ignoring_duplicates(conn: Connection, table: Table) -> Any:
    """``INSERT ... ON CONFLICT DO NOTHING`` into ``table``: a row whose key is taken, by the same
    statement's rows or a concurrent transaction's, is left out (safe between replicas)."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table).on_conflict_do_nothing()


def insert_ignoring_duplicates(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert the ``rows`` whose key is free (SQLAlchemy splits a long list into statements)."""
    if rows:
        conn.execute(_ignoring_duplicates(conn, table), list(rows))


def insert_if_missing(conn: Connection, table: Table, row: dict[str, Any]) -> bool:
    """Insert ``row`` unless its key is taken; whether it was inserted (read from ``RETURNING``:
    psycopg's rowcount of such an INSERT is -1)."""
    statement = _ignoring_duplicates(conn, table).values(row).returning(*table.primary_key.columns)
    return conn.execute(statement).first() is not None


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
        if dialect == "sqlite" and not returning:
            _driver(conn, *sqlite_insert(table, columns, batch))
            continue
        sql = insert_sql(dialect, table, columns, len(batch), returning)
        cursor = _driver(conn, sql, tuple(chain.from_iterable(batch)))
        if returning:
            out += [tuple(r) for r in cursor.fetchall()]
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
        sql, params = sqlite_insert(table, columns, batch)
        last = _driver(conn, sql, params).lastrowid
        out += range(last - len(batch) + 1, last + 1)
    return out


_SHORT_BLOB = 16  # a blob every row shares is written as a literal up to this size


def sqlite_literal(value: Any) -> str:
    """``value`` as an SQLite literal that stores what binding it would store."""
    if value is None:
        return "NULL"
    if isinstance(value, bool | int):
        return str(int(value))
    if isinstance(value, float):
        return repr(value) if value == value and abs(value) != float("inf") else _refuse(value)
    if isinstance(value, bytes):
        return f"X'{value.hex()}'"
    if isinstance(value, str) and "\x00" not in value:
        return "'" + value.replace("'", "''") + "'"
    return _refuse(value)


def _refuse(value: Any) -> str:
    raise ValueError(f"no SQLite literal for {value!r}")


def sqlite_insert(
    table: Table, columns: tuple[str, ...], rows: Sequence[Sequence[Any]]
) -> tuple[str, tuple[Any, ...]]:
    """The SQLite ``INSERT`` of ``rows`` and its parameters: a column whose every row holds the
    same ``None``, ``bool`` or short blob is written as a literal, one whose every row holds
    the same other value (the app, the owner, the batch's time, a status) is bound once
    (``?1``, ``?2``, ... in every row; its columns come first, so the rows' own ``?`` count on
    from there), and blobs are bound as ``bytearray`` (see the module doc)."""
    n = len(rows)
    cols: list[Sequence[Any]] = list(zip(*rows))
    fixed: list[tuple[str, str]] = []
    shared: list[int] = []
    own: list[int] = []
    for j, col in enumerate(cols):
        first = col[0]
        kind = type(first)
        # one value in every row, of one type (False == 0 == 0.0 and b"" == bytearray(): equal
        # values of other types store differently); a value equal to a str is a str
        same = col.count(first) == n and (kind is str or all(type(v) is kind for v in col))
        if same and (first is None or kind is bool or (kind is bytes and len(first) <= _SHORT_BLOB)):
            fixed.append((columns[j], sqlite_literal(first)))
        elif same:
            shared.append(j)
        else:
            own.append(j)
            if kind is bytes and all(type(v) is bytes for v in col):
                cols[j] = list(map(bytearray, col))
    head = tuple(bytearray(cols[j][0]) if type(cols[j][0]) is bytes else cols[j][0] for j in shared)
    sql = sqlite_insert_text(
        table.name, tuple(fixed), tuple(columns[j] for j in shared), tuple(columns[j] for j in own), n
    )
    if not own:
        return sql, head
    return sql, head + tuple(chain.from_iterable(zip(*[cols[j] for j in own])))


@lru_cache(maxsize=256)
def sqlite_insert_text(
    table: str, literals: tuple[tuple[str, str], ...], shared: tuple[str, ...], own: tuple[str, ...], n: int
) -> str:
    """SQLite's ``INSERT`` of ``n`` rows: the ``literals`` columns with their SQL text
    (:func:`sqlite_literal`), the ``shared`` columns as the statement's first parameters
    (``?1``, ...: bound once), then one ``?`` a row for each of the ``own`` columns."""
    names = ", ".join([*(k for k, _ in literals), *shared, *own])
    marks = [*(v for _, v in literals), *(f"?{k + 1}" for k in range(len(shared))), *("?" * len(own))]
    one = "(" + ", ".join(marks) + ")"
    return f"INSERT INTO {table} ({names}) VALUES {', '.join([one] * n)}"


@cache
def _by_ids_sql(table: str, column: str) -> raw.Sql:
    return raw.Sql(f"SELECT id, {column} FROM {table} WHERE app_pk = ? AND id IN ({{in}})")


def ids_to_pks(conn: Connection, table: Table, app_pk: int, ids: Collection[str]) -> dict[str, int]:
    """Which of ``ids`` the app has in ``table`` (inputs, annotations, ...): id -> pk."""
    return by_ids(conn, table, app_pk, ids, "pk")


def by_ids(conn: Connection, table: Table, app_pk: int, ids: Collection[str], column: str) -> dict[str, Any]:
    """``column`` of the app's rows of ``table`` with these ``ids``: id -> value (one ``IN``
    query per 30,000 ids, its SQL text built once per length)."""
    given = list(ids)
    if not given:
        return {}
    sql = _by_ids_sql(table.name, column)
    size = MAX_PARAMS - 1
    out: dict[str, Any] = {}
    for i in range(0, len(given), size):
        part = given[i : i + size]
        out.update(sql.rows(conn, (app_pk, *part), len(part)))
    return out

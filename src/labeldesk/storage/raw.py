"""Fixed statements of the hot paths, sent straight to the driver.

SQLAlchemy's ``Connection.execute`` of a statement built once still costs ~40 µs of Python per
call (cache key, parameter processing, result metadata, row objects) where the statement itself
takes ~10 µs on SQLite (docs/performance.md, "work queue"): a LABEL_SUBMIT runs five of them. A
:class:`Sql` holds the statement's text for each dialect (``?`` marks; ``%s`` on PostgreSQL) and
runs it on the transaction's own DBAPI connection, answering plain tuples.

What SQLAlchemy did that is then the caller's job:

- times: SQLite stores them as text in SQLAlchemy's format; :func:`bind_time` makes that text
  (``lease_until < ?`` compares strings there, so the format must be exactly the same) and
  :func:`read_time` reads it back (PostgreSQL's driver takes and gives ``datetime`` itself);
- JSON columns come back as text on SQLite (:func:`read_json`);
- PostgreSQL's marks: psycopg reads a statement's ``%s`` marks anew on every call once it has
  more than 50 parameters (it caches only smaller ones): ~3 ms of Python for a 128-row
  ``INSERT`` of 9 columns, eight times what sending it costs. Statements go to the driver with
  PostgreSQL's own ``$1``, ``$2``... instead (:func:`statement`, made once per text) on a
  ``psycopg.RawCursor`` (:func:`cursor`), which sends them as they are;
- errors: a driver error goes through SQLAlchemy's own handler (``_handle_dbapi_exception``), so
  it is raised as the same :class:`~sqlalchemy.exc.DBAPIError` (translated and retried like every
  other, :mod:`labeldesk.storage.engine`) and a dead connection is invalidated as usual.

The statements run inside the transaction the :class:`~sqlalchemy.Connection` opened (same DBAPI
connection); nothing here commits. Only for statements that never touch the tables authentication
caches (``storage.engine.ACCOUNT_TABLES``): those writes are watched on SQLAlchemy's execute path.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from functools import cache, lru_cache
from typing import Any

import orjson
from sqlalchemy import Connection

_UTC = timezone.utc


class Sql:
    """One statement, its text per dialect. ``{in}`` in the text stands for a list of marks whose
    length is given per call (:meth:`rows` ``n_in``)."""

    __slots__ = ("postgresql", "sqlite")

    def __init__(self, sqlite: str, postgresql: str | None = None) -> None:
        if "%" in sqlite + (postgresql or ""):  # psycopg would read it as a mark
            raise ValueError("write the statement with '?' marks and no '%'")
        self.sqlite = sqlite
        self.postgresql = (postgresql or sqlite).replace("?", "%s")

    def text(self, conn: Connection, n_in: int = 0) -> str:
        if conn.dialect.name == "sqlite":
            return _expand(self.sqlite, n_in, "?") if n_in else self.sqlite
        return _expand(self.postgresql, n_in, "%s") if n_in else self.postgresql

    def rows(self, conn: Connection, params: Sequence[Any], n_in: int = 0) -> list[Any]:
        """All rows, as tuples."""
        rows: list[Any] = execute_on_driver(conn, self.text(conn, n_in), params).fetchall()
        return rows

    def first(self, conn: Connection, params: Sequence[Any]) -> Any:
        """The first row (a tuple) or None."""
        return execute_on_driver(conn, self.text(conn), params).fetchone()

    def run(self, conn: Connection, params: Sequence[Any], n_in: int = 0) -> int:
        """A write; answers how many rows it changed."""
        return int(execute_on_driver(conn, self.text(conn, n_in), params).rowcount)


@cache
def _expand(sql: str, n: int, mark: str) -> str:
    return sql.replace("{in}", ", ".join([mark] * n))


def cursor(conn: Connection) -> Any:
    """A cursor on ``conn``'s driver connection that runs :func:`statement`'s texts (on
    PostgreSQL a ``psycopg.RawCursor``: ``$1`` marks, no parsing of the text)."""
    raw: Any = conn.connection.dbapi_connection
    if conn.dialect.name == "postgresql":
        return _raw_cursor_class()(raw)
    return raw.cursor()


@cache
def _raw_cursor_class() -> Any:
    from psycopg import RawCursor  # PostgreSQL's driver is an extra: imported when used

    return RawCursor


def statement(conn: Connection, sql: str) -> Any:
    """``sql``, written with the driver's marks (``?``, ``%s`` on PostgreSQL), as
    :func:`cursor`'s cursor takes it: on PostgreSQL with ``$1``, ``$2``... (bytes)."""
    return numbered(sql) if conn.dialect.name == "postgresql" else sql


@lru_cache(maxsize=1024)
def numbered(sql: str) -> bytes:
    """psycopg's ``%s`` marks as PostgreSQL's ``$1``, ``$2``, ... (the statements here hold no
    other ``%``: :class:`Sql` refuses them)."""
    parts = sql.split("%s")
    out = [parts[0]]
    for k, part in enumerate(parts[1:], 1):
        out += (f"${k}", part)
    return "".join(out).encode()


def execute_on_driver(conn: Connection, sql: str, params: Sequence[Any]) -> Any:
    """Run ``sql`` on ``conn``'s driver connection, with SQLAlchemy's error translation and
    statement events kept; answers the driver's cursor."""
    raw: Any = conn.connection.dbapi_connection
    watched = bool(conn.dispatch.before_cursor_execute or conn.dispatch.after_cursor_execute)
    try:
        if watched:  # tools that count or time statements (benchmarks/pg_queue.py) see these too
            conn.dispatch.before_cursor_execute(conn, None, sql, params, None, False)
        # what cursor() and statement() do, inline: this runs for every statement of the hot
        # paths, and going through them cost 0.5 to 4 % of a submission's instructions (3 paired runs)
        if conn.dialect.name == "postgresql":
            found = _raw_cursor_class()(raw).execute(numbered(sql), params)
        else:
            found = raw.execute(sql, params)
        if watched:
            conn.dispatch.after_cursor_execute(conn, found, sql, params, None, False)
        return found
    except conn.dialect.loaded_dbapi.Error as e:
        # SQLAlchemy's own handling, as for its statements: wraps the error and, when the
        # connection is dead, invalidates it and the pool (Database.run then runs the unit of
        # work again on a fresh connection)
        conn._handle_dbapi_exception(e, sql, params, None, None)


@contextmanager
def statements_alone(conn: Connection) -> Iterator[bool]:
    """On PostgreSQL, while the transaction ``conn`` is in has sent nothing yet (psycopg sends its
    ``BEGIN`` with the first statement): the block's statements each commit on their own (the
    driver's autocommit), which saves the ``BEGIN`` and ``COMMIT`` round trips; answers True.
    Elsewhere (SQLite, or once a statement ran) False: the block runs in the transaction as usual.
    For work that is correct one statement at a time; what follows the block is in a transaction
    again."""
    raw: Any = conn.connection.dbapi_connection
    if conn.dialect.name != "postgresql" or raw.info.transaction_status != 0:  # 0: idle
        yield False
        return
    raw.autocommit = True
    try:
        yield True
    finally:
        try:
            raw.autocommit = False
        except Exception:  # broken: it must never serve a transaction in autocommit
            conn.invalidate()


def is_sqlite(conn: Connection) -> bool:
    return conn.dialect.name == "sqlite"


def bind_time(sqlite: bool, ts: datetime) -> Any:
    """``ts`` as a DateTime column stores it: on SQLite the text SQLAlchemy writes (UTC, no zone,
    always six digits of microseconds), elsewhere the datetime itself."""
    if not sqlite:
        return ts
    if ts.tzinfo is not None:
        ts = ts.astimezone(_UTC)
    return (
        f"{ts.year:04d}-{ts.month:02d}-{ts.day:02d} "
        f"{ts.hour:02d}:{ts.minute:02d}:{ts.second:02d}.{ts.microsecond:06d}"
    )


def read_time(value: Any) -> datetime:
    """A (NOT NULL) DateTime column's value as read by the driver, as an aware UTC datetime."""
    if isinstance(value, str):  # SQLAlchemy's text: UTC without a zone
        return datetime.fromisoformat(value + "+00:00")
    if value.tzinfo is None:
        return value.replace(tzinfo=_UTC)  # type: ignore[no-any-return]
    return value  # type: ignore[no-any-return]


def read_json(value: Any) -> Any:
    """A JSON column's value as read by the driver (text on SQLite, decoded on PostgreSQL)."""
    if isinstance(value, (str, bytes)):
        return orjson.loads(value)
    return value

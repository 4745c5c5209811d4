"""Connections kept checked out of the engine's pool between transactions.

Checking a SQLAlchemy connection out of the pool and back in (``Engine.connect`` and
``Connection.close``: the pool's lock and queue, a connection object, events, and a second
rollback on return) cost about as much CPU as a trivial read's own query (docs/performance.md,
transport). :class:`IdleConnections` keeps up to ``keep`` of them open, checked out, on a stack:
a transaction takes the last one put back (no lock: ``list.pop``/``append`` are atomic) and puts
it back when it ended cleanly (committed or rolled back, in SQLAlchemy and in the driver). A
connection whose clean-up failed, or that SQLAlchemy invalidated (a dropped PostgreSQL
connection), is closed instead, and so are the kept ones then (they are likely dead too; the
pool forgets its own the same way). They count against the pool's size like any checked-out
connection, so the database sees no more connections than before.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine


class IdleConnections:
    def __init__(self, engine: Engine, keep: int) -> None:
        self.engine = engine
        self.keep = keep
        self._idle: list[Connection] = []

    def __len__(self) -> int:
        """Connections kept now (checked out of the pool, but idle)."""
        return len(self._idle)

    def take(self) -> Connection:
        try:
            return self._idle.pop()
        except IndexError:
            return self.engine.connect()

    def give(self, conn: Connection, clean: bool = True) -> None:
        """Keep ``conn`` for the next transaction if it is usable: ``clean`` (its clean-up
        succeeded), not invalidated, and in no transaction (SQLAlchemy's or the driver's)."""
        dead = conn.invalidated
        if clean and not dead and len(self._idle) < self.keep and _settled(conn):
            self._idle.append(conn)
            return
        _close(conn)
        if dead:
            self.close()

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """A kept (or new) connection for one transaction the block ends; kept again after it if
        usable (a failed commit or a dead connection is closed instead)."""
        conn = self.take()
        try:
            yield conn
        finally:
            self.give(conn)

    def close(self) -> None:
        """Close the kept connections (back to the pool, or dropped when it was invalidated)."""
        while self._idle:
            try:
                conn = self._idle.pop()
            except IndexError:
                return
            _close(conn)


def _settled(conn: Connection) -> bool:
    """No transaction open on ``conn``, in SQLAlchemy or in the driver (sqlite3's
    ``in_transaction``, psycopg's ``info.transaction_status``, 0 = idle)."""
    if conn.in_transaction():
        return False
    try:
        raw: Any = conn.connection.dbapi_connection
        status = getattr(getattr(raw, "info", None), "transaction_status", None)
        return bool(status == 0) if status is not None else not getattr(raw, "in_transaction", False)
    except Exception:  # closed or broken
        return False


def _close(conn: Connection) -> None:
    with contextlib.suppress(Exception):  # a broken connection: the pool drops it
        conn.close()

"""Connections kept checked out of the engine's pool between read transactions.

Checking a SQLAlchemy connection out of the pool and back in (``Engine.connect`` and
``Connection.close``: the pool's lock and queue, a connection object, events, and a second
rollback on return) cost about as much CPU as a trivial read's own query (docs/performance.md,
transport). :class:`IdleConnections` keeps up to ``keep`` of them open, checked out, on a stack:
a read takes the last one put back (no lock: ``list.pop``/``append`` are atomic) and puts it back
when its transaction ended cleanly. A connection whose clean-up failed, or that SQLAlchemy
invalidated (a dropped PostgreSQL connection), is closed instead, and so are the kept ones then
(they are likely dead too; the pool forgets its own the same way). They count against the pool's
size like any checked-out connection, so the database sees no more connections than before.
"""

from __future__ import annotations

import contextlib

from sqlalchemy import Connection, Engine


class IdleConnections:
    def __init__(self, engine: Engine, keep: int) -> None:
        self.engine = engine
        self.keep = keep
        self._idle: list[Connection] = []

    def take(self) -> Connection:
        try:
            return self._idle.pop()
        except IndexError:
            return self.engine.connect()

    def give(self, conn: Connection, clean: bool) -> None:
        """Keep ``conn`` for the next read (``clean``: its transaction ended and it is usable)."""
        dead = conn.invalidated
        if clean and not dead and not conn.in_transaction() and len(self._idle) < self.keep:
            self._idle.append(conn)
            return
        _close(conn)
        if dead:
            self.close()

    def close(self) -> None:
        """Close the kept connections (back to the pool, or dropped when it was invalidated)."""
        while self._idle:
            try:
                conn = self._idle.pop()
            except IndexError:
                return
            _close(conn)


def _close(conn: Connection) -> None:
    with contextlib.suppress(Exception):  # a broken connection: the pool drops it
        conn.close()

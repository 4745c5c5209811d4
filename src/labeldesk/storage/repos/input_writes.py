"""Writes of inputs in flight, as the work queue's planners need to know them (PostgreSQL).

A planner walks a task's source in pk order and keeps a watermark (``tasks.planned_upto``). Inputs
get their pks when they are inserted, but become visible when their transaction commits, and two
PostInputs in flight at once commit in either order: a planner can see an input and pass it while
one with a lower pk, inserted earlier, has yet to commit. So every transaction that inserts inputs
or dataset memberships first takes the app's *input-writes* lock, shared (:func:`hold`), and keeps
it until it ends; the planner notes the range it planned while such writes may have been in flight
(``tasks.unsettled_above``) and looks at it again once it can take that lock alone (:func:`idle`):
every write that began before has ended by then, committed or not.

SQLite's writers take turns, so pks commit in order there and neither function does anything."""

from __future__ import annotations

from sqlalchemy import Connection

from labeldesk.storage import raw

#: the first key of the two-key advisory lock (the second is the app's pk)
LOCK_CLASS = 0x1D_5E_77_1E
_KEY_SPAN = 2**31


def _key(app_pk: int) -> tuple[int, int]:
    return LOCK_CLASS, app_pk % _KEY_SPAN


def hold(conn: Connection, app_pk: int) -> None:
    """Until this transaction ends, the app's inputs are being written: call before inserting
    inputs or dataset memberships (PostgreSQL; nothing on SQLite). Writers do not wait for each
    other, only for the transaction of a planner that :func:`idle` answered True.

    Transaction-level both, so that no error can leave the lock held: a session lock the planner
    failed to let go would stop the app's writes until its connection closed."""
    if not raw.is_sqlite(conn):
        _HOLD.first(conn, _key(app_pk))


def idle(conn: Connection, app_pk: int) -> bool:
    """Whether no write of the app's inputs is in flight right now (always True on SQLite): every
    write that began before this call has committed or rolled back. Never waits; when True, the
    writes that begin now wait until this transaction ends (call it once the planner holds what it
    needs, just before it looks)."""
    if raw.is_sqlite(conn):
        return True
    row = _IDLE.first(conn, _key(app_pk))
    return bool(row and row[0])


_HOLD = raw.Sql("SELECT pg_advisory_xact_lock_shared(?::int4, ?::int4)")
_IDLE = raw.Sql("SELECT pg_try_advisory_xact_lock(?::int4, ?::int4)")

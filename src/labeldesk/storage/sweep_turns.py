"""Whose turn it is to run one of the server's periodic sweeps, between the replicas on one
database.

Every replica (the first process of ``serve --workers N``) wakes for each sweep every period
(``RunningServer._every``). Run by all of them, a sweep that lists the blob store's keys would
send N LIST requests a minute to an object store, and N replicas would try the same deletes.
So a wake-up first asks :func:`take`: the sweep's row in ``sweep_turns`` says when it may run
next, and only the replica whose conditional write moves that moment forward runs it; the others
skip the round. A replica that dies while it sweeps leaves the next round to whoever wakes after
the period.

The next round is due a little before the period is over (:data:`SLACK`), so that the replica
which ran a sweep finds it due again when it next wakes, despite timer jitter: one replica usually
keeps a sweep, and the sweep runs once per period whatever the number of replicas. The moment is
this process's clock (as job leases are): replicas' clocks should agree within a few seconds. A row
due more than two periods ahead (a clock set back since, or a replica's clock ahead) counts as due.

A wake-up when it is not due is one read; the write transaction (SQLite's write lock, which every
labeler's submission takes too) is opened only when it is.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, not_, select, update

from labeldesk.storage import tables as t
from labeldesk.storage.clock import utcnow
from labeldesk.storage.engine import Database
from labeldesk.storage.repos.multirow import insert_if_missing

C = t.sweep_turns.c

#: a sweep may run again after this share of its period (the rest absorbs timers' jitter)
SLACK = 0.9


def take(db: Database, name: str, period_seconds: float, now: datetime | None = None) -> bool:
    """Whether this replica runs the sweep ``name`` now: True when no replica ran it within
    ``SLACK * period_seconds`` (and the row now says so), False when another one did or does."""
    now = now or utcnow()
    following = now + timedelta(seconds=period_seconds * SLACK)
    # not due: the next round is ahead, but less than two periods ahead (a moment further on was
    # set by a clock that was, or has since been put, wrong: it does not stop the sweeps)
    horizon = now + timedelta(seconds=2 * period_seconds)
    waiting = and_(C.name == name, C.due_at > now, C.due_at <= horizon)
    with db.read() as conn:
        if conn.execute(select(C.name).where(waiting)).first() is not None:
            return False
    with db.write() as conn:
        # PostgreSQL: of two processes here at once, the second waits for the first's row and
        # then finds it no longer due (the condition is checked again on the row it waited for)
        moved = conn.execute(
            update(t.sweep_turns).where(C.name == name, not_(waiting)).values(due_at=following)
        )
        # no row moved: the sweep's first round on this database, unless another replica's row
        # (just written, or not due) is there
        return bool(moved.rowcount) or insert_if_missing(
            conn, t.sweep_turns, {"name": name, "due_at": following}
        )

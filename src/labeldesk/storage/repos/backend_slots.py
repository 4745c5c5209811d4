"""Slots of a model backend shared by every replica on PostgreSQL: slot ``i`` of backend ``key`` is
the transaction-level advisory lock ``(key, i)``, held until the transaction that took it ends."""

from __future__ import annotations

import random

from sqlalchemy import Connection, text


def take(conn: Connection, key: int, slots: int) -> int:
    """Take a free slot of ``key`` (one of ``slots``), waiting for one when all are taken."""
    for i in range(slots):
        if conn.execute(text("SELECT pg_try_advisory_xact_lock(:k, :i)"), {"k": key, "i": i}).scalar():
            return i
    i = random.randrange(slots)  # all busy: queue behind one of them
    conn.execute(text("SELECT pg_advisory_xact_lock(:k, :i)"), {"k": key, "i": i})
    return i

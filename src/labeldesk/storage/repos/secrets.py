"""Server-wide secrets: random keys made once and shared by every replica through the database."""

from __future__ import annotations

import secrets

from sqlalchemy import Connection, insert, select
from sqlalchemy.exc import IntegrityError

from labeldesk.storage import tables as t
from labeldesk.storage.clock import utcnow

SECRET_BYTES = 32


def get(conn: Connection, name: str) -> bytes | None:
    """The secret called ``name`` if it was made (for read-only transactions)."""
    found = conn.execute(select(t.server_secrets.c.value).where(t.server_secrets.c.name == name)).scalar()
    return None if found is None else bytes(found)


def get_or_create(conn: Connection, name: str) -> bytes:
    """The secret called ``name``; the first caller creates it (a racing replica's insert loses)."""
    found = get(conn, name)
    if found is not None:
        return found
    value = secrets.token_bytes(SECRET_BYTES)
    try:
        with conn.begin_nested():
            conn.execute(insert(t.server_secrets).values(name=name, value=value, created_at=utcnow()))
    except IntegrityError:
        # another replica made it first: use theirs
        found = conn.execute(select(t.server_secrets.c.value).where(t.server_secrets.c.name == name)).scalar()
        assert found is not None
        return bytes(found)
    return value

"""The authenticator's memory of resolved keys: bounded in time and size, and forgotten when
this process changes the account tables (keys, apps, collaborators, users)."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import delete

from labeldesk.domain import errors
from labeldesk.services import admin
from labeldesk.services.auth import Authenticator, KeyCache
from labeldesk.storage import tables as t
from labeldesk.storage.engine import Database, account_generation
from labeldesk.storage.migrate import migrate


def _db(tmp_path: Path) -> Database:
    db = Database(f"sqlite:///{tmp_path / 'keys.db'}")
    migrate(db)
    return db


def _resolves(auth: Authenticator, db: Database, token: str) -> bool:
    try:
        with db.read() as conn:
            auth.authenticate(conn, f"Key {token}", None, "ListApps", needs_app=False)
    except errors.ApiError as e:
        assert e.code == errors.KEY_INVALID
        return False
    return True


def test_a_revocation_by_another_process_takes_effect_within_the_window(tmp_path: Path) -> None:
    db, other = _db(tmp_path), Database(f"sqlite:///{tmp_path / 'keys.db'}")
    token = admin.create_user(db, "u")
    auth = Authenticator(KeyCache(seconds=0.2))
    assert _resolves(auth, db, token)
    generation = account_generation()
    # what another server process does: a delete this process's statement watch does not see
    with other.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM keys")
    assert account_generation() == generation
    assert _resolves(auth, db, token)  # remembered: within the window
    time.sleep(0.25)
    assert not _resolves(auth, db, token)
    other.dispose()
    db.dispose()


def test_a_change_in_this_process_forgets_every_key_at_once(tmp_path: Path) -> None:
    db = _db(tmp_path)
    token = admin.create_user(db, "u")
    auth = Authenticator(KeyCache(seconds=60))
    assert not auth.known(f"Key {token}")
    assert _resolves(auth, db, token)
    assert auth.known(f"Key {token}")  # what the REST body guard asks before reading a body
    with db.write() as conn:
        conn.execute(delete(t.keys))
    assert not auth.known(f"Key {token}")
    assert not _resolves(auth, db, token)
    db.dispose()


def test_failures_are_never_remembered_and_the_size_is_bounded(tmp_path: Path) -> None:
    db = _db(tmp_path)
    token = admin.create_user(db, "u")
    auth = Authenticator(KeyCache(seconds=60, size=2))
    assert not _resolves(auth, db, "nope")
    assert not _resolves(auth, db, "nope")
    for _ in range(3):
        assert _resolves(auth, db, token)
    assert len(auth.cache._known) <= 2
    db.dispose()

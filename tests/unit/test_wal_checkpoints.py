"""SQLite's WAL is checkpointed by a thread of the server's own, not inside a writer's commit
(storage/checkpoints.py)."""

from __future__ import annotations

import shutil
import sqlite3
import time
from pathlib import Path

from labeldesk.storage.checkpoints import FALLBACK_PAGES, WalCheckpointer
from labeldesk.storage.engine import Database


def _rows_in_main_file(db_file: Path, copy: Path) -> int:
    """Rows of ``t`` in the database file alone: a copy without its ``-wal`` sees only what a
    checkpoint has copied there."""
    shutil.copyfile(db_file, copy)
    try:
        with sqlite3.connect(copy) as conn:
            return int(conn.execute("SELECT count(*) FROM t").fetchone()[0])
    except sqlite3.Error:  # no table yet in the file (or a copy taken mid-write)
        return -1
    finally:
        conn.close()
        copy.unlink()


def test_commits_reach_the_database_file_without_a_writer_checkpointing(tmp_path: Path) -> None:
    db_file = tmp_path / "c.db"
    db = Database(f"sqlite:///{db_file}")
    try:
        with db.write() as conn:
            conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
        for i in range(5):  # a few pages: far below what makes a commit checkpoint
            with db.write() as conn:
                conn.exec_driver_sql(f"INSERT INTO t VALUES ({i})")
        deadline = time.monotonic() + 10
        while (n := _rows_in_main_file(db_file, tmp_path / "copy.db")) != 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert n == 5, "the committed rows never reached the database file"
    finally:
        db.dispose()


def test_write_connections_checkpoint_only_past_the_fallback(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'f.db'}")
    try:
        with db.write() as conn:
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == FALLBACK_PAGES
    finally:
        db.dispose()


def test_dispose_stops_the_thread_after_a_last_checkpoint(tmp_path: Path) -> None:
    db_file = tmp_path / "d.db"
    db = Database(f"sqlite:///{db_file}")
    checkpointer = db._checkpointer
    assert checkpointer is not None
    with db.write() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
        conn.exec_driver_sql("INSERT INTO t VALUES (1)")
    db.dispose()
    assert not checkpointer._thread.is_alive()
    assert checkpointer.checkpoints >= 1


def test_stop_checkpoints_what_was_written_since_the_last_round(tmp_path: Path) -> None:
    db_file = tmp_path / "s.db"
    sqlite3.connect(db_file).close()
    checkpointer = WalCheckpointer(str(db_file), interval=60).start()  # no round before stop
    checkpointer.wrote()
    checkpointer.stop()
    assert checkpointer.checkpoints == 1


def test_no_database_file_is_created_by_the_checkpointer(tmp_path: Path) -> None:
    missing = tmp_path / "never.db"
    checkpointer = WalCheckpointer(str(missing), interval=0.01).start()
    checkpointer.wrote()
    time.sleep(0.1)
    checkpointer.stop()
    assert not missing.exists()
    assert checkpointer.checkpoints == 0


def test_a_checkpointer_with_nothing_written_does_not_checkpoint(tmp_path: Path) -> None:
    checkpointer = WalCheckpointer(str(tmp_path / "idle.db"), interval=0.01).start()
    time.sleep(0.1)
    checkpointer.stop()
    assert checkpointer.checkpoints == 0

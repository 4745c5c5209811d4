"""Read transactions keep their connection checked out in between (storage/idle_connections.py):
a read after a read uses the same connection, a failed read leaves it usable, an invalidated
one is not kept, and dispose() closes the kept ones."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Connection, text

from labeldesk.domain import errors
from labeldesk.storage.engine import Database
from labeldesk.storage.idle_connections import IdleConnections

READ_ONLY = r"readonly|read-only|query_only"


@pytest.fixture
def db(tmp_path: Path) -> Database:
    d = Database(f"sqlite:///{tmp_path / 'idle.db'}")
    with d.write() as conn:
        conn.exec_driver_sql("CREATE TABLE t (n INTEGER)")
        conn.exec_driver_sql("INSERT INTO t VALUES (1)")
    return d


def _dbapi(conn: Connection) -> object:
    return conn.connection.dbapi_connection


def test_reads_reuse_one_connection_and_see_new_commits(db: Database) -> None:
    with db.read() as conn:
        first = _dbapi(conn)
        assert conn.execute(text("SELECT count(*) FROM t")).scalar_one() == 1
    with db.write() as conn:
        conn.exec_driver_sql("INSERT INTO t VALUES (2)")
    with db.read() as conn:
        assert _dbapi(conn) is first
        assert conn.execute(text("SELECT count(*) FROM t")).scalar_one() == 2  # a fresh snapshot
    assert db.read_engine.pool.checkedout() == 1  # type: ignore[attr-defined]
    db.dispose()
    assert db.read_engine.pool.checkedout() == 0  # type: ignore[attr-defined]


def test_a_failed_read_rolls_back_and_the_connection_stays_usable(db: Database) -> None:
    def failing(conn: Connection) -> None:
        conn.execute(text("SELECT n FROM t")).all()
        raise errors.invalid("no such thing", "")

    with pytest.raises(errors.ApiError):
        db.run(failing, write=False)
    assert db.run(lambda conn: conn.execute(text("SELECT count(*) FROM t")).scalar_one(), write=False) == 1
    with db.read() as conn:
        raw = _dbapi(conn)
        assert raw.in_transaction  # type: ignore[attr-defined]
    assert not raw.in_transaction  # type: ignore[attr-defined]  # ended, though kept open
    db.dispose()


def test_reads_still_refuse_writes(db: Database) -> None:
    for _ in range(2):  # the second time on the kept connection: still read-only
        with pytest.raises(Exception, match=READ_ONLY), db.read() as conn:
            conn.exec_driver_sql("INSERT INTO t VALUES (3)")
    assert db.run(lambda conn: conn.execute(text("SELECT count(*) FROM t")).scalar_one(), write=False) == 1
    db.dispose()


def test_an_invalidated_connection_is_not_kept_and_the_kept_ones_are_closed(db: Database) -> None:
    idle = IdleConnections(db.read_engine, keep=4)
    kept, dropped = idle.take(), idle.take()
    idle.give(kept, clean=True)
    dropped.invalidate()  # what SQLAlchemy does when a statement finds the connection dead
    idle.give(dropped, clean=True)
    assert dropped.closed and kept.closed  # the kept one likely died with it: not handed out
    fresh = idle.take()
    assert fresh is not kept and fresh.execute(text("SELECT count(*) FROM t")).scalar_one() == 1
    idle.give(fresh, clean=False)  # its clean-up failed: closed, not kept
    assert fresh.closed and idle.take() is not fresh
    db.dispose()


def test_writes_reuse_their_connection_and_a_failed_write_leaves_it_usable(db: Database) -> None:
    with db.write() as conn:
        first = _dbapi(conn)
        conn.exec_driver_sql("INSERT INTO t VALUES (2)")

    def failing(conn: Connection) -> None:
        conn.exec_driver_sql("INSERT INTO t VALUES (3)")
        raise errors.invalid("refused", "")

    with pytest.raises(errors.ApiError):
        db.run(failing, write=True)
    with db.write() as conn:
        assert _dbapi(conn) is first
        assert conn.execute(text("SELECT count(*) FROM t")).scalar_one() == 2  # 3 was rolled back
    assert db.engine.pool.checkedout() == 1  # type: ignore[attr-defined]
    db.dispose()
    assert db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]


def test_a_connection_left_in_a_transaction_is_not_kept(db: Database) -> None:
    idle = IdleConnections(db.engine, keep=4)
    conn = idle.take()
    _dbapi(conn).execute("BEGIN")  # type: ignore[attr-defined]  # as if its clean-up had failed
    idle.give(conn)
    assert conn.closed and idle.take() is not conn
    db.dispose()


def test_metrics_count_kept_connections_as_idle(db: Database) -> None:
    from labeldesk.ops.metrics import Metrics

    with db.write() as conn:  # the write engine's connection is kept afterwards
        conn.exec_driver_sql("INSERT INTO t VALUES (2)")
    assert db.kept_idle() == 1 and db.engine.pool.checkedout() == 1  # type: ignore[attr-defined]
    text_out = Metrics(db.engine, db.counts, db.kept_idle).render().decode()
    assert "labeldesk_db_pool_checked_out 0.0" in text_out
    assert "labeldesk_db_pool_checked_in 1.0" in text_out
    db.dispose()

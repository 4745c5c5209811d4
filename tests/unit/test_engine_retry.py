"""Database.run re-runs a whole unit of work when the database aborted it for contention, a
bounded number of times; other failures pass through at once, translated as before."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError, OperationalError

from labeldesk.domain import errors
from labeldesk.storage import engine
from labeldesk.storage.engine import RETRY_ATTEMPTS, Database
from tests.helpers import scratch_database


class PgError(Exception):
    """What psycopg raises: the SQLSTATE in ``sqlstate``."""

    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"SQLSTATE {sqlstate}")
        self.sqlstate = sqlstate


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    with scratch_database(str(tmp_path / "retry.db"), "CREATE TABLE t (n INTEGER)") as d:
        yield d


def _count(db: Database) -> int:
    with db.read() as conn:
        return int(conn.execute(text("SELECT count(*) FROM t")).scalar_one())


@pytest.mark.parametrize(
    "busy",
    [
        OperationalError("INSERT", {}, Exception("database is locked")),
        OperationalError("UPDATE", {}, PgError("40001")),  # serialization_failure
        OperationalError("UPDATE", {}, PgError("40P01")),  # deadlock_detected
        OperationalError("SELECT", {}, PgError("55P03")),  # lock_not_available
    ],
)
def test_contention_reruns_the_whole_work_and_rolls_back_each_loser(
    db: Database, busy: OperationalError, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine, "RETRY_BASE_DELAY", 0.0)
    calls = 0

    def work(conn: Connection) -> int:
        nonlocal calls
        calls += 1
        conn.exec_driver_sql("INSERT INTO t VALUES (1)")
        if calls < RETRY_ATTEMPTS:
            raise busy
        return calls

    assert db.run(work, write=True) == RETRY_ATTEMPTS
    assert _count(db) == 1, "the losing attempts wrote nothing"


@pytest.mark.parametrize(
    ("error", "code", "attempts"),
    [
        # contention in every attempt: the client sees TRY_AGAIN after the last one
        (OperationalError("UPDATE", {}, PgError("40P01")), errors.TRY_AGAIN, RETRY_ATTEMPTS),
        # any other database error is answered at once
        (
            IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed: t.n")),
            errors.CONSTRAINT_VIOLATED,
            1,
        ),
    ],
)
def test_failures_the_retries_do_not_cure(
    db: Database, monkeypatch: pytest.MonkeyPatch, error: Exception, code: int, attempts: int
) -> None:
    monkeypatch.setattr(engine, "RETRY_BASE_DELAY", 0.0)
    calls = 0

    def work(conn: Connection) -> None:
        nonlocal calls
        calls += 1
        raise error

    with pytest.raises(errors.ApiError) as e:
        db.run(work, write=True)
    assert e.value.code == code and calls == attempts


def test_backoff_is_jittered_and_grows() -> None:
    for attempt in range(1, RETRY_ATTEMPTS):
        cap = engine.RETRY_BASE_DELAY * 2 ** (attempt - 1)
        assert all(0 <= engine.backoff(attempt) <= cap for _ in range(50))
    assert len({engine.backoff(3) for _ in range(20)}) > 1


def test_after_commit_effects_of_an_aborted_attempt_are_dropped(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the attempt that committed has its effects run, once, after the commit."""
    monkeypatch.setattr(engine, "RETRY_BASE_DELAY", 0.0)
    ran: list[tuple[int, int]] = []
    calls = 0

    def work(conn: Connection) -> None:
        nonlocal calls
        calls += 1
        attempt = calls
        conn.exec_driver_sql("INSERT INTO t VALUES (1)")
        engine.after_commit(conn, lambda: ran.append((attempt, _count(db))))
        if attempt < 3:
            raise OperationalError("INSERT", {}, Exception("database is locked"))

    db.run(work, write=True)
    assert ran == [(3, 1)]  # the third attempt's effect, which sees its committed row


def test_after_commit_needs_a_write_transaction(db: Database) -> None:
    with db.read() as conn, pytest.raises(RuntimeError, match="write transaction"):
        engine.after_commit(conn, lambda: None)

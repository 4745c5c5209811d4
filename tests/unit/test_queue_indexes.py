"""The work queue's hot statements use an index on every column they look up by, whatever the
planner's statistics: SQLite's planner (before ``PRAGMA optimize`` has gathered statistics) picks
the index with the most equality columns, so a missing column there means a scan of all the rows
the other columns match -- a cost that grows with the table."""

from __future__ import annotations

from pathlib import Path

from labeldesk.storage.engine import Database
from labeldesk.storage.migrate import migrate
from labeldesk.storage.raw import Sql
from labeldesk.storage.repos import assignments as repo


def _plan(db: Database, statement: Sql, n_in: int = 0) -> str:
    sql = statement.sqlite.replace("{in}", ", ".join(["?"] * n_in))
    with db.engine.connect() as conn:
        rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, tuple([None] * sql.count("?"))).all()
    return " | ".join(str(r[-1]) for r in rows)


def test_a_submission_moves_its_annotations_through_an_index_on_the_input(tmp_path: Path) -> None:
    """Without ``input_pk`` in the index, each submission walked every annotation its labeler had
    made in the task (35 ms per submission at 50k of them, vs 6 µs)."""
    db = Database(f"sqlite:///{tmp_path / 'q.db'}")
    migrate(db)
    plan = _plan(db, repo._MOVE_TASK_ANNOTATIONS, 2)
    db.dispose()
    assert "ix_annotations_app_task_user (app_pk=? AND task_id=? AND user_id=? AND input_pk=?)" in plan, plan


def test_a_submission_finds_its_seat_through_the_unique_index(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'q.db'}")
    migrate(db)
    plan = _plan(db, repo._WORKER_SEATS_OF_INPUT_ID)
    db.dispose()
    assert "(task_pk=? AND input_pk=? AND worker_id=?)" in plan, plan


def test_label_start_finds_the_workers_started_seats_through_its_queue_index(tmp_path: Path) -> None:
    """Through the lease index SQLite walked every started seat of the task (320 with 32 labelers)
    and sorted them, for the worker's own ten."""
    db = Database(f"sqlite:///{tmp_path / 'q.db'}")
    migrate(db)
    plan = _plan(db, repo._OWN_STARTED)
    db.dispose()
    queue = "ix_task_assignments_queue (task_pk=? AND worker_id=? AND status=?)"
    assert plan == f"SEARCH task_assignments USING INDEX {queue}", plan

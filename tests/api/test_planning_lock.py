"""The task's planning lock on PostgreSQL (storage/repos/assignments.py): a LABEL_START that
waited for another planner and finds the watermark moved lets go of the lock at once, instead of
holding it until its own transaction commits; settling and the source's rescan never wait for it.

Three real connections to the server's database play three LABEL_STARTs' transactions."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api import service_pb2 as s
from sqlalchemy import Connection, text

from labeldesk.app import RunningServer
from labeldesk.storage.repos import assignments as repo
from tests.api.test_queue_stragglers import _task, new_stub, postgres_only
from tests.helpers import AppFixture, ok

__all__ = ["postgres_only"]  # a fixture the tests here use


@pytest.fixture
def task_pk(postgres_only: None, server: RunningServer, app: AppFixture) -> int:
    stub = new_stub(server, "grpc")
    concepts = [r.Concept(id="cat")]
    ok(stub.PostConcepts(s.PostConceptsRequest(user_app_id=app.uai, concepts=concepts), metadata=app.meta))
    worker, _ = app.new_user("lab")
    _task(stub, app, "locked", {"type": "ALL_INPUTS"}, worker)
    with server.app.db.engine.connect() as conn:
        pk: int = conn.execute(
            text(
                "SELECT t.pk FROM tasks t JOIN apps a ON a.pk = t.app_pk WHERE a.id = :a AND t.id = 'locked'"
            ),
            {"a": app.app_id},
        ).scalar_one()
    return pk


@pytest.fixture
def conns(server: RunningServer) -> Iterator[list[Connection]]:
    """Three connections, each its own transaction (the queue's statements go to the driver, so
    :func:`_commit` and :func:`_rollback` end them there); rolled back and closed at the end."""
    opened = [server.app.db.engine.connect() for _ in range(3)]
    try:
        yield opened
    finally:
        for conn in opened:
            _rollback(conn)
            conn.close()


def _commit(conn: Connection) -> None:
    conn.connection.dbapi_connection.commit()  # type: ignore[union-attr]


def _rollback(conn: Connection) -> None:
    conn.connection.dbapi_connection.rollback()  # type: ignore[union-attr]


def _waits_for_a_lock(server: RunningServer, pid: int) -> bool:
    """Whether the backend ``pid`` waits for a lock (by pid: other tests' servers may be waiting
    for their own tasks' locks on the same PostgreSQL)."""
    with server.app.db.engine.connect() as conn:
        n = conn.execute(
            text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid AND wait_event_type = 'Lock'"),
            {"pid": pid},
        ).scalar_one()
    return bool(n)


def _second_waits(
    server: RunningServer, task_pk: int, conns: list[Connection], moved: int
) -> tuple[int, threading.Thread, list[Any]]:
    """The first connection takes the planning lock and moves the watermark by ``moved``; the
    second calls ``repo.lock_plan`` in a thread. Answers the watermark both saw, and the thread
    once it waits for the lock (its answer lands in the list)."""
    first, conn, _ = conns
    seen = repo.plan_state(first, task_pk).planned_upto
    assert repo.lock_plan(first, task_pk, seen) is not None
    if moved:
        repo.advance_plan(first, task_pk, seen, seen + moved, False)
    pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    got: list[Any] = []
    thread = threading.Thread(target=lambda: got.append(repo.lock_plan(conn, task_pk, seen)))
    thread.start()
    deadline = time.monotonic() + 10
    while not _waits_for_a_lock(server, pid):
        assert time.monotonic() < deadline, "the second planner never waited for the first"
        time.sleep(0.01)
    return seen, thread, got


def test_a_planner_that_waited_lets_go_of_the_lock_when_the_watermark_moved(
    server: RunningServer, task_pk: int, conns: list[Connection]
) -> None:
    first, second, third = conns
    seen, thread, got = _second_waits(server, task_pk, conns, moved=10)
    assert repo.try_lock_plan(third, task_pk) is None, "the first planner holds it: no wait, no lock"
    _rollback(third)

    _commit(first)  # the batch is planned
    thread.join(10)
    assert got == [None], "the watermark moved while the second one waited"
    # the second's transaction goes on (to take the new work), without the lock
    state = repo.try_lock_plan(third, task_pk)
    assert state is not None, "the second LABEL_START still holds the planning lock"
    assert state.planned_upto == seen + 10
    _rollback(third)
    assert repo.plan_state(second, task_pk).planned_upto == seen + 10  # its transaction is usable


def test_a_planner_that_waited_in_vain_plans_and_keeps_the_lock(
    server: RunningServer, task_pk: int, conns: list[Connection]
) -> None:
    first, second, third = conns
    seen, thread, got = _second_waits(server, task_pk, conns, moved=0)

    _rollback(first)  # planned nothing after all
    thread.join(10)
    assert len(got) == 1 and got[0] is not None and got[0].planned_upto == seen
    assert repo.try_lock_plan(third, task_pk) is None, "the second one plans now: it holds the lock"
    repo.advance_plan(second, task_pk, seen, seen + 5, False)
    _commit(second)
    state = repo.try_lock_plan(third, task_pk)
    assert state is not None and state.planned_upto == seen + 5

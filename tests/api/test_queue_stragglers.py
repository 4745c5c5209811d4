"""An input whose PostInputs commits after a later one's (PostgreSQL): its pk is lower than an input
the task's planner has already passed, so planning in pk order alone would never give it seats.

Two PostInputs run at once: the first has its pks and waits in its transaction (here for a lock
on the dataset it adds its input to, which this test holds), the second commits, a worker's
LABEL_START plans past it, then the first commits. The input of the first must still reach the
worker. On SQLite writers take turns, so commit order is pk order and the case cannot arise."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api import service_pb2 as s
from google.protobuf import json_format
from sqlalchemy import text

from labeldesk.app import RunningServer
from labeldesk.storage.repos import input_writes
from tests.api.test_queue_concurrency import A, Log, check_exact, labeler, new_stub
from tests.helpers import IMG, AppFixture, ok


@pytest.fixture
def postgres_only(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite's writers take turns: a later pk never commits first")


@contextmanager
def held_dataset(server: RunningServer, app: AppFixture, stub: Any) -> Iterator[Callable[[], None]]:
    """The new dataset 'slow' of the app, its row locked by another connection (FOR UPDATE) until
    the function given is called: a PostInputs that adds an input to it waits there, after its
    inputs have their pks."""
    req = s.PostDatasetsRequest(user_app_id=app.uai, datasets=[r.Dataset(id="slow")])
    ok(stub.PostDatasets(req, metadata=app.meta))
    conn = server.app.db.engine.connect()
    conn.execute(
        text(
            "SELECT d.pk FROM datasets d JOIN apps a ON a.pk = d.app_pk "
            "WHERE a.id = :a AND d.id = 'slow' FOR UPDATE OF d"
        ),
        {"a": app.app_id},
    ).scalar_one()
    try:
        yield conn.rollback
    finally:
        conn.rollback()
        conn.close()


def waiting_on_lock(server: RunningServer) -> bool:
    """Whether a statement writing dataset memberships waits for a lock, on the server's database
    (the other xdist workers' tests run on databases of their own in the same PostgreSQL)."""
    with server.app.db.engine.connect() as conn:
        n = conn.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND query ILIKE '%dataset_inputs%'"
            )
        ).scalar_one()
    return bool(n)


def _task(stub: Any, app: AppFixture, task_id: str, source: dict[str, str], *workers: str) -> None:
    task = json_format.ParseDict(
        {
            "id": task_id,
            "concept_ids": ["cat"],
            "input_source": source,
            "worker": {
                "strategy": "DYNAMIC",
                "user_ids": list(workers),
                "partitioned_strategy_info": {"workers_per_input": 1},
            },
        },
        r.Task(),
    )
    ok(stub.PostTasks(s.PostTasksRequest(user_app_id=app.uai, tasks=[task]), metadata=app.meta))


def _post(stub: Any, app: AppFixture, input_id: str, datasets: list[str]) -> Any:
    inp = r.Input(id=input_id, data=r.Data(image=r.Image(url=IMG)), dataset_ids=datasets)
    return stub.PostInputs(s.PostInputsRequest(user_app_id=app.uai, inputs=[inp]), metadata=app.meta)


def _handed(stub: Any, app: AppFixture, task_id: str, meta: Any) -> list[str]:
    """Every input the worker is handed, submitting each, until LABEL_START hands out nothing."""
    seen: list[str] = []
    for _ in range(20):
        got = ok(
            stub.PutTaskAssignments(
                s.PutTaskAssignmentsRequest(user_app_id=app.uai, task_id=task_id, action=A.LABEL_START),
                metadata=meta,
            )
        )
        ids = [a.input.id for a in got.task_assignments]
        if not ids:
            return seen
        for i in ids:
            ok(
                stub.PutTaskAssignments(
                    s.PutTaskAssignmentsRequest(
                        user_app_id=app.uai, task_id=task_id, action=A.LABEL_SUBMIT, input_id=i
                    ),
                    metadata=meta,
                )
            )
        seen += ids
    raise AssertionError(f"LABEL_START never ran dry: {seen}")


@pytest.mark.parametrize("source", ["ALL_INPUTS", "DATASET"])
def test_an_input_committed_after_a_later_one_still_reaches_the_worker(
    postgres_only: None, server: RunningServer, app: AppFixture, source: str
) -> None:
    stub = new_stub(server, "grpc")
    ok(
        stub.PostConcepts(
            s.PostConceptsRequest(user_app_id=app.uai, concepts=[r.Concept(id="cat")]), metadata=app.meta
        )
    )
    ok(
        stub.PostDatasets(
            s.PostDatasetsRequest(user_app_id=app.uai, datasets=[r.Dataset(id="all")]), metadata=app.meta
        )
    )
    worker, meta = app.new_user("lab")
    spec = {"type": "ALL_INPUTS"} if source == "ALL_INPUTS" else {"type": "DATASET", "id": "all"}
    _task(stub, app, "t", spec, worker)
    ok(_post(stub, app, "first", ["all"]))
    assert _handed(stub, app, "t", meta) == ["first"]

    with held_dataset(server, app, stub) as release:
        _race(server, app, stub, meta, release)


def _race(server: RunningServer, app: AppFixture, stub: Any, meta: Any, release: Callable[[], None]) -> None:
    answers: list[Any] = []
    slow = threading.Thread(
        target=lambda: answers.append(_post(new_stub(server, "grpc"), app, "slow", ["all", "slow"]))
    )
    slow.start()
    deadline = time.monotonic() + 10
    while not waiting_on_lock(server):  # the slow PostInputs has its pk and waits for the dataset
        assert time.monotonic() < deadline, "the slow PostInputs never reached the locked dataset"
        time.sleep(0.02)
    ok(_post(stub, app, "later", ["all"]))  # a higher pk, committed first
    assert _handed(stub, app, "t", meta) == ["later"]  # the planner passed 'later'

    release()  # the slow PostInputs goes on and commits
    slow.join(10)
    ok(answers[0])
    assert _handed(stub, app, "t", meta) == ["slow"]


def test_a_planner_sees_a_write_of_inputs_in_flight_and_only_of_its_app(
    postgres_only: None, server: RunningServer
) -> None:
    engine = server.app.db.engine
    with engine.connect() as writer, engine.connect() as planner:
        with writer.begin():
            input_writes.hold(writer, 7_000_001)
            input_writes.hold(writer, 7_000_001)  # again in the same transaction: still shared
            with planner.begin():
                assert not input_writes.idle(planner, 7_000_001)
                assert input_writes.idle(planner, 7_000_002), "another app's writes are not this one's"
        with planner.begin():
            assert input_writes.idle(planner, 7_000_001), "the write ended"


def test_labelers_pulling_while_inputs_pour_in_from_four_clients_get_every_input_once(
    server: RunningServer, app: AppFixture
) -> None:
    """4 clients post 96 inputs in batches of 8 while 8 labelers pull a DYNAMIC ALL_INPUTS task, so
    planning runs while inputs arrive; once the posts are over the labelers drain it. Every input is
    done exactly once (on both databases). Out-of-order commits are too rare here to count on: the
    test above makes one happen."""
    owner = new_stub(server, "grpc")
    ok(
        owner.PostConcepts(
            s.PostConceptsRequest(user_app_id=app.uai, concepts=[r.Concept(id="cat")]), metadata=app.meta
        )
    )
    members = [app.new_user(f"p{i}") for i in range(8)]
    _task(owner, app, "pour", {"type": "ALL_INPUTS"}, *[u for u, _ in members])
    names = [f"pour-{c}-{b:02d}-{i}" for c in range(4) for b in range(12) for i in range(8)]
    posting = threading.Event()
    posting.set()
    log = Log()

    def poster(c: int) -> None:
        stub = new_stub(server, "grpc")
        for b in range(12):
            batch = [
                r.Input(id=f"pour-{c}-{b:02d}-{i}", data=r.Data(image=r.Image(url=IMG))) for i in range(8)
            ]
            ok(stub.PostInputs(s.PostInputsRequest(user_app_id=app.uai, inputs=batch), metadata=app.meta))

    def pull(uid: str, meta: Any) -> None:
        stub = new_stub(server, "grpc")
        while True:
            labeler(stub, app, "pour", uid, meta, log)  # until LABEL_START hands out nothing
            if not posting.is_set():
                labeler(stub, app, "pour", uid, meta, log)  # the posts are over: drain once more
                return
            time.sleep(0.005)

    posters = [threading.Thread(target=poster, args=(c,)) for c in range(4)]
    pullers = [threading.Thread(target=pull, args=m) for m in members]
    for th in posters + pullers:
        th.start()
    for th in posters:
        th.join(120)
    posting.clear()
    for th in pullers:
        th.join(120)
    assert not any(th.is_alive() for th in posters + pullers), "a client hung"
    check_exact(log, names, 1)

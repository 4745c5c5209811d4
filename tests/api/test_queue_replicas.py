"""Contention is the server's problem: two servers over one database (PostgreSQL with
LABELDESK_TEST_DATABASE_URL, else one SQLite file written by two engines, whose writers then meet
in SQLite's own lock), 8 labelers with two tabs each pulling one DYNAMIC task. The transactions the
database aborts for contention are retried inside the server, so no tab ever sees TRY_AGAIN."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api import service_pb2 as s
from clarifai_grpc.grpc.api.status import status_code_pb2 as sc
from google.protobuf import json_format

from labeldesk.app import RunningServer, build
from tests.api.test_queue_concurrency import Log, check_exact, labeler, new_stub
from tests.helpers import IMG, AppFixture, ok


@pytest.fixture
def replica(database_url: str) -> Iterator[RunningServer]:
    second = RunningServer(build(database_url), "127.0.0.1", 0, 0).start()
    yield second
    second.stop()


def _dynamic_task(
    inputs_via: RunningServer, task_via: RunningServer, app: AppFixture, workers: list[str], n: int, k: int
) -> list[str]:
    """Concept 'cat', ``n`` inputs (posted through ``inputs_via``) and the DYNAMIC task 'race' for
    ``workers`` with ``k`` workers per input (posted through ``task_via``); answers the input ids."""
    owner = new_stub(inputs_via, "grpc")
    ok(
        owner.PostConcepts(
            s.PostConceptsRequest(user_app_id=app.uai, concepts=[r.Concept(id="cat")]), metadata=app.meta
        )
    )
    names = [f"in-{i:04d}" for i in range(n)]
    batch = [r.Input(id=name, data=r.Data(image=r.Image(url=IMG))) for name in names]
    for start in range(0, n, 100):
        part = batch[start : start + 100]
        ok(owner.PostInputs(s.PostInputsRequest(user_app_id=app.uai, inputs=part), metadata=app.meta))
    task = json_format.ParseDict(
        {
            "id": "race",
            "concept_ids": ["cat"],
            "input_source": {"type": "ALL_INPUTS"},
            "worker": {
                "strategy": "DYNAMIC",
                "user_ids": workers,
                "partitioned_strategy_info": {"workers_per_input": k},
            },
        },
        r.Task(),
    )
    ok(
        new_stub(task_via, "grpc").PostTasks(
            s.PostTasksRequest(user_app_id=app.uai, tasks=[task]), metadata=app.meta
        )
    )
    return names


def test_sixteen_tabs_on_two_replicas_never_see_try_again(
    server: RunningServer, replica: RunningServer, app: AppFixture
) -> None:
    """8 labelers with two tabs each, half the tabs on each replica, pull one DYNAMIC task: the
    server retries the transactions the database aborts for contention, so no tab is ever answered
    TRY_AGAIN (``labeler`` logs any non-SUCCESS answer) and each input is still done exactly k times."""
    k, n_inputs, workers = 2, 128, 8
    members = [app.new_user(f"tab{i}") for i in range(workers)]
    names = _dynamic_task(server, server, app, [u for u, _ in members], n_inputs, k)
    log = Log()
    tabs = [(uid, meta, tab) for uid, meta in members for tab in (0, 1)]
    barrier = threading.Barrier(len(tabs))
    stubs = [new_stub(server if tab else replica, "grpc") for _, _, tab in tabs]
    dbs = (server.app.db, replica.app.db)
    retried_before = sum(db.counts["retries"] for db in dbs)

    def go(stub: Any, uid: str, meta: Any) -> None:
        barrier.wait()
        labeler(stub, app, "race", uid, meta, log)

    threads = [
        threading.Thread(target=go, args=(stubs[i], uid, meta)) for i, (uid, meta, _) in enumerate(tabs)
    ]
    for th in threads:
        th.start()
    for th in threads:
        th.join(300)
    assert not any(th.is_alive() for th in threads)
    assert not [e for e in log.errors if "busy" in e or str(sc.TRY_AGAIN) in e], log.errors
    check_exact(log, names, k)
    # and retrying stays the exception: at most one unit of work in 20 ran again
    retried = sum(db.counts["retries"] for db in dbs) - retried_before
    calls = len(log.handed) + len(log.submitted)
    assert retried <= max(5, calls // 20), (retried, calls)

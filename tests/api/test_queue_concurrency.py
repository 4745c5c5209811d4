"""32 labelers pulling and submitting at once against the running server: every input is done by
exactly ``workers_per_input`` distinct workers, never by the same worker twice, and nothing is
handed out beyond that -- on SQLite and, with LABELDESK_TEST_DATABASE_URL, on PostgreSQL."""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from clarifai_grpc.channel.clarifai_channel import ClarifaiChannel
from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api import service_pb2 as s
from clarifai_grpc.grpc.api import service_pb2_grpc
from clarifai_grpc.grpc.api.status import status_code_pb2 as sc
from google.protobuf import json_format
from sqlalchemy import func, select

from labeldesk.app import RunningServer
from labeldesk.storage import tables as t
from tests.helpers import IMG, AppFixture, ok

WORKERS = 32
TABS = 4  # the first TABS workers run two threads each (two browser tabs on one account)
N_INPUTS = 240
A = s.PutTaskAssignmentsRequestAction


def new_stub(server: RunningServer, transport: str) -> Any:
    """One stub per thread (the JSON channel's HTTP session is not shared between threads)."""
    if transport == "rest":
        return service_pb2_grpc.V2Stub(ClarifaiChannel.get_json_channel(base_url=server.base_url))
    channel = ClarifaiChannel.get_insecure_grpc_channel(base="127.0.0.1", port=server.grpc_port)
    return service_pb2_grpc.V2Stub(channel)


@dataclass
class Log:
    lock: threading.Lock = field(default_factory=threading.Lock)
    handed: list[tuple[str, str]] = field(default_factory=list)  # (input, worker) per LABEL_START item
    submitted: list[tuple[str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def labeler(stub: Any, app: AppFixture, task_id: str, worker: str, meta: Any, log: Log) -> None:
    def put(action: int, **fields: Any) -> Any:
        req = s.PutTaskAssignmentsRequest(user_app_id=app.uai, task_id=task_id, action=action, **fields)
        return stub.PutTaskAssignments(req, metadata=meta)

    try:
        while True:
            got = put(A.LABEL_START)
            if got.status.code != sc.SUCCESS:
                with log.lock:
                    log.errors.append(f"{worker} LABEL_START: {got.status.code} {got.status.description}")
                return
            ids = [a.input.id for a in got.task_assignments]
            with log.lock:
                log.handed.extend((i, worker) for i in ids)
            if not ids:
                return
            for input_id in ids:
                done = put(A.LABEL_SUBMIT, input_id=input_id)
                with log.lock:
                    if done.status.code == sc.SUCCESS:
                        log.submitted.append((input_id, worker))
                    elif "not assigned" not in done.status.description:  # the other tab submitted it
                        log.errors.append(f"{worker} LABEL_SUBMIT {input_id}: {done.status.description}")
    except Exception as e:  # pragma: no cover - reported by the test
        with log.lock:
            log.errors.append(f"{worker}: {e!r}")


def run_team(
    server: RunningServer,
    app: AppFixture,
    transport: str,
    worker: Callable[[list[str]], dict[str, Any]],
    n_inputs: int = N_INPUTS,
) -> tuple[Log, list[str], list[str]]:
    members = [app.new_user(f"c{i}") for i in range(WORKERS)]
    ids = [u for u, _ in members]
    owner = new_stub(server, transport)
    ok(
        owner.PostConcepts(
            s.PostConceptsRequest(user_app_id=app.uai, concepts=[r.Concept(id="cat")]), metadata=app.meta
        )
    )
    names = [f"in-{i:04d}" for i in range(n_inputs)]
    for start in range(0, n_inputs, 100):
        batch = [r.Input(id=n, data=r.Data(image=r.Image(url=IMG))) for n in names[start : start + 100]]
        ok(owner.PostInputs(s.PostInputsRequest(user_app_id=app.uai, inputs=batch), metadata=app.meta))
    task = json_format.ParseDict(
        {"id": "race", "concept_ids": ["cat"], "worker": worker(ids), "input_source": {"type": "ALL_INPUTS"}},
        r.Task(),
    )
    ok(owner.PostTasks(s.PostTasksRequest(user_app_id=app.uai, tasks=[task]), metadata=app.meta))
    log = Log()
    barrier = threading.Barrier(WORKERS + TABS)

    def go(uid: str, meta: Any) -> None:
        stub = new_stub(server, transport)
        barrier.wait()
        labeler(stub, app, "race", uid, meta, log)

    threads = [threading.Thread(target=go, args=m) for m in members + members[:TABS]]
    for th in threads:
        th.start()
    for th in threads:
        th.join(300)
    assert not any(th.is_alive() for th in threads), "a labeler hung"
    return log, names, ids


def check_exact(log: Log, names: list[str], k: int) -> None:
    """Exactly k distinct workers did each input; nothing was handed to anyone else. (A worker's
    two tabs may both submit the same input: the second is a harmless retry of the first.)"""
    assert log.errors == []
    per_input: dict[str, set[str]] = defaultdict(set)
    for input_id, worker in log.submitted:
        per_input[input_id].add(worker)
    assert sorted(per_input) == names, "every input was done"
    wrong = {i: ws for i, ws in per_input.items() if len(ws) != k}
    assert wrong == {}, f"inputs not done by exactly {k} distinct workers"
    handed: dict[str, set[str]] = defaultdict(set)
    for input_id, worker in log.handed:
        handed[input_id].add(worker)
    assert handed == per_input, "an input was handed to a worker who did not do it (more than k workers)"
    assert len(set(log.submitted)) == k * len(names)


def seats_per_input(server: RunningServer, app: AppFixture) -> Counter[int]:
    """How many SUCCESS seats each input of this app's task has, straight from the database."""
    ta, tk, ap = t.task_assignments.c, t.tasks.c, t.apps.c
    app_pk = select(ap.pk).where(ap.user_id == app.user_id, ap.id == app.app_id).scalar_subquery()
    task_pk = select(tk.pk).where(tk.app_pk == app_pk, tk.id == "race").scalar_subquery()
    with server.app.db.read() as conn:
        q = (
            select(ta.input_pk, func.count())
            .where(ta.task_pk == task_pk, ta.status == sc.TASK_ASSIGNMENT_SUCCESS)
            .group_by(ta.input_pk)
        )
        return Counter(int(n) for _, n in conn.execute(q))


@pytest.mark.parametrize("transport", ["grpc", "rest"])
def test_dynamic_32_workers_exactly_k_per_input(
    server: RunningServer, app: AppFixture, transport: str
) -> None:
    k = 3
    log, names, _ = run_team(
        server,
        app,
        transport,
        lambda ids: {
            "strategy": "DYNAMIC",
            "user_ids": ids,
            "partitioned_strategy_info": {"workers_per_input": k},
        },
    )
    check_exact(log, names, k)
    assert seats_per_input(server, app) == Counter({k: N_INPUTS}), "the database agrees"


def test_partitioned_32_workers_exactly_k_per_input(server: RunningServer, app: AppFixture) -> None:
    k = 2
    log, names, ids = run_team(
        server,
        app,
        "grpc",
        lambda ids: {
            "strategy": "PARTITIONED",
            "user_ids": ids,
            "partitioned_strategy_info": {"type": "EVENLY", "workers_per_input": k},
        },
    )
    check_exact(log, names, k)
    assert seats_per_input(server, app) == Counter({k: N_INPUTS})
    shares = Counter(w for _, w in set(log.submitted))
    expected = k * N_INPUTS / WORKERS
    assert all(w in shares for w in ids) and max(shares.values()) <= 3 * expected, shares


def test_full_32_workers_everyone_everything_once(server: RunningServer, app: AppFixture) -> None:
    log, names, _ = run_team(server, app, "grpc", lambda ids: {"strategy": "FULL", "user_ids": ids}, 40)
    check_exact(log, names, WORKERS)
    assert seats_per_input(server, app) == Counter({WORKERS: len(names)})

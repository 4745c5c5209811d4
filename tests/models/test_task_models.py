"""Model workers on a task, beside humans: PatchTasks adding a model queues its job and removing
it cancels the job; humans are never handed an input the model has not decided yet; a slow or
garbage-answering backend fails per input with a clear error and the task goes on for humans;
calls to one backend never exceed its ``max_concurrency``, across jobs and PostModelOutputs;
inputs that join the task's dataset after the model passed them (older ones below its mark, new ones
after it finished) are predicted too, and humans get them only once the model decided them."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2
from sqlalchemy import select

from labeldesk.jobs.kinds import job_worker
from labeldesk.storage import tables as t
from tests.api.test_auto_annotation import (
    N,
    job_of,
    oip_scores,
    pixel_png,
    scores_of,
    seed_task_body,
    setup_app,
    wait_done,
)
from tests.api.test_models import binding, png_input, post_model, predict
from tests.helpers import AppFixture, fails, ok
from tests.model_servers import ModelServer, model_server


@pytest.fixture
def stub(grpc_stub: Any) -> Any:
    """One transport is enough here (REST and gRPC share the services; tasks go over REST)."""
    return grpc_stub


class Gate:
    """Answers ``oip_scores`` one request per :meth:`open` (so a test decides when the model has
    decided a batch)."""

    def __init__(self) -> None:
        self.permits = threading.Semaphore(0)

    def answer(self, path: str, body: Any) -> tuple[int, bytes]:
        assert self.permits.acquire(timeout=60), "the test never opened the gate"
        return oip_scores(path, body)

    def open(self, n: int = 1) -> None:
        for _ in range(n):
            self.permits.release()


@pytest.fixture
def gated() -> Iterator[tuple[ModelServer, Gate]]:
    gate = Gate()
    with model_server() as s:
        s.answer = gate.answer
        yield s, gate
        gate.open(100)  # let a job still waiting finish


def tasks_url(app: AppFixture) -> str:
    return f"{app.server.base_url}/v2/users/{app.user_id}/apps/{app.app_id}/tasks"


def post_task(app: AppFixture, body: dict[str, Any]) -> dict[str, Any]:
    res = requests.post(tasks_url(app), headers={"Authorization": f"Key {app.pat}"}, json=body, timeout=30)
    assert res.status_code == 200, res.text
    task: dict[str, Any] = res.json()["tasks"][0]
    return task


def patch_task(app: AppFixture, task: dict[str, Any]) -> None:
    res = requests.patch(
        tasks_url(app),
        headers={"Authorization": f"Key {app.pat}"},
        json={"action": "overwrite", "tasks": [task]},
        timeout=30,
    )
    assert res.status_code == 200, res.text


def human_next(stub: Any, app: AppFixture, task_id: str) -> list[str]:
    req = service_pb2.ListNextTaskAssignmentsRequest(user_app_id=app.uai, task_id=task_id)
    return [i.id for i in ok(stub.ListNextTaskAssignments(req, metadata=app.meta)).inputs]


def left_to_humans(v: int) -> bool:
    cat, dog = scores_of(v)
    return not (0.7 <= cat <= 0.999 or 0.4 < dog < 0.6)


def wait_for(what: str, check: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def with_human(body: dict[str, Any], app: AppFixture) -> dict[str, Any]:
    body["tasks"][0]["worker"]["workers"].append({"user": {"id": app.user_id}})
    return body


def test_humans_wait_for_inputs_the_model_has_not_decided(
    stub: Any, app: AppFixture, gated: tuple[ModelServer, Gate]
) -> None:
    server, gate = gated
    version = setup_app(stub, app, server.url)
    task_id = post_task(app, with_human(seed_task_body("pets-clf", version, "pets"), app))["id"]
    wait_for("the model's first call", lambda: len(server.requests) == 1)
    assert human_next(stub, app, task_id) == []  # in000..in039 all wait for the model
    gate.open()  # the model decides in000..in031
    wait_for("the first batch", lambda: job_of(app, task_id).progress.get("done") == 32)
    first = human_next(stub, app, task_id)
    assert first == [f"in{v:03d}" for v in range(32) if left_to_humans(v)][:10]
    gate.open()
    assert wait_done(app, task_id).state == "done"
    handed: list[str] = []
    while batch := human_next(stub, app, task_id):
        handed += batch
        for input_id in batch:  # submit so the next call hands out new inputs
            ok(
                stub.PutTaskAssignments(
                    service_pb2.PutTaskAssignmentsRequest(
                        user_app_id=app.uai,
                        task_id=task_id,
                        input_id=input_id,
                        action=service_pb2.PutTaskAssignmentsRequestAction.LABEL_SUBMIT,
                    ),
                    metadata=app.meta,
                )
            )
    assert sorted(handed) == [f"in{v:03d}" for v in range(N) if left_to_humans(v)]


def test_patching_a_model_worker_in_queues_its_job_and_out_cancels_it(
    stub: Any, app: AppFixture, gated: tuple[ModelServer, Gate]
) -> None:
    server, gate = gated
    version = setup_app(stub, app, server.url)
    body = with_human(seed_task_body("pets-clf", version, "pets"), app)
    model_worker = body["tasks"][0]["worker"]["workers"].pop(0)
    task = post_task(app, body)
    assert human_next(stub, app, task["id"]) != []  # humans only: nothing waits
    task["worker"]["workers"].append(model_worker)
    patch_task(app, task)
    wait_for("the model's first call", lambda: len(server.requests) == 1)
    assert job_of(app, task["id"]).state in ("queued", "running")
    task["worker"]["workers"] = [w for w in task["worker"]["workers"] if "model" not in w]
    patch_task(app, task)
    assert job_of(app, task["id"]).state == "cancelled"
    gate.open(10)
    wait_for("the worker to let go", lambda: job_of(app, task["id"]).state == "cancelled")
    time.sleep(0.5)  # a job that kept going would have sent its second batch by now
    assert len(server.requests) == 1
    got = ok(
        stub.GetTask(
            service_pb2.GetTaskRequest(
                user_app_id=app.uai, task_id=task["id"], additional_fields=["progress"]
            ),
            metadata=app.meta,
        )
    ).task
    assert "auto_annotation" not in got.metadata.fields  # no model worker any more: no progress shown
    # adding it again queues a fresh job that finishes the task's inputs
    task["worker"]["workers"].append(model_worker)
    patch_task(app, task)
    wait_for("the new job", lambda: newest_job(app, task["id"]).state == "done")
    assert newest_job(app, task["id"]).progress["done"] == N


def newest_job(app: AppFixture, task_id: str) -> Any:
    with app.server.app.db.read() as conn:
        rows = conn.execute(select(t.jobs).where(t.jobs.c.kind == "auto_annotation").order_by(t.jobs.c.pk))
        return [r for r in rows if r.payload["task_id"] == task_id][-1]


@pytest.mark.parametrize(
    ("delay_s", "answer", "error"),
    [
        (1.0, None, "did not answer within 0.3 s"),
        (0.0, lambda path, body: (200, b"<html>busy</html>"), "answered something that is not JSON"),
        (
            0.0,
            lambda path, body: (200, b'{"outputs": [{"name": "scores", "data": [0.5]}]}'),
            "not a multiple of 32",
        ),
    ],
    ids=["slow", "not-json", "bad-values"],
)
def test_a_slow_or_garbage_backend_fails_per_input_and_humans_get_the_inputs(
    stub: Any, app: AppFixture, delay_s: float, answer: Any, error: str
) -> None:
    with model_server() as server:
        server.delay_s = delay_s
        server.answer = answer or oip_scores
        version = setup_app(stub, app, server.url)
        ok(
            stub.PatchModels(
                service_pb2.PatchModelsRequest(
                    user_app_id=app.uai,
                    action="overwrite",
                    models=[
                        resources_pb2.Model(
                            id="pets-clf",
                            metadata=binding(backend="oip", url=server.url, model_name="pets", timeout_s=0.3),
                        )
                    ],
                ),
                metadata=app.meta,
            )
        )
        task_id = post_task(app, with_human(seed_task_body("pets-clf", version, "pets"), app))["id"]
        job = wait_done(app, task_id)
    assert job.state == "done" and job.progress["failed"] == N and job.progress["annotated"] == 0
    assert error in job.progress["errors"][0] and job.progress["errors"][0].startswith("input in000: ")
    assert human_next(stub, app, task_id) == [f"in{v:03d}" for v in range(10)]


def test_calls_to_a_backend_never_exceed_its_max_concurrency(stub: Any, app: AppFixture) -> None:
    limit = 2
    with model_server() as server:
        server.delay_s = 0.2
        server.answer = oip_scores
        setup_app(stub, app, server.url)
        m = resources_pb2.Model(
            id="pets-clf",
            metadata=binding(backend="oip", url=server.url, model_name="pets", max_concurrency=limit),
        )
        ok(
            stub.PatchModels(
                service_pb2.PatchModelsRequest(user_app_id=app.uai, action="overwrite", models=[m]),
                metadata=app.meta,
            )
        )
        replica = job_worker(app.server.app.db, app.server.app.exports, app.server.app.hosting).start()
        try:  # two tasks on the same backend, worked by two job workers, and direct predictions
            tasks = [post_task(app, seed_task_body("pets-clf", "", "pets"))["id"] for _ in range(2)]
            callers = [
                threading.Thread(
                    target=lambda: [predict(stub, app, "pets-clf", png_input()) for _ in range(3)]
                )
                for _ in range(3)
            ]
            for c in callers:
                c.start()
            for c in callers:
                c.join(60)
            for task_id in tasks:
                assert wait_done(app, task_id).state == "done"
        finally:
            replica.stop()
    assert server.max_in_flight == limit  # reached, never exceeded


# --------------------------------------------------------------------------- inputs that join late

RESCAN = 31.0  # seconds past the session server's source_rescan_seconds (30)
TO_HUMANS, ANNOTATED = 1, 30  # pixel values: the fake model leaves the first to humans, annotates the second
assert left_to_humans(TO_HUMANS) and not left_to_humans(ANNOTATED)


def image(input_id: str, v: int, datasets: list[str] | None = None) -> resources_pb2.Input:
    data = resources_pb2.Data(image=resources_pb2.Image(base64=pixel_png(v)))
    return resources_pb2.Input(id=input_id, data=data, dataset_ids=datasets or [])


def submit_all(stub: Any, app: AppFixture, task_id: str) -> list[str]:
    handed: list[str] = []
    while batch := human_next(stub, app, task_id):
        handed += batch
        for input_id in batch:
            req = service_pb2.PutTaskAssignmentsRequest(
                user_app_id=app.uai,
                task_id=task_id,
                input_id=input_id,
                action=service_pb2.PutTaskAssignmentsRequestAction.LABEL_SUBMIT,
            )
            ok(stub.PutTaskAssignments(req, metadata=app.meta))
    return handed


def model_annotated(stub: Any, app: AppFixture, version: str) -> set[str]:
    req = service_pb2.ListAnnotationsRequest(user_app_id=app.uai, model_version_ids=[version], per_page=100)
    return {a.input_id for a in ok(stub.ListAnnotations(req, metadata=app.meta)).annotations}


def test_inputs_joining_after_the_job_finished_are_predicted_before_humans_get_them(
    stub: Any, app: AppFixture, gated: tuple[ModelServer, Gate], clock: Callable[[float], None]
) -> None:
    server, gate = gated
    old = [image("old-h", TO_HUMANS), image("old-m", ANNOTATED)]  # older than the task's inputs
    ok(stub.PostInputs(service_pb2.PostInputsRequest(user_app_id=app.uai, inputs=old), metadata=app.meta))
    version = setup_app(stub, app, server.url)
    task_id = post_task(app, with_human(seed_task_body("pets-clf", version, "pets"), app))["id"]
    gate.open(2)  # 40 inputs: two batches
    wait_for("the job", lambda: newest_job(app, task_id).state == "done")
    assert submit_all(stub, app, task_id)  # the human is through the task's inputs
    asked, first = len(server.requests), newest_job(app, task_id)

    # two old inputs join the dataset below the job's mark, a new one above it
    add = service_pb2.PostDatasetInputsRequest(
        user_app_id=app.uai,
        dataset_id="pets",
        dataset_inputs=[resources_pb2.DatasetInput(input=i) for i in old],
    )
    ok(stub.PostDatasetInputs(add, metadata=app.meta))
    new = [image("new-h", TO_HUMANS, ["pets"]), image("new-m", ANNOTATED, ["pets"])]
    ok(stub.PostInputs(service_pb2.PostInputsRequest(user_app_id=app.uai, inputs=new), metadata=app.meta))

    clock(RESCAN)  # the human queue's rescan is due: it finds the old ones
    assert human_next(stub, app, task_id) == []  # all four wait for the model
    wait_for("the job queued again", lambda: newest_job(app, task_id).state in ("queued", "running"))
    assert human_next(stub, app, task_id) == []
    gate.open(2)  # the new inputs above the mark, then the old ones below it
    wait_for("its second run", lambda: newest_job(app, task_id).state == "done")
    bodies = [body["inputs"][0]["data"] for _, _, _, body in server.requests[asked:]]
    assert sorted(len(b) for b in bodies) == [2, 2]  # each late input asked about once
    again = newest_job(app, task_id)  # the same job, its count going on: the two new, the two old
    assert (again.pk, again.progress["done"]) == (first.pk, first.progress["done"] + 4)
    assert model_annotated(stub, app, version) >= {"old-m", "new-m"}

    clock(RESCAN)
    assert sorted(submit_all(stub, app, task_id)) == ["new-h", "old-h"]


# --------------------------------------------------------------------------- the model read per call


def test_a_patched_or_deleted_model_is_what_the_next_prediction_uses(stub: Any, app: AppFixture) -> None:
    """PostModelOutputs keeps what it read of a model between calls; PatchModels and DeleteModel
    take effect on the very next call."""
    answer = {"outputs": [{"name": "scores", "shape": [1, 1], "data": [0.5], "datatype": "FP32"}]}
    with model_server() as first, model_server() as second:
        first.json_answer(answer)
        second.json_answer(answer)
        ok(post_model(stub, app, "m", ["cat"], backend="oip", url=first.url, model_name="a", token="t1"))
        for _ in range(2):
            ok(predict(stub, app, "m", png_input()))
        m = resources_pb2.Model(
            id="m", metadata=binding(backend="oip", url=second.url, model_name="b", token="t2")
        )
        patched = ok(
            stub.PatchModels(
                service_pb2.PatchModelsRequest(user_app_id=app.uai, models=[m], action="overwrite"),
                metadata=app.meta,
            )
        ).models[0]
        out = ok(predict(stub, app, "m", png_input())).outputs[0]
        assert out.model.model_version.id == patched.model_version.id
        assert [(r[1], r[2]["Authorization"]) for r in first.requests] == [
            ("/v2/models/a/infer", "Bearer t1")
        ] * 2
        assert [(r[1], r[2]["Authorization"]) for r in second.requests] == [
            ("/v2/models/b/infer", "Bearer t2")
        ]
        ok(
            stub.DeleteModel(
                service_pb2.DeleteModelRequest(user_app_id=app.uai, model_id="m"), metadata=app.meta
            )
        )
        fails(predict(stub, app, "m", png_input()), status_code_pb2.CONN_DOES_NOT_EXIST, "m")
        assert len(second.requests) == 1

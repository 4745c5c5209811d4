"""Pre-labels and the work queue, over both transports: while the pre-label job runs (a test
model server holding its second batch back), LABEL_START hands out the inputs whose pre-labels
are ready first and, when none is, the next ones anyway marked ``prelabel.state: pending``; inputs
that join the task's dataset after the job finished get pre-labels from a re-queued job; a
classification task is pre-labelled with the model's tags and their kept/removed outcomes count."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from google.protobuf import json_format
from sqlalchemy import select

from labeldesk.storage import tables as t
from tests.api.test_models import post_model
from tests.api.test_prelabels import (
    assisted_task,
    boxes_answer,
    get_task,
    label_start,
    post_concepts,
    post_inputs,
    post_task,
    submit,
    wait_prelabels,
)
from tests.helpers import PNG_1PX, AppFixture, ok
from tests.model_servers import model_server

Source = resources_pb2.TaskInputSource


def jobs_of(app: AppFixture, task_id: str) -> list[Any]:
    with app.server.app.db.read() as conn:
        rows = conn.execute(select(t.jobs).where(t.jobs.c.kind == "prelabels").order_by(t.jobs.c.pk)).all()
    return [r for r in rows if r.payload["task_id"] == task_id]


def pk_of(app: AppFixture, input_id: str) -> int:
    with app.server.app.db.read() as conn:
        A = t.apps.c
        app_pk = select(A.pk).where(A.user_id == app.user_id, A.id == app.app_id).scalar_subquery()
        q = select(t.inputs.c.pk).where(t.inputs.c.app_pk == app_pk, t.inputs.c.id == input_id)
        return int(conn.execute(q).scalar_one())


def first_call_then_held(gate: threading.Event, calls: list[int]) -> Callable[[str, Any], tuple[int, bytes]]:
    """A model server's answer (boxes) that counts its calls in ``calls`` and holds every call
    after the first until ``gate`` is set."""

    def held(path: str, body: Any) -> tuple[int, bytes]:
        calls.append(1)
        if len(calls) > 1:
            gate.wait(50)
        return boxes_answer(path, body)

    return held


def wait_done_inputs(app: AppFixture, task_id: str, n: int) -> None:
    deadline = time.monotonic() + 60
    while not any(int((j.progress or {}).get("done", 0)) >= n for j in jobs_of(app, task_id)):
        assert time.monotonic() < deadline, [j.progress for j in jobs_of(app, task_id)]
        time.sleep(0.05)


def state(a: resources_pb2.TaskAssignment) -> Any:
    return json_format.MessageToDict(a.input.data.metadata)["prelabel"]["state"]


def test_label_start_during_the_job_prefers_inputs_whose_prelabels_are_ready(
    stub: Any, app: AppFixture
) -> None:
    post_concepts(stub, app, "face", "hat")
    gate, calls = threading.Event(), []
    held = first_call_then_held(gate, calls)  # the second batch waits for the test

    ids = [f"in{n:02d}" for n in range(40)]
    with model_server() as oip:
        oip.answer = held
        ok(post_model(stub, app, "det", ["face"], backend="oip", url=oip.url, model_name="det", timeout_s=60))
        post_inputs(stub, app, ids, PNG_1PX)
        labeler, meta = app.new_user("labeler")
        task = post_task(stub, app, assisted_task(app, labeler, "det", min_threshold=0.5))
        try:
            wait_done_inputs(app, task.id, 16)  # the first batch of 16 is done, the second held
            first = label_start(stub, app, meta, task.id)
            assert [a.input.id for a in first] == ids[:10]
            assert all(state(a) == "ready" and len(a.input.data.regions) == 1 for a in first)
            for a in first:
                submit(stub, app, meta, task.id, a.input.id, [])
            # in10..in19 are the labeler's next inputs; only in10..in15 have their pre-labels
            second = label_start(stub, app, meta, task.id)
            assert [a.input.id for a in second] == ids[10:16]
            assert all(state(a) == "ready" and a.input.data.regions for a in second)
            for a in second:
                submit(stub, app, meta, task.id, a.input.id, [])
            # none ready: the labeler is not kept waiting, the inputs say their pre-labels are pending
            third = label_start(stub, app, meta, task.id)
            assert [a.input.id for a in third] == ids[16:26]
            assert all(state(a) == "pending" and not a.input.data.regions for a in third)
            assert jobs_of(app, task.id)[-1].state == "running"
        finally:
            gate.set()
        job = wait_prelabels(app, task.id)
        assert job.progress["done"] == 40 and job.progress["prelabelled"] == 40, job.progress
    # the work handed out pending comes with its pre-labels when asked for again
    again = label_start(stub, app, meta, task.id)
    assert [a.input.id for a in again] == ids[16:26]
    assert all(state(a) == "ready" and len(a.input.data.regions) == 1 for a in again)
    assert len(jobs_of(app, task.id)) == 1  # everything handed out had been through the job


def test_a_new_input_gets_the_job_going_on_from_where_it_stopped(stub: Any, app: AppFixture) -> None:
    """An input new to the source (above where the finished job stopped) queues the same job again
    from there: it does not walk the task's whole source again to find it."""
    post_concepts(stub, app, "face")
    gate, calls = threading.Event(), []
    held = first_call_then_held(gate, calls)  # the second run waits for the test

    with model_server() as oip:
        oip.answer = held
        ok(post_model(stub, app, "det", ["face"], backend="oip", url=oip.url, model_name="det", timeout_s=60))
        post_inputs(stub, app, ["first"], PNG_1PX)
        labeler, meta = app.new_user("labeler")
        task = post_task(stub, app, assisted_task(app, labeler, "det", min_threshold=0.5))
        done = wait_prelabels(app, task.id)
        assert done.progress["after_pk"] == pk_of(app, "first")
        try:
            (seat,) = label_start(stub, app, meta, task.id)
            submit(stub, app, meta, task.id, seat.input.id, [])
            post_inputs(stub, app, ["second"], PNG_1PX)
            (pending,) = label_start(stub, app, meta, task.id)
            assert pending.input.id == "second" and state(pending) == "pending"
            (again,) = jobs_of(app, task.id)  # the same job, from where it stopped
            assert (again.pk, again.progress["after_pk"]) == (done.pk, pk_of(app, "first"))
        finally:
            gate.set()
        job = wait_prelabels(app, task.id)
        assert (job.progress["done"], job.progress["prelabelled"], len(calls)) == (2, 2, 2), job.progress


def test_inputs_joining_the_dataset_after_the_job_get_prelabels(
    stub: Any, app: AppFixture, clock: Callable[[float], None]
) -> None:
    post_concepts(stub, app, "face")
    ok(
        stub.PostDatasets(
            service_pb2.PostDatasetsRequest(user_app_id=app.uai, datasets=[resources_pb2.Dataset(id="ds")]),
            metadata=app.meta,
        )
    )

    def into_ds(*ids: str) -> None:
        inputs = [
            resources_pb2.Input(
                id=i, dataset_ids=["ds"], data=resources_pb2.Data(image=resources_pb2.Image(base64=PNG_1PX))
            )
            for i in ids
        ]
        ok(
            stub.PostInputs(
                service_pb2.PostInputsRequest(user_app_id=app.uai, inputs=inputs), metadata=app.meta
            )
        )

    with model_server() as oip:
        oip.answer = boxes_answer
        ok(post_model(stub, app, "det", ["face"], backend="oip", url=oip.url, model_name="det"))
        post_inputs(stub, app, ["old"], PNG_1PX)  # below the queue's watermark, not in the dataset yet
        into_ds("a", "b", "c")
        post_inputs(stub, app, ["elsewhere"], PNG_1PX)
        spec = assisted_task(app, app.user_id, "det", min_threshold=0.5)
        spec.input_source.CopyFrom(Source(type=Source.DATASET, id="ds"))
        task = post_task(stub, app, spec)
        assert wait_prelabels(app, task.id).progress["prelabelled"] == 3
        assert {a.input.id for a in label_start(stub, app, app.meta, task.id)} == {"a", "b", "c"}

        # both join after the job finished: "late" above the watermark, "old" below it (found by
        # the queue's source rescan, due again after source_rescan_seconds)
        into_ds("late")
        req = service_pb2.PostDatasetInputsRequest(
            user_app_id=app.uai,
            dataset_id="ds",
            dataset_inputs=[resources_pb2.DatasetInput(input=resources_pb2.Input(id="old"))],
        )
        ok(stub.PostDatasetInputs(req, metadata=app.meta))
        clock(31)
        handed = label_start(stub, app, app.meta, task.id)
        # the queue planned both; their pre-labels are not ready, so the ready work comes first
        assert {a.input.id for a in handed} == {"a", "b", "c"}
        # the job was queued again for the newcomers: the same job, walking the source again
        (again,) = jobs_of(app, task.id)
        # from just below "old", the lowest input it has not been through
        assert again.state in ("queued", "running") and again.progress["after_pk"] == pk_of(app, "old") - 1
        job = wait_prelabels(app, task.id)
        assert job.pk == again.pk
        assert (job.progress["done"], job.progress["prelabelled"]) == (3 + 2, 3 + 2), job.progress
    seats = {a.input.id: a for a in label_start(stub, app, app.meta, task.id)}
    assert set(seats) == {"a", "b", "c", "late", "old"}
    assert all(state(seats[i]) == "ready" and len(seats[i].input.data.regions) == 1 for i in ("late", "old"))
    # a later LABEL_START with everything gone through queues nothing
    label_start(stub, app, app.meta, task.id)
    assert [(j.pk, j.state) for j in jobs_of(app, task.id)] == [(job.pk, "done")]


def test_a_classification_task_is_prelabelled_with_tags(stub: Any, app: AppFixture) -> None:
    post_concepts(stub, app, "cat", "dog", "bird")
    scores = {"outputs": [{"name": "scores", "datatype": "FP32", "shape": [1, 3], "data": [0.9, 0.7, 0.1]}]}
    with model_server() as oip:
        oip.json_answer(scores)
        ok(
            post_model(
                stub, app, "tagger", ["cat", "dog", "bird"], backend="oip", url=oip.url, model_name="t"
            )
        )
        post_inputs(stub, app, ["pet"], PNG_1PX)
        spec = assisted_task(app, app.user_id, "tagger", min_threshold=0.5)
        spec.type = resources_pb2.Task.CONCEPTS_CLASSIFICATION
        spec.ClearField("concept_ids")
        spec.concept_ids.extend(["cat", "dog", "bird"])
        task = post_task(stub, app, spec)
        job = wait_prelabels(app, task.id)
        assert (job.progress["prelabelled"], job.progress["concepts"], job.progress["regions"]) == (1, 2, 0)
    (seat,) = label_start(stub, app, app.meta, task.id)
    marker = json_format.MessageToDict(seat.input.data.metadata)["prelabel"]
    assert marker["state"] == "ready" and marker["model_id"] == "tagger"
    assert [(c["id"], round(c["value"], 2)) for c in marker["concepts"]] == [("cat", 0.9), ("dog", 0.7)]
    assert not seat.input.data.regions
    # the labeler keeps "cat", removes "dog" (and adds nothing)
    ann = resources_pb2.Annotation(
        input_id="pet",
        task_id=task.id,
        data=resources_pb2.Data(concepts=[resources_pb2.Concept(id="cat", value=1)]),
    )
    ok(
        stub.PostAnnotations(
            service_pb2.PostAnnotationsRequest(user_app_id=app.uai, annotations=[ann]), metadata=app.meta
        )
    )
    submit(stub, app, app.meta, task.id, "pet", [])
    (model,) = json_format.MessageToDict(get_task(stub, app, task.id, "metrics").metadata)["prelabels"][
        "models"
    ]
    assert (model["total"], model["kept"], model["changed"], model["removed"]) == (2, 1, 0, 1)
    assert model["acceptance_rate"] == 0.5
    assert model["tags"] == {"total": 2, "kept": 1, "changed": 0, "removed": 1, "acceptance_rate": 0.5}

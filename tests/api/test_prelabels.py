"""Pre-labels over both transports: a task names a model as its assistant (``ai_assistant``,
``ai_assist_params``); a background job stores the model's suggestions as model-made annotations
(hidden from ListAnnotations by default); LABEL_START hands them out as regions marked with the
model; LABEL_SUBMIT records per pre-label whether the labeler kept, changed or removed it; GetTask
metrics report the acceptance rate per model. Models: the built-in face detector on
scikit-image's astronaut, and an Open Inference Protocol server the test runs."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import requests
from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2
from google.protobuf import json_format
from sqlalchemy import select

from labeldesk.storage import tables as t
from tests.api.test_models import astronaut_png, post_model
from tests.helpers import AppFixture, fails, ok
from tests.model_servers import model_server

SC = status_code_pb2
Action = service_pb2.PutTaskAssignmentsRequestAction


def post_inputs(stub: Any, app: AppFixture, ids: list[str], image: bytes) -> None:
    inputs = [
        resources_pb2.Input(id=i, data=resources_pb2.Data(image=resources_pb2.Image(base64=image)))
        for i in ids
    ]
    ok(stub.PostInputs(service_pb2.PostInputsRequest(user_app_id=app.uai, inputs=inputs), metadata=app.meta))


def post_concepts(stub: Any, app: AppFixture, *ids: str) -> None:
    req = service_pb2.PostConceptsRequest(
        user_app_id=app.uai, concepts=[resources_pb2.Concept(id=c) for c in ids]
    )
    ok(stub.PostConcepts(req, metadata=app.meta))


def assisted_task(app: AppFixture, worker: str, model_id: str, **params: float) -> resources_pb2.Task:
    task = resources_pb2.Task(
        type=resources_pb2.Task.BOUNDING_BOX_DETECTION,
        name="faces",
        worker=resources_pb2.TaskWorker(strategy=resources_pb2.TaskWorker.FULL, user_ids=[worker]),
        concept_ids=["face"],
        input_source=resources_pb2.TaskInputSource(type=resources_pb2.TaskInputSource.ALL_INPUTS),
        review=resources_pb2.TaskReview(strategy=resources_pb2.TaskReview.NONE),
        ai_assistant=resources_pb2.TaskAIAssistant(workflow_id=model_id),
    )
    if params:
        task.ai_assist_params.CopyFrom(resources_pb2.AiAssistParameters(**params))
    return task


def post_task(stub: Any, app: AppFixture, task: resources_pb2.Task) -> resources_pb2.Task:
    req = service_pb2.PostTasksRequest(user_app_id=app.uai, tasks=[task])
    return ok(stub.PostTasks(req, metadata=app.meta)).tasks[0]


def wait_prelabels(app: AppFixture, task_id: str) -> Any:
    deadline = time.monotonic() + 60
    while True:
        with app.server.app.db.read() as conn:
            # in pk order: PostgreSQL returns rows in no given order (an updated job's new row
            # version can come after a newer job's)
            prelabels = select(t.jobs).where(t.jobs.c.kind == "prelabels").order_by(t.jobs.c.pk)
            rows = conn.execute(prelabels).all()
        jobs = [r for r in rows if r.payload["task_id"] == task_id]
        if jobs and all(j.state in ("done", "failed") for j in jobs):
            return jobs[-1]
        assert time.monotonic() < deadline, jobs
        time.sleep(0.05)


def label_start(stub: Any, app: AppFixture, meta: Any, task_id: str) -> list[resources_pb2.TaskAssignment]:
    req = service_pb2.PutTaskAssignmentsRequest(
        user_app_id=app.uai, task_id=task_id, action=Action.LABEL_START
    )
    return list(ok(stub.PutTaskAssignments(req, metadata=meta)).task_assignments)


def submit(stub: Any, app: AppFixture, meta: Any, task_id: str, input_id: str, regions: list[Any]) -> None:
    if regions:
        ann = resources_pb2.Annotation(
            input_id=input_id, task_id=task_id, data=resources_pb2.Data(regions=regions)
        )
        ok(
            stub.PostAnnotations(
                service_pb2.PostAnnotationsRequest(user_app_id=app.uai, annotations=[ann]), metadata=meta
            )
        )
    req = service_pb2.PutTaskAssignmentsRequest(
        user_app_id=app.uai, task_id=task_id, input_id=input_id, action=Action.LABEL_SUBMIT
    )
    ok(stub.PutTaskAssignments(req, metadata=meta))


def get_task(stub: Any, app: AppFixture, task_id: str, *fields: str) -> resources_pb2.Task:
    req = service_pb2.GetTaskRequest(user_app_id=app.uai, task_id=task_id, additional_fields=list(fields))
    return ok(stub.GetTask(req, metadata=app.meta)).task


def test_the_face_model_prelabels_and_the_labelers_choices_are_counted(stub: Any, app: AppFixture) -> None:
    post_concepts(stub, app, "face", "person")
    ok(post_model(stub, app, "faces", ["face"], backend="builtin"))
    ids = ["keep", "move", "drop"]
    post_inputs(stub, app, ids, astronaut_png())
    labeler, meta = app.new_user("labeler")
    task = post_task(stub, app, assisted_task(app, labeler, "faces"))
    assert task.ai_assistant.workflow_id == "faces"
    job = wait_prelabels(app, task.id)
    assert job.state == "done" and job.progress["prelabelled"] == 3, job.progress

    # model-made: hidden from ListAnnotations by default, listed with list_all_annotations
    plain = ok(
        stub.ListAnnotations(service_pb2.ListAnnotationsRequest(user_app_id=app.uai), metadata=app.meta)
    )
    assert not [a for a in plain.annotations if a.task_id == task.id]
    every = ok(
        stub.ListAnnotations(
            service_pb2.ListAnnotationsRequest(user_app_id=app.uai, list_all_annotations=True),
            metadata=app.meta,
        )
    )
    made = [a for a in every.annotations if a.task_id == task.id]
    assert len(made) == 3 and all(
        a.model_version_id and a.status.code == SC.ANNOTATION_AWAITING_REVIEW for a in made
    )

    seats = {a.input.id: a for a in label_start(stub, app, meta, task.id)}
    assert sorted(seats) == sorted(ids)
    for seat in seats.values():
        (region,) = seat.input.data.regions
        marker = json_format.MessageToDict(region.data.metadata)["prelabel"]
        assert marker["model_id"] == "faces" and marker["model_version_id"] == made[0].model_version_id
        assert region.data.concepts[0].id == "face" and 0 < region.value <= 1
        b = region.region_info.bounding_box
        assert 0.05 < b.top_row < 0.15 and 0.28 < b.left_col < 0.38  # Eileen Collins' face

    def copy(input_id: str) -> resources_pb2.Region:
        r = resources_pb2.Region()
        r.CopyFrom(seats[input_id].input.data.regions[0])
        r.data.ClearField("metadata")
        return r

    kept = copy("keep")
    moved = copy("move")
    moved.region_info.bounding_box.left_col += 0.05
    moved.region_info.bounding_box.right_col += 0.05
    submit(stub, app, meta, task.id, "keep", [kept])
    submit(stub, app, meta, task.id, "move", [moved])
    submit(stub, app, meta, task.id, "drop", [])

    got = get_task(stub, app, task.id, "metrics")
    (model,) = json_format.MessageToDict(got.metadata)["prelabels"]["models"]
    assert model["model_id"] == "faces" and model["model_version_id"] == made[0].model_version_id
    assert (model["total"], model["kept"], model["changed"], model["removed"]) == (3, 1, 1, 1)
    assert model["acceptance_rate"] == pytest.approx(0.3333, abs=1e-4)
    # the same report over plain REST JSON
    raw = requests.get(
        f"{app.server.base_url}/v2/users/{app.user_id}/apps/{app.app_id}/tasks/{task.id}",
        params={"additional_fields": "metrics"},
        headers={"Authorization": f"Key {app.pat}"},
        timeout=10,
    ).json()
    assert raw["task"]["metadata"]["prelabels"]["models"][0]["kept"] == 1
    assert raw["task"]["ai_assistant"] == {"workflow_id": "faces"}
    # a resubmission (relabelled) replaces the labeler's earlier outcome on that input
    relabelled = copy("keep")
    relabelled.data.concepts[0].id = "person"
    relabelled.id = kept.id
    ann = ok(
        stub.ListAnnotations(
            service_pb2.ListAnnotationsRequest(user_app_id=app.uai, user_ids=[labeler], input_ids=["keep"]),
            metadata=app.meta,
        )
    ).annotations[0]
    ann.data.ClearField("regions")
    ann.data.regions.append(relabelled)
    ok(
        stub.PatchAnnotations(
            service_pb2.PatchAnnotationsRequest(user_app_id=app.uai, annotations=[ann], action="overwrite"),
            metadata=meta,
        )
    )
    req = service_pb2.PutTaskAssignmentsRequest(
        user_app_id=app.uai, task_id=task.id, input_id="keep", action=Action.LABEL_SUBMIT
    )
    ok(stub.PutTaskAssignments(req, metadata=meta))
    (model,) = json_format.MessageToDict(get_task(stub, app, task.id, "metrics").metadata)["prelabels"][
        "models"
    ]
    assert (model["kept"], model["changed"], model["removed"]) == (0, 2, 1)


def boxes_answer(path: str, body: Any) -> tuple[int, bytes]:
    n = len(body["inputs"][0]["data"])
    boxes = [0.1, 0.1, 0.3, 0.3, 0.5, 0.5, 0.7, 0.7, 0.2, 0.6, 0.4, 0.9] * n
    out = {
        "outputs": [
            {"name": "boxes", "datatype": "FP32", "shape": [n, 3, 4], "data": boxes},
            {"name": "box_scores", "datatype": "FP32", "shape": [n, 3], "data": [0.9, 0.3, 0.8] * n},
            {"name": "box_labels", "datatype": "BYTES", "shape": [n, 3], "data": ["face", "face", "hat"] * n},
        ]
    }
    return 200, json.dumps(out).encode()


def test_thresholds_and_task_concepts_limit_the_prelabels(stub: Any, app: AppFixture) -> None:
    post_concepts(stub, app, "face", "hat")
    with model_server() as oip:
        oip.answer = boxes_answer
        ok(post_model(stub, app, "det", ["face", "hat"], backend="oip", url=oip.url, model_name="det"))
        post_inputs(stub, app, ["one"], astronaut_png())
        task = post_task(stub, app, assisted_task(app, app.user_id, "det", min_threshold=0.5))
        assert wait_prelabels(app, task.id).state == "done"
    (seat,) = label_start(stub, app, app.meta, task.id)
    (region,) = seat.input.data.regions  # 0.3 is under the threshold, "hat" is not a task concept
    assert region.data.concepts[0].id == "face" and region.value == pytest.approx(0.9)
    assert task.ai_assist_params.min_threshold == pytest.approx(0.5)
    # the owner labels too: the pre-label stays a model's annotation, the submission is the owner's
    submit(stub, app, app.meta, task.id, "one", [])
    (model,) = json_format.MessageToDict(get_task(stub, app, task.id, "metrics").metadata)["prelabels"][
        "models"
    ]
    assert (model["total"], model["removed"], model["acceptance_rate"]) == (1, 1, 0)


def test_a_bad_assistant_is_refused_naming_the_field(stub: Any, app: AppFixture) -> None:
    post_concepts(stub, app, "face")
    ok(post_model(stub, app, "faces", ["face"], backend="builtin"))
    req = service_pb2.PostTasksRequest(user_app_id=app.uai, tasks=[assisted_task(app, app.user_id, "nope")])
    fails(
        stub.PostTasks(req, metadata=app.meta),
        SC.CONN_DOES_NOT_EXIST,
        "tasks[0].ai_assistant.workflow_id",
        "nope",
    )
    bad = assisted_task(app, app.user_id, "faces", min_threshold=0.9, max_threshold=0.2)
    req = service_pb2.PostTasksRequest(user_app_id=app.uai, tasks=[bad])
    fails(stub.PostTasks(req, metadata=app.meta), SC.CONN_INVALID_REQUEST, "tasks[0].ai_assist_params")
    node = assisted_task(app, app.user_id, "")
    node.ai_assistant.workflow.nodes.add(
        id="n", model=resources_pb2.Model(id="faces", model_version=resources_pb2.ModelVersion(id="v0"))
    )
    req = service_pb2.PostTasksRequest(user_app_id=app.uai, tasks=[node])
    fails(stub.PostTasks(req, metadata=app.meta), SC.CONN_DOES_NOT_EXIST, "nodes[0].model.id", "v0")
    # PatchTasks: naming the assistant later queues the job; an unknown one is refused
    task = post_task(stub, app, assisted_task(app, app.user_id, "faces"))
    task.ai_assistant.workflow_id = "gone"
    req = service_pb2.PatchTasksRequest(user_app_id=app.uai, tasks=[task], action="overwrite")
    fails(
        stub.PatchTasks(req, metadata=app.meta), SC.CONN_DOES_NOT_EXIST, "tasks[0].ai_assistant.workflow_id"
    )
    listed = ok(stub.ListTasks(service_pb2.ListTasksRequest(user_app_id=app.uai), metadata=app.meta)).tasks
    assert [x.ai_assistant.workflow_id for x in listed] == ["faces"]

"""Auto-annotation tasks: the Clarifai docs' auto_annotation.sh body (a task whose worker is a
model, with per-concept auto_annotation_config) posted over REST, run in the background by the
jobs worker against an Open Inference Protocol server the test runs; predictions inside each
concept's range become annotations with that status, the task id and the model version; the
other inputs are left to humans; a rerun annotates no input twice; a dead backend fails per input."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import cv2
import numpy as np
import pytest
import requests
from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2
from sqlalchemy import select

from labeldesk.jobs.auto_annotation import run_auto_annotation
from labeldesk.storage import tables as t
from tests.api.test_models import binding
from tests.helpers import AppFixture, ok
from tests.model_servers import ModelServer, model_server

SC = status_code_pb2
N = 40


def pixel_png(v: int) -> bytes:
    good, png = cv2.imencode(".png", np.full((2, 2), v, np.uint8))
    assert good
    return bytes(png)


def scores_of(v: int) -> tuple[float, float]:
    """What the fake model answers for the image of pixel value ``v``: (cat, dog)."""
    return v / N, (v % 10) / 10


def oip_scores(path: str, body: Any) -> tuple[int, bytes]:
    import json

    values = []
    for b64 in body["inputs"][0]["data"]:
        img = cv2.imdecode(np.frombuffer(base64.b64decode(b64), np.uint8), cv2.IMREAD_GRAYSCALE)
        values.extend(scores_of(int(img[0, 0])))
    n = len(values) // 2
    out = {"outputs": [{"name": "scores", "datatype": "FP32", "shape": [n, 2], "data": values}]}
    return 200, json.dumps(out).encode()


@pytest.fixture
def oip() -> Iterator[ModelServer]:
    with model_server(oip_scores) as s:
        yield s


def seed_task_body(model_id: str, version_id: str, dataset_id: str) -> dict[str, Any]:
    """auto_annotation.sh's body with our ids, plus a second concept with its own range and status."""
    concept = {
        "concept": {"id": "cat"},
        "auto_annotation_config": {
            "annotation_data_types": 1,
            "threshold_range": {
                "is_lower_inclusive": True,
                "is_upper_inclusive": True,
                "lower": 0.7,
                "upper": 0.999,
            },
            "status_code": 24150,
        },
    }
    dog = {
        "concept": {"id": "dog"},
        "auto_annotation_config": {
            "annotation_data_types": 1,
            "threshold_range": {
                "is_lower_inclusive": False,
                "is_upper_inclusive": False,
                "lower": 0.4,
                "upper": 0.6,
            },
            "status_code": 24151,
        },
    }
    return {
        "tasks": [
            {
                "type": "TYPE_NOT_SET",
                "name": "Auto-Annotate cat",
                "worker": {
                    "strategy": "FULL",
                    "workers": [{"model": {"id": model_id, "model_version": {"id": version_id}}}],
                },
                "concepts": [concept, dog],
                "input_source": {"type": "DATASET", "id": dataset_id},
                "sample_ms": 1000,
                "review": {"strategy": "NONE"},
            }
        ]
    }


def job_of(app: AppFixture, task_id: str) -> Any:
    with app.server.app.db.read() as conn:
        rows = conn.execute(select(t.jobs).where(t.jobs.c.kind == "auto_annotation")).all()
    return next(r for r in rows if r.payload["task_id"] == task_id)


def wait_done(app: AppFixture, task_id: str) -> Any:
    deadline = time.monotonic() + 60
    while (job := job_of(app, task_id)).state not in ("done", "failed"):
        assert time.monotonic() < deadline, job
        time.sleep(0.05)
    return job


def setup_app(stub: Any, app: AppFixture, url: str) -> str:
    ok(
        stub.PostConcepts(
            service_pb2.PostConceptsRequest(
                user_app_id=app.uai,
                concepts=[resources_pb2.Concept(id="cat"), resources_pb2.Concept(id="dog")],
            ),
            metadata=app.meta,
        )
    )
    ok(
        stub.PostDatasets(
            service_pb2.PostDatasetsRequest(user_app_id=app.uai, datasets=[resources_pb2.Dataset(id="pets")]),
            metadata=app.meta,
        )
    )
    inputs = [
        resources_pb2.Input(
            id=f"in{v:03d}",
            dataset_ids=["pets"],
            data=resources_pb2.Data(image=resources_pb2.Image(base64=pixel_png(v))),
        )
        for v in range(N)
    ]
    ok(stub.PostInputs(service_pb2.PostInputsRequest(user_app_id=app.uai, inputs=inputs), metadata=app.meta))
    m = resources_pb2.Model(id="pets-clf", metadata=binding(backend="oip", url=url, model_name="pets"))
    m.output_info.data.concepts.add(id="cat")
    m.output_info.data.concepts.add(id="dog")
    model = ok(
        stub.PostModels(service_pb2.PostModelsRequest(user_app_id=app.uai, models=[m]), metadata=app.meta)
    ).model
    return str(model.model_version.id)


def test_the_docs_auto_annotation_task_annotates_inside_the_ranges(
    stub: Any, app: AppFixture, oip: ModelServer
) -> None:
    version = setup_app(stub, app, oip.url)
    res = requests.post(
        f"{app.server.base_url}/v2/users/{app.user_id}/apps/{app.app_id}/tasks",
        headers={"Authorization": f"Key {app.pat}", "Content-Type": "application/json"},
        json=seed_task_body("pets-clf", version, "pets"),
        timeout=30,
    )
    assert res.status_code == 200, res.text
    task_id = res.json()["tasks"][0]["id"]
    assert res.json()["tasks"][0]["worker"]["workers"][0]["model"]["id"] == "pets-clf"
    job = wait_done(app, task_id)
    assert job.state == "done", job.error
    expected: dict[str, set[tuple[str, int]]] = {}
    for v in range(N):
        cat, dog = scores_of(v)
        got = set()
        if 0.7 <= cat <= 0.999:
            got.add(("cat", SC.ANNOTATION_SUCCESS))
        if 0.4 < dog < 0.6:
            got.add(("dog", SC.ANNOTATION_PENDING))
        if got:
            expected[f"in{v:03d}"] = got
    req = service_pb2.ListAnnotationsRequest(
        user_app_id=app.uai, model_version_ids=[version], list_all_annotations=True, per_page=1000
    )
    anns = ok(stub.ListAnnotations(req, metadata=app.meta)).annotations
    actual: dict[str, set[tuple[str, int]]] = {}
    for a in anns:
        assert a.task_id == task_id and a.model_version_id == version
        actual.setdefault(a.input_id, set()).update((c.id, a.status.code) for c in a.data.concepts)
    assert actual == expected
    assert job.progress["done"] == N and job.progress["annotated"] == len(expected)
    assert job.progress["to_humans"] == N - len(expected)
    got = ok(
        stub.GetTask(
            service_pb2.GetTaskRequest(user_app_id=app.uai, task_id=task_id, additional_fields=["progress"]),
            metadata=app.meta,
        )
    ).task
    (shown,) = got.metadata["auto_annotation"]
    assert shown["model_id"] == "pets-clf" and shown["state"] == "done"
    assert (shown["done"], shown["annotated"], shown["to_humans"]) == (N, len(expected), N - len(expected))
    # model-made annotations are not listed by default (user-made only)
    plain = ok(
        stub.ListAnnotations(service_pb2.ListAnnotationsRequest(user_app_id=app.uai), metadata=app.meta)
    )
    assert not [a for a in plain.annotations if a.model_version_id]
    # running the job again from scratch (a worker that died before storing progress) adds nothing
    calls = len(oip.requests)
    fresh = SimpleNamespace(payload=job.payload, progress={}, app_pk=job.app_pk)
    result = run_auto_annotation(app.server.app.db, fresh, lambda p: None, app.server.app.hosting)  # type: ignore[arg-type]
    assert result["annotated"] == len(expected)  # counted as annotated, not annotated again
    again = ok(stub.ListAnnotations(req, metadata=app.meta)).annotations
    assert len(again) == len(anns)
    assert len(oip.requests) == calls  # every input was decided (model_decisions): none is asked again


def test_a_dead_backend_fails_per_input_and_leaves_the_inputs_to_humans(stub: Any, app: AppFixture) -> None:
    with model_server() as gone:
        dead = gone.url
    version = setup_app(stub, app, dead)
    body = seed_task_body("pets-clf", version, "pets")
    body["tasks"][0]["worker"]["workers"].append({"user": {"id": app.user_id}})
    res = requests.post(
        f"{app.server.base_url}/v2/users/{app.user_id}/apps/{app.app_id}/tasks",
        headers={"Authorization": f"Key {app.pat}"},
        json=body,
        timeout=30,
    )
    assert res.status_code == 200, res.text
    job = wait_done(app, res.json()["tasks"][0]["id"])
    assert job.state == "done" and job.progress["failed"] == N
    assert "unreachable" in job.progress["errors"][0]


def test_a_task_naming_a_missing_model_or_bad_range_is_refused(stub: Any, app: AppFixture) -> None:
    version = setup_app(stub, app, "http://127.0.0.1:9")
    url = f"{app.server.base_url}/v2/users/{app.user_id}/apps/{app.app_id}/tasks"
    headers = {"Authorization": f"Key {app.pat}"}
    res = requests.post(url, headers=headers, json=seed_task_body("nope", "", "pets"), timeout=30)
    assert res.status_code == 404 and "nope" in res.json()["status"]["description"]
    body = seed_task_body("pets-clf", version, "pets")
    body["tasks"][0]["concepts"][0]["auto_annotation_config"]["threshold_range"]["lower"] = 1.5
    res = requests.post(url, headers=headers, json=body, timeout=30)
    assert res.status_code == 400 and "threshold_range" in res.json()["status"]["description"]


def test_humans_beside_the_model_get_only_the_inputs_it_left(
    stub: Any, app: AppFixture, oip: ModelServer
) -> None:
    version = setup_app(stub, app, oip.url)
    body = seed_task_body("pets-clf", version, "pets")
    body["tasks"][0]["worker"]["workers"].append({"user": {"id": app.user_id}})
    res = requests.post(
        f"{app.server.base_url}/v2/users/{app.user_id}/apps/{app.app_id}/tasks",
        headers={"Authorization": f"Key {app.pat}"},
        json=body,
        timeout=30,
    )
    assert res.status_code == 200, res.text
    task_id = res.json()["tasks"][0]["id"]
    assert wait_done(app, task_id).state == "done"
    left = [f"in{v:03d}" for v in range(N) if not (scores_of(v)[0] >= 0.7 or 0.4 < scores_of(v)[1] < 0.6)]
    req = service_pb2.ListNextTaskAssignmentsRequest(user_app_id=app.uai, task_id=task_id)
    given = ok(stub.ListNextTaskAssignments(req, metadata=app.meta)).inputs
    assert [i.id for i in given] == left[:10]  # in005 (a dog at 0.5) was annotated by the model


def test_a_job_killed_after_a_batch_resumes_without_redoing_an_input(
    stub: Any, app: AppFixture, oip: ModelServer
) -> None:
    """The worker dies in its first progress report (its batch written): the next run, from the
    stored progress, finishes the job with the same annotations, none twice. (A run from no
    progress at all is the rerun of the first test.)"""
    version = setup_app(stub, app, oip.url)
    res = requests.post(
        f"{app.server.base_url}/v2/users/{app.user_id}/apps/{app.app_id}/tasks",
        headers={"Authorization": f"Key {app.pat}"},
        json=seed_task_body("pets-clf", version, "pets"),
        timeout=30,
    )
    job = wait_done(app, res.json()["tasks"][0]["id"])
    req = service_pb2.ListAnnotationsRequest(
        user_app_id=app.uai, model_version_ids=[version], list_all_annotations=True, per_page=1000
    )
    before = sorted(
        (a.input_id, a.status.code) for a in ok(stub.ListAnnotations(req, metadata=app.meta)).annotations
    )
    # start over: no annotations or decisions of the task, then a run killed after its first batch
    with app.server.app.db.write() as conn:
        conn.execute(
            t.annotations.delete().where(
                t.annotations.c.task_id == job.payload["task_id"], t.annotations.c.pk > 0
            )
        )
        conn.execute(t.model_decisions.delete().where(t.model_decisions.c.task_pk == job.payload["task_pk"]))

    class Killed(Exception):
        pass

    stored: dict[str, Any] = {}

    def die(progress: dict[str, Any]) -> None:
        stored.update(progress)
        raise Killed

    first = SimpleNamespace(payload=job.payload, progress={}, app_pk=job.app_pk)
    with pytest.raises(Killed):
        run_auto_annotation(app.server.app.db, first, die, app.server.app.hosting)  # type: ignore[arg-type]
    assert stored["done"] == 32  # one batch written
    resumed = SimpleNamespace(payload=job.payload, progress=stored, app_pk=job.app_pk)
    result = run_auto_annotation(app.server.app.db, resumed, lambda p: None, app.server.app.hosting)  # type: ignore[arg-type]
    assert result["done"] == N
    after = sorted(
        (a.input_id, a.status.code) for a in ok(stub.ListAnnotations(req, metadata=app.meta)).annotations
    )
    assert after == before

"""Repeated and enum query parameters on REST GETs, as grpc-gateway reads them: repeated keys
(``user_ids=a&user_ids=b``), enums by name or number, dotted keys into messages
(``statuses.code=...``), plus the shorthand ``statuses=ANNOTATION_SUCCESS``. Each filter is checked
against the same filter over gRPC, and through the official JSON client where it can carry it."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api import service_pb2 as s
from clarifai_grpc.grpc.api.status import status_code_pb2 as sc
from clarifai_grpc.grpc.api.status import status_pb2

from tests.helpers import IMG, AppFixture, ok

PENDING = status_pb2.Status(code=sc.ANNOTATION_PENDING)


def rest_get(app: AppFixture, path: str, params: list[tuple[str, str]]) -> dict[str, Any]:
    """A raw GET with a key; the answer's JSON (any HTTP status)."""
    resp = requests.get(
        f"{app.server.base_url}{path}",
        params=params,
        headers={"Authorization": f"Key {app.app_key}"},
        timeout=10,
    )
    body: dict[str, Any] = resp.json()
    return body


@pytest.fixture
def annotated(stub: Any, app: AppFixture) -> dict[str, str]:
    """Three inputs; annotations by the owner (one pending) and by a worker: annotation id -> who."""
    ok(
        stub.PostInputs(
            s.PostInputsRequest(
                user_app_id=app.uai,
                inputs=[r.Input(id=i, data=r.Data(image=r.Image(url=IMG))) for i in ("q1", "q2", "q3")],
            ),
            metadata=app.meta,
        )
    )
    worker, worker_meta = app.new_user("worker")
    owner_anns = [
        r.Annotation(id="o1", input_id="q1"),
        r.Annotation(id="o2", input_id="q2", status=PENDING),
    ]
    ok(
        stub.PostAnnotations(
            s.PostAnnotationsRequest(user_app_id=app.uai, annotations=owner_anns), metadata=app.meta
        )
    )
    ok(
        stub.PostAnnotations(
            s.PostAnnotationsRequest(user_app_id=app.uai, annotations=[r.Annotation(id="w3", input_id="q3")]),
            metadata=worker_meta,
        )
    )
    return {"o1": app.user_id, "o2": app.user_id, "w3": worker}


def ann_ids(body: dict[str, Any]) -> set[str]:
    assert body["status"]["code"] == sc.SUCCESS, body["status"]
    return {a["id"] for a in body["annotations"]} - {""}


def user_anns(ids: set[str]) -> set[str]:
    """Drop the input-level annotations PostInputs makes (their ids are generated)."""
    return {i for i in ids if i in {"o1", "o2", "w3"}}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ([("statuses", "ANNOTATION_PENDING")], {"o2"}),
        ([("statuses", str(sc.ANNOTATION_PENDING))], {"o2"}),
        ([("statuses.code", "annotation_pending")], {"o2"}),
        ([("statuses", "ANNOTATION_PENDING"), ("statuses", "ANNOTATION_SUCCESS")], {"o1", "o2", "w3"}),
        ([("statuses.code", "ANNOTATION_SUCCESS")], {"o1", "w3"}),
        ([("input_ids", "q1"), ("input_ids", "q3")], {"o1", "w3"}),
        ([("input_ids", "q1,q2")], {"o1", "o2"}),
        ([("ids", "o1"), ("ids", "w3")], {"o1", "w3"}),
    ],
)
def test_list_annotations_filters_from_the_query_string(
    grpc_stub: Any,
    app: AppFixture,
    annotated: dict[str, str],
    params: list[tuple[str, str]],
    expected: set[str],
) -> None:
    body = rest_get(app, "/v2/annotations", [*params, ("list_all_annotations", "true")])
    assert user_anns(ann_ids(body)) == expected


def test_user_ids_repeated_keys_match_grpc(
    grpc_stub: Any, app: AppFixture, annotated: dict[str, str]
) -> None:
    worker = annotated["w3"]
    body = rest_get(app, "/v2/annotations", [("user_ids", worker), ("user_ids", app.user_id)])
    assert user_anns(ann_ids(body)) == {"o1", "o2", "w3"}
    only_worker = rest_get(app, "/v2/annotations", [("user_ids", worker)])
    over_grpc = ok(
        grpc_stub.ListAnnotations(
            s.ListAnnotationsRequest(user_app_id=app.uai, user_ids=[worker]), metadata=app.meta
        )
    )
    assert ann_ids(only_worker) == {a.id for a in over_grpc.annotations} == {"w3"}


def test_official_client_list_filters(stub: Any, app: AppFixture, annotated: dict[str, str]) -> None:
    """user_ids and input_ids are repeated strings: the JSON client sends them as repeated keys."""
    got = ok(
        stub.ListAnnotations(
            s.ListAnnotationsRequest(
                user_app_id=app.uai, user_ids=[annotated["w3"], app.user_id], input_ids=["q2", "q3"]
            ),
            metadata=app.meta,
        )
    )
    assert {a.id for a in got.annotations} == {"o2", "w3"}


def test_official_client_statuses(
    stub: Any, rest_stub: Any, app: AppFixture, annotated: dict[str, str]
) -> None:
    """Over gRPC ``statuses`` filters; the JSON client flattens the list to ``statuses=code`` (the
    values are lost before they leave the client), which is refused with the way to send it."""
    resp = stub.ListAnnotations(
        s.ListAnnotationsRequest(user_app_id=app.uai, statuses=[PENDING]), metadata=app.meta
    )
    if stub is rest_stub:
        assert resp.status.code == sc.CONN_INVALID_REQUEST, resp.status
        assert "'statuses.code=VALUE'" in resp.status.description
        return
    assert {a.id for a in ok(resp).annotations} == {"o2"}


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ([("statuses", "NOT_A_STATUS")], "statuses[0].code"),
        ([("statuses", "code")], "statuses.code=VALUE"),
        ([("statuses.code", "999999")], "statuses[0].code"),
        ([("per_page", "ten")], "per_page"),
        ([("list_all_annotations", "maybe")], "list_all_annotations"),
        ([("statuses", "{not json")], "statuses"),
    ],
)
def test_bad_values_name_the_parameter(app: AppFixture, params: list[tuple[str, str]], fragment: str) -> None:
    body = rest_get(app, "/v2/annotations", params)
    assert body["status"]["code"] == sc.CONN_INVALID_REQUEST, body
    assert fragment in body["status"]["description"]


def test_list_inputs_ids_and_status(stub: Any, app: AppFixture) -> None:
    ok(
        stub.PostInputs(
            s.PostInputsRequest(
                user_app_id=app.uai,
                inputs=[r.Input(id=i, data=r.Data(image=r.Image(url=IMG))) for i in ("a", "b", "c")],
            ),
            metadata=app.meta,
        )
    )
    by_client = ok(
        stub.ListInputs(s.ListInputsRequest(user_app_id=app.uai, ids=["a", "c"]), metadata=app.meta)
    )
    assert [i.id for i in by_client.inputs] in (["a", "c"], ["c", "a"])
    body = rest_get(app, "/v2/inputs", [("ids", "c"), ("ids", "b")])
    assert {i["id"] for i in body["inputs"]} == {"b", "c"}
    for status in ("INPUT_DOWNLOAD_SUCCESS", str(sc.INPUT_DOWNLOAD_SUCCESS)):
        assert len(rest_get(app, "/v2/inputs", [("status", status)])["inputs"]) == 3
        assert len(rest_get(app, "/v2/inputs", [("status.code", status)])["inputs"]) == 3
    bad = rest_get(app, "/v2/inputs", [("status", "DOWNLOADED")])
    assert bad["status"]["code"] == sc.CONN_INVALID_REQUEST and "status.code" in bad["status"]["description"]


def test_list_tasks_repeated_params(stub: Any, app: AppFixture) -> None:
    worker, _ = app.new_user("tw")
    other, _ = app.new_user("tw")
    ok(
        stub.PostConcepts(
            s.PostConceptsRequest(user_app_id=app.uai, concepts=[r.Concept(id="c")]), metadata=app.meta
        )
    )

    def task(task_id: str, user: str) -> r.Task:
        return r.Task(
            id=task_id,
            type=r.Task.CONCEPTS_CLASSIFICATION,
            concept_ids=["c"],
            worker=r.TaskWorker(strategy=r.TaskWorker.FULL, user_ids=[user]),
            input_source=r.TaskInputSource(type=r.TaskInputSource.ALL_INPUTS),
        )

    ok(
        stub.PostTasks(
            s.PostTasksRequest(user_app_id=app.uai, tasks=[task("t1", worker), task("t2", other)]),
            metadata=app.meta,
        )
    )
    client = ok(
        stub.ListTasks(
            s.ListTasksRequest(user_app_id=app.uai, worker_user_ids=[worker, other]), metadata=app.meta
        )
    )
    assert {t.id for t in client.tasks} == {"t1", "t2"}
    client_ids = ok(stub.ListTasks(s.ListTasksRequest(user_app_id=app.uai, ids=["t2"]), metadata=app.meta))
    assert [t.id for t in client_ids.tasks] == ["t2"]
    assert {t["id"] for t in rest_get(app, "/v2/tasks", [("worker_user_ids", worker)])["tasks"]} == {"t1"}
    both = rest_get(app, "/v2/tasks", [("worker_user_ids", worker), ("worker_user_ids", other)])
    assert {t["id"] for t in both["tasks"]} == {"t1", "t2"}
    by_ids = rest_get(app, "/v2/tasks", [("ids", "t1"), ("ids", "t2"), ("additional_fields", "all")])
    assert {t["id"] for t in by_ids["tasks"]} == {"t1", "t2"}
    bad = rest_get(app, "/v2/tasks", [("input_source_type", "EVERYTHING")])
    assert (
        bad["status"]["code"] == sc.CONN_INVALID_REQUEST
        and "input_source_type" in bad["status"]["description"]
    )

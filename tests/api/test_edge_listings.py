"""Listings at the edges, through the official client on both channels (and raw REST):
``ListTasks(including_label_order_tasks)`` is accepted and keeps every filter working (labeldesk
makes no label-order tasks, so it hides nothing); input listings show a concept's real name."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api import service_pb2 as s
from google.protobuf import json_format

from labeldesk.app import RunningServer
from tests.helpers import IMG, AppFixture, ok


def _listed(stub: Any, app: AppFixture, **fields: Any) -> list[str]:
    resp = ok(stub.ListTasks(s.ListTasksRequest(user_app_id=app.uai, **fields), metadata=app.meta))
    return [t.id for t in resp.tasks]


@pytest.fixture
def tasks(stub: Any, app: AppFixture) -> tuple[AppFixture, str]:
    """Three tasks: one plain, one with a worker (answered with the app), one carrying a label_order_id."""
    worker, _ = app.new_user("worker")
    ok(
        stub.PostConcepts(
            s.PostConceptsRequest(user_app_id=app.uai, concepts=[r.Concept(id="tree")]), metadata=app.meta
        )
    )
    made = [
        {"id": "plain", "concept_ids": ["tree"]},
        {"id": "assigned", "concept_ids": ["tree"], "worker": {"strategy": "FULL", "user_ids": [worker]}},
        {"id": "ordered", "concept_ids": ["tree"], "label_order_id": "order-1"},
    ]
    req = s.PostTasksRequest(
        user_app_id=app.uai,
        tasks=[json_format.ParseDict({"type": "CONCEPTS_CLASSIFICATION", **t}, r.Task()) for t in made],
    )
    ok(stub.PostTasks(req, metadata=app.meta))
    return app, worker


@pytest.mark.parametrize("including", [None, False, True])
def test_including_label_order_tasks_is_accepted_and_keeps_filters(
    stub: Any, tasks: tuple[AppFixture, str], including: bool | None
) -> None:
    flag = {} if including is None else {"including_label_order_tasks": including}
    app, worker = tasks
    assert _listed(stub, app, **flag) == ["plain", "assigned", "ordered"], "no task was made by a label order"
    assert _listed(stub, app, worker_user_ids=[worker], **flag) == ["assigned"]
    assert _listed(stub, app, label_order_ids=["order-1"], **flag) == ["ordered"]
    assert _listed(stub, app, ids=["ordered", "plain"], per_page=1, page=2, **flag) == ["ordered"]


@pytest.mark.parametrize("value", ["True", "false", "1"])
def test_including_label_order_tasks_in_a_rest_query_string(
    server: RunningServer, rest_stub: Any, app: AppFixture, value: str
) -> None:
    ok(
        rest_stub.PostConcepts(
            s.PostConceptsRequest(user_app_id=app.uai, concepts=[r.Concept(id="tree")]), metadata=app.meta
        )
    )
    task = json_format.ParseDict(
        {"id": "t1", "type": "CONCEPTS_CLASSIFICATION", "concept_ids": ["tree"], "label_order_id": "o"},
        r.Task(),
    )
    ok(rest_stub.PostTasks(s.PostTasksRequest(user_app_id=app.uai, tasks=[task]), metadata=app.meta))
    url = f"{server.base_url}/v2/users/{app.user_id}/apps/{app.app_id}/tasks"
    got = requests.get(
        url,
        params={"including_label_order_tasks": value, "label_order_ids": "o"},
        headers={"Authorization": f"Key {app.pat}"},
        timeout=30,
    )
    assert got.status_code == 200, got.text
    assert [t["id"] for t in got.json()["tasks"]] == ["t1"]


def test_input_listings_show_the_concepts_name(stub: Any, app: AppFixture) -> None:
    concepts = [r.Concept(id="c-17", name="Golden retriever"), r.Concept(id="plain")]
    ok(stub.PostConcepts(s.PostConceptsRequest(user_app_id=app.uai, concepts=concepts), metadata=app.meta))
    data = r.Data(
        image=r.Image(url=IMG), concepts=[r.Concept(id="c-17", value=1), r.Concept(id="plain", value=0)]
    )
    posted = ok(
        stub.PostInputs(
            s.PostInputsRequest(user_app_id=app.uai, inputs=[r.Input(id="dog", data=data)]), metadata=app.meta
        )
    )
    expected = [("c-17", "Golden retriever", 1.0), ("plain", "plain", 0.0)]

    def named(inp: r.Input) -> list[tuple[str, str, float]]:
        return sorted((c.id, c.name, c.value) for c in inp.data.concepts)

    listed = ok(stub.ListInputs(s.ListInputsRequest(user_app_id=app.uai), metadata=app.meta)).inputs
    assert [named(i) for i in listed] == [expected]
    one = ok(stub.GetInput(s.GetInputRequest(user_app_id=app.uai, input_id="dog"), metadata=app.meta)).input
    assert named(one) == expected
    assert posted.inputs[0].id == "dog"
    # a concept made without a name is named after its id; a rename shows at once
    rename = s.PatchConceptsRequest(
        user_app_id=app.uai, action="overwrite", concepts=[r.Concept(id="plain", name="Plain")]
    )
    ok(stub.PatchConcepts(rename, metadata=app.meta))
    one = ok(stub.GetInput(s.GetInputRequest(user_app_id=app.uai, input_id="dog"), metadata=app.meta)).input
    assert named(one) == [("c-17", "Golden retriever", 1.0), ("plain", "Plain", 0.0)]


def test_annotate_images_multiple_concepts_example(stub: Any, app: AppFixture) -> None:
    """Clarifai's docs example ``annotate_images_multiple_concepts.py`` as written: six concepts the
    app does not have, on an input-level annotation -- they are created (name = id), and
    ListAnnotations shows them."""
    INPUT_ID = "53d0362a9dfa4e03b2293375e2d0db73"
    CONCEPT_IDS_LIST = ["one", "two", "three", "four", "five", "six"]
    data = r.Data(image=r.Image(url=IMG))
    ok(
        stub.PostInputs(
            s.PostInputsRequest(user_app_id=app.uai, inputs=[r.Input(id=INPUT_ID, data=data)]),
            metadata=app.meta,
        )
    )
    userDataObject, metadata = app.uai, app.meta
    post_annotations_response = stub.PostAnnotations(
        s.PostAnnotationsRequest(
            user_app_id=userDataObject,
            annotations=[
                r.Annotation(
                    input_id=INPUT_ID,
                    data=r.Data(concepts=[r.Concept(id=str(i), value=1.0) for i in CONCEPT_IDS_LIST]),
                )
            ],
        ),
        metadata=metadata,
    )
    assert post_annotations_response.status.code == 10000, post_annotations_response.status
    made = ok(stub.ListConcepts(s.ListConceptsRequest(user_app_id=app.uai), metadata=app.meta)).concepts
    assert sorted((c.id, c.name) for c in made) == sorted((c, c) for c in CONCEPT_IDS_LIST)
    listed = ok(
        stub.ListAnnotations(
            s.ListAnnotationsRequest(user_app_id=app.uai, input_ids=[INPUT_ID]), metadata=app.meta
        )
    )
    assert [sorted((c.id, c.name, c.value) for c in a.data.concepts) for a in listed.annotations] == [
        sorted((c, c, 1.0) for c in CONCEPT_IDS_LIST)
    ]

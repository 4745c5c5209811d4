"""Every request example of the Annotations guide (seeds/003) and of Task Annotations (seeds/001),
replayed against labeldesk with only the base URL, key, user and app ids changed:

- the Python examples through the official client, on its REST and gRPC channels (``stub``);
- the curl examples as raw HTTP with ``requests``, bodies copied from the guide with the
  placeholders filled (app key, short ``/v2/...`` routes, as curl users send them);
- the JavaScript ``fetch`` examples where they differ (PAT + ``user_app_id`` in the body, or
  ``/v2/users/me/apps/...`` URLs).

Each test checks what was stored, not just the status. Where the guide's own code cannot run as
printed, the test says why in a comment and uses the evident intent:
- "Annotate Images with Different user_id and status" passes ``data=status_pb2.Status(...)``
  (protobuf raises TypeError); ``status=`` is meant;
- "Bulk Delete Annotations by Input Ids and Annotation IDs" passes ``annotation_id=[...]``, which
  DeleteAnnotationsRequest does not have (ValueError); ``ids=`` is meant (the curl example agrees);
- the List examples write ``["{YOUR_INPUT_ID_1}". "{YOUR_INPUT_ID_2}"]`` (a syntax error): a comma;
- two Patch examples call ``stub.PatcchAnnotations``: ``PatchAnnotations``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2, status_pb2

from tests.api.test_tasks_seed import TASK_ANNOTATION  # seeds/001, kept in one place
from tests.helpers import IMG, AppFixture, ok

EMBED = "bb186755eda04f9cbb6fe32e816be104"


# ----------------------------------------------------------------------------- set-up


def _seed(stub: Any, app: AppFixture) -> AppFixture:
    """The guide's concepts and three inputs (in-1, in-2, in-3)."""
    ok(
        stub.PostConcepts(
            service_pb2.PostConceptsRequest(
                user_app_id=app.uai,
                concepts=[resources_pb2.Concept(id=c) for c in ("tree", "water", "bike", "apple")],
            ),
            metadata=app.meta,
        )
    )
    ok(
        stub.PostInputs(
            service_pb2.PostInputsRequest(
                user_app_id=app.uai,
                inputs=[
                    resources_pb2.Input(
                        id=f"in-{n}", data=resources_pb2.Data(image=resources_pb2.Image(url=IMG))
                    )
                    for n in (1, 2, 3)
                ],
            ),
            metadata=app.meta,
        )
    )
    return app


@pytest.fixture
def seeded(stub: Any, app: AppFixture) -> AppFixture:
    """A seeded app for the Python examples (run once per transport)."""
    return _seed(stub, app)


@pytest.fixture
def rest_seeded(rest_stub: Any, app: AppFixture) -> AppFixture:
    """A seeded app for the raw-HTTP examples (which run once, not per transport)."""
    return _seed(rest_stub, app)


def curl(
    app: AppFixture,
    method: str,
    path: str,
    body: str | None = None,
    content_type: bool = True,
    key: str | None = None,
    **params: Any,
) -> dict[str, Any]:
    """One HTTP call as the guide's curl lines make it (app key, JSON body given as text)."""
    headers = {"Authorization": f"Key {key or app.app_key}"}
    if content_type:
        headers["Content-Type"] = "application/json"
    resp = requests.request(
        method, app.server.base_url + path, data=body, headers=headers, params=params, timeout=10
    )
    out: dict[str, Any] = resp.json()
    assert resp.status_code == 200 and out["status"]["code"] == 10000, (resp.status_code, out)
    return out


def fill(template: str, **values: str) -> str:
    for k, v in values.items():
        template = template.replace("{" + k + "}", v)
    return template


def values(data: Any) -> dict[str, float]:
    return {c.id: c.value for c in data.concepts}


def stored(stub: Any, app: AppFixture, **kw: Any) -> list[resources_pb2.Annotation]:
    return list(
        ok(
            stub.ListAnnotations(
                service_pb2.ListAnnotationsRequest(user_app_id=app.uai, per_page=100, **kw), metadata=app.meta
            )
        ).annotations
    )


def box_of(region: Any) -> tuple[float, float, float, float]:
    b = region.region_info.bounding_box
    return (b.top_row, b.left_col, b.bottom_row, b.right_col)


# ----------------------------------------------------------------------------- Add Annotations


def test_annotate_images_with_concepts_python(stub: Any, seeded: AppFixture) -> None:
    userDataObject, metadata = seeded.uai, seeded.meta
    post_annotations_response = stub.PostAnnotations(
        service_pb2.PostAnnotationsRequest(
            user_app_id=userDataObject,
            annotations=[
                resources_pb2.Annotation(
                    input_id="in-1",
                    data=resources_pb2.Data(
                        concepts=[
                            resources_pb2.Concept(id="tree", value=1.0),
                            resources_pb2.Concept(id="water", value=0.0),
                        ]
                    ),
                    embed_model_version_id=EMBED,
                )
            ],
        ),
        metadata=metadata,
    )
    ok(post_annotations_response)
    [a] = stored(stub, seeded)
    assert a.input_id == "in-1" and values(a.data) == {"tree": 1.0, "water": 0.0}
    assert a.embed_model_version_id == EMBED and a.status.code == status_code_pb2.ANNOTATION_SUCCESS


CONCEPTS_CURL = """
{
"annotations": [
{
"input_id": "{YOUR_INPUT_ID}",
"data": {
"concepts": [
{
"id": "tree",
"value": 1
},
{
"id": "water",
"value": 0
}
]
},
"embed_model_version_id": "{EMBED_MODEL_VERSION_ID}"
}
]
}"""


def test_annotate_images_with_concepts_curl_and_fetch(rest_seeded: AppFixture) -> None:
    app = rest_seeded
    body = fill(CONCEPTS_CURL, YOUR_INPUT_ID="in-1", EMBED_MODEL_VERSION_ID=EMBED)
    made = curl(app, "POST", "/v2/annotations", body)["annotations"][0]
    assert made["data"]["concepts"] == [
        {"id": "tree", "name": "tree", "value": 1},
        {"id": "water", "name": "water", "value": 0},
    ], "value 0 is emitted"
    # the JavaScript version: a PAT, user_app_id in the body
    js = json.loads(body)
    js["user_app_id"] = {"user_id": app.user_id, "app_id": app.app_id}
    js["annotations"][0]["input_id"] = "in-2"
    curl(app, "POST", "/v2/annotations", json.dumps(js), key=app.pat)
    listed = curl(app, "GET", "/v2/annotations", page=1, per_page=10)["annotations"]
    assert [(a["input_id"], a["embed_model_version_id"]) for a in listed] == [
        ("in-1", EMBED),
        ("in-2", EMBED),
    ]
    assert all(a["data"]["concepts"][1]["value"] == 0 for a in listed)


def test_annotate_new_bounding_boxes_python(stub: Any, seeded: AppFixture) -> None:
    userDataObject, metadata = seeded.uai, seeded.meta
    post_annotations_response = stub.PostAnnotations(
        service_pb2.PostAnnotationsRequest(
            user_app_id=userDataObject,
            annotations=[
                resources_pb2.Annotation(
                    input_id="in-1",
                    data=resources_pb2.Data(
                        regions=[
                            resources_pb2.Region(
                                region_info=resources_pb2.RegionInfo(
                                    bounding_box=resources_pb2.BoundingBox(
                                        top_row=0, left_col=0, bottom_row=0.5, right_col=0.5
                                    )
                                ),
                                data=resources_pb2.Data(
                                    concepts=[
                                        resources_pb2.Concept(id="tree", value=1.0),
                                        resources_pb2.Concept(id="water", value=0.0),
                                    ]
                                ),
                            )
                        ]
                    ),
                    embed_model_version_id=EMBED,
                ),
                resources_pb2.Annotation(
                    input_id="in-1",
                    data=resources_pb2.Data(
                        regions=[
                            resources_pb2.Region(
                                region_info=resources_pb2.RegionInfo(
                                    bounding_box=resources_pb2.BoundingBox(
                                        top_row=0.6, left_col=0.6, bottom_row=0.8, right_col=0.8
                                    )
                                ),
                                data=resources_pb2.Data(
                                    concepts=[resources_pb2.Concept(id="bike", value=1.0)]
                                ),
                            )
                        ]
                    ),
                    embed_model_version_id=EMBED,
                ),
            ],
        ),
        metadata=metadata,
    )
    ok(post_annotations_response)
    first, second = stored(stub, seeded)
    assert box_of(first.data.regions[0]) == (0, 0, 0.5, 0.5)
    assert values(first.data.regions[0].data) == {"tree": 1.0, "water": 0.0}
    assert box_of(second.data.regions[0]) == pytest.approx((0.6, 0.6, 0.8, 0.8))
    assert values(second.data.regions[0].data) == {"bike": 1.0}
    assert first.data.regions[0].id and second.data.regions[0].id


BOXES_CURL = """
{
"annotations": [
{
"input_id": "{YOUR_INPUT_ID}",
"data": {
"regions": [
{
"region_info": {
"bounding_box": {
"top_row": 0,
"left_col": 0,
"bottom_row": 0.5,
"right_col": 0.5
}
},
"data": {
"concepts": [
{
"id": "tree",
"value": 1
},
{
"id": "water",
"value": 0
}
]
}
}
]
},
"embed_model_version_id": "{EMBED_MODEL_VERSION_ID}"
}, {
"input_id": "{YOUR_INPUT_ID}",
"data": {
"regions": [
{
"region_info": {
"bounding_box": {
"top_row": 0.6,
"left_col": 0.6,
"bottom_row": 0.8,
"right_col": 0.8
}
},
"data": {
"concepts": [
{
"id": "bike",
"value": 1
}
]
}
}
]
},
"embed_model_version_id": "{EMBED_MODEL_VERSION_ID}"
}
]
}"""


def test_annotate_new_bounding_boxes_curl(rest_seeded: AppFixture) -> None:
    app = rest_seeded
    curl(app, "POST", "/v2/annotations", fill(BOXES_CURL, YOUR_INPUT_ID="in-1", EMBED_MODEL_VERSION_ID=EMBED))
    first, second = curl(app, "GET", "/v2/annotations", input_ids="in-1")["annotations"]
    assert first["data"]["regions"][0]["region_info"]["bounding_box"] == {
        "top_row": 0,
        "left_col": 0,
        "bottom_row": 0.5,
        "right_col": 0.5,
    }, "zero coordinates are emitted"
    assert second["data"]["regions"][0]["region_info"]["bounding_box"] == {
        "top_row": 0.6,
        "left_col": 0.6,
        "bottom_row": 0.8,
        "right_col": 0.8,
    }
    assert [c["id"] for c in second["data"]["regions"][0]["data"]["concepts"]] == ["bike"]


def _detected_regions(stub: Any, app: AppFixture) -> tuple[str, str]:
    """Two regions on in-1 as a detection model would have made them; their ids come from a
    list call, as the guide says."""
    ok(
        stub.PostAnnotations(
            service_pb2.PostAnnotationsRequest(
                user_app_id=app.uai,
                annotations=[
                    resources_pb2.Annotation(
                        input_id="in-1",
                        model_version_id="general-detection",
                        data=resources_pb2.Data(
                            regions=[
                                resources_pb2.Region(
                                    region_info=resources_pb2.RegionInfo(
                                        bounding_box=resources_pb2.BoundingBox(
                                            top_row=t, left_col=t, bottom_row=t + 0.2, right_col=t + 0.2
                                        )
                                    ),
                                    data=resources_pb2.Data(
                                        concepts=[resources_pb2.Concept(id="tree", value=0.9)]
                                    ),
                                )
                            ]
                        ),
                    )
                    for t in (0.1, 0.5)
                ],
            ),
            metadata=app.meta,
        )
    )
    detected = stored(stub, app, model_version_ids=["general-detection"])
    return detected[0].data.regions[0].id, detected[1].data.regions[0].id


def test_annotate_existing_regions_python(stub: Any, seeded: AppFixture) -> None:
    region_1, region_2 = _detected_regions(stub, seeded)
    userDataObject, metadata = seeded.uai, seeded.meta
    post_annotations_response = stub.PostAnnotations(
        service_pb2.PostAnnotationsRequest(
            user_app_id=userDataObject,
            annotations=[
                resources_pb2.Annotation(
                    input_id="in-1",
                    data=resources_pb2.Data(
                        regions=[
                            resources_pb2.Region(
                                id=region_1,
                                data=resources_pb2.Data(
                                    concepts=[
                                        resources_pb2.Concept(id="tree", value=1.0),
                                        resources_pb2.Concept(id="water", value=0.0),
                                    ]
                                ),
                            )
                        ]
                    ),
                    embed_model_version_id=EMBED,
                ),
                resources_pb2.Annotation(
                    input_id="in-1",
                    data=resources_pb2.Data(
                        regions=[
                            resources_pb2.Region(
                                id=region_2,
                                data=resources_pb2.Data(
                                    concepts=[resources_pb2.Concept(id="bike", value=1.0)]
                                ),
                            )
                        ]
                    ),
                    embed_model_version_id=EMBED,
                ),
            ],
        ),
        metadata=metadata,
    )
    ok(post_annotations_response)
    first, second = stored(stub, seeded)  # user-made only: the model's annotations are not listed
    assert first.data.regions[0].id == region_1 and box_of(first.data.regions[0]) == pytest.approx(
        (0.1, 0.1, 0.3, 0.3)
    )
    assert values(first.data.regions[0].data) == {"tree": 1.0, "water": 0.0}
    assert second.data.regions[0].id == region_2 and box_of(second.data.regions[0]) == pytest.approx(
        (0.5, 0.5, 0.7, 0.7)
    )


EXISTING_REGIONS_CURL = """
{
"annotations": [
{
"input_id": "{YOUR_INPUT_ID}",
"data": {
"regions": [
{
"id": "{REGION_ID_1}",
"data": {
"concepts": [
{
"id": "tree",
"value": 1
},
{
"id": "water",
"value": 0
}
]
}
}
]
},
"embed_model_version_id": "{EMBED_MODEL_VERSION_ID}"
}, {
"input_id": "{YOUR_INPUT_ID}",
"data": {
"regions": [
{
"id": "{REGION_ID_2}",
"data": {
"concepts": [
{
"id": "bike",
"value": 1
}
]
}
}
]
},
"embed_model_version_id": "{EMBED_MODEL_VERSION_ID}"
}
]
}"""


def test_annotate_existing_regions_curl(rest_stub: Any, rest_seeded: AppFixture) -> None:
    app = rest_seeded
    region_1, region_2 = _detected_regions(rest_stub, app)
    body = fill(
        EXISTING_REGIONS_CURL,
        YOUR_INPUT_ID="in-1",
        REGION_ID_1=region_1,
        REGION_ID_2=region_2,
        EMBED_MODEL_VERSION_ID=EMBED,
    )
    curl(app, "POST", "/v2/annotations", body)
    first, second = curl(app, "GET", "/v2/annotations")["annotations"]
    assert first["data"]["regions"][0]["id"] == region_1
    assert first["data"]["regions"][0]["region_info"]["bounding_box"]["top_row"] == pytest.approx(0.1)
    assert second["data"]["regions"][0]["id"] == region_2


def test_annotate_with_different_user_id_and_status_python(stub: Any, seeded: AppFixture) -> None:
    worker, worker_meta = seeded.new_user("worker")
    userDataObject, metadata = seeded.uai, seeded.meta
    # The guide writes data=status_pb2.Status(...) (a TypeError in protobuf); status= is meant.
    post_annotations_response = stub.PostAnnotations(
        service_pb2.PostAnnotationsRequest(
            user_app_id=userDataObject,
            annotations=[
                resources_pb2.Annotation(
                    input_id="in-1",
                    user_id=worker,
                    status=status_pb2.Status(code=status_code_pb2.ANNOTATION_PENDING),
                )
            ],
        ),
        metadata=metadata,
    )
    ok(post_annotations_response)
    [a] = stored(stub, seeded, user_ids=[worker])
    assert a.user_id == worker and a.status.code == status_code_pb2.ANNOTATION_PENDING
    # "only the app owner can post an annotation with other user's user_id, collaborators cannot"
    denied = stub.PostAnnotations(
        service_pb2.PostAnnotationsRequest(
            user_app_id=seeded.uai,
            annotations=[resources_pb2.Annotation(input_id="in-1", user_id=seeded.user_id)],
        ),
        metadata=worker_meta,
    )
    assert denied.status.code == status_code_pb2.ANNOTATION_PERMISSION_DENIED


USER_STATUS_CURL = """
{
"annotations": [
{
"input_id": "{YOUR_INPUT_ID}",
"user_id": "{USER_ID}",
"status": {
"code": "ANNOTATION_PENDING"
}
}
]
}"""


def test_annotate_with_different_user_id_and_status_curl(rest_seeded: AppFixture) -> None:
    app = rest_seeded
    worker, _ = app.new_user("worker")
    curl(app, "POST", "/v2/annotations", fill(USER_STATUS_CURL, YOUR_INPUT_ID="in-1", USER_ID=worker))
    # the JavaScript version sends the numeric code
    js = {
        "user_app_id": {"user_id": app.user_id, "app_id": app.app_id},
        "annotations": [{"input_id": "in-2", "user_id": worker, "status": {"code": 24151}}],
    }
    curl(app, "POST", "/v2/annotations", json.dumps(js), key=app.pat)
    listed = curl(app, "GET", "/v2/annotations", user_ids=worker)["annotations"]
    assert [(a["input_id"], a["user_id"], a["status"]["code"]) for a in listed] == [
        ("in-1", worker, 24151),
        ("in-2", worker, 24151),
    ]  # status codes are numbers, as Clarifai sends them


def test_task_annotations_curl_and_fetch(rest_seeded: AppFixture) -> None:
    """seeds/001: an annotation linked to a task through annotation_info.task_id."""
    app = rest_seeded
    body = TASK_ANNOTATION.replace("{{asset_id}}", "in-1").replace("{{task_id}}", "task-1")
    made = curl(app, "POST", "/v2/annotations", body)["annotations"][0]
    assert made["annotation_info"] == {"task_id": "task-1"} and made["task_id"] == "task-1"
    js = json.loads(body)
    js["user_app_id"] = {"user_id": app.user_id, "app_id": app.app_id}
    js["annotations"][0]["input_id"] = "in-2"
    curl(app, "POST", "/v2/annotations", json.dumps(js), key=app.pat)
    curl(
        app,
        "POST",
        "/v2/annotations",
        fill(CONCEPTS_CURL, YOUR_INPUT_ID="in-3", EMBED_MODEL_VERSION_ID=EMBED),
    )
    in_task = curl(app, "GET", "/v2/annotations", task_id="task-1")["annotations"]
    assert [a["input_id"] for a in in_task] == ["in-1", "in-2"]


def test_task_annotations_python(stub: Any, seeded: AppFixture) -> None:
    info = resources_pb2.Annotation().annotation_info
    info.update({"task_id": "task-1"})
    ok(
        stub.PostAnnotations(
            service_pb2.PostAnnotationsRequest(
                user_app_id=seeded.uai,
                annotations=[
                    resources_pb2.Annotation(
                        input_id="in-1",
                        annotation_info=info,
                        data=resources_pb2.Data(
                            concepts=[
                                resources_pb2.Concept(id="tree", value=1),
                                resources_pb2.Concept(id="water", value=0),
                            ]
                        ),
                    )
                ],
            ),
            metadata=seeded.meta,
        )
    )
    [a] = stored(stub, seeded, task_id="task-1")
    assert a.task_id == "task-1" and dict(a.annotation_info) == {"task_id": "task-1"}


# ----------------------------------------------------------------------------- List Annotations


def _list_fixture(stub: Any, app: AppFixture) -> dict[str, str]:
    """Annotations by the owner, a collaborator and a model, plus the input-level ones."""
    worker, worker_meta = app.new_user("worker")

    def post(meta: Any, *anns: resources_pb2.Annotation) -> None:
        ok(
            stub.PostAnnotations(
                service_pb2.PostAnnotationsRequest(user_app_id=app.uai, annotations=list(anns)), metadata=meta
            )
        )

    concepts = resources_pb2.Data(concepts=[resources_pb2.Concept(id="tree", value=1)])
    post(
        app.meta,
        resources_pb2.Annotation(id="own-1", input_id="in-1", data=concepts),
        resources_pb2.Annotation(id="own-2", input_id="in-2", data=concepts),
    )
    post(worker_meta, resources_pb2.Annotation(id="work-1", input_id="in-1", data=concepts))
    post(
        app.meta,
        resources_pb2.Annotation(id="model-1", input_id="in-3", model_version_id="mv-1", data=concepts),
        resources_pb2.Annotation(id="model-2", input_id="in-3", model_version_id="mv-2", data=concepts),
    )
    return {"worker": worker}


def test_list_annotations_python(stub: Any, seeded: AppFixture) -> None:
    ids = _list_fixture(stub, seeded)
    userDataObject, metadata = seeded.uai, seeded.meta

    def ids_of(**kw: Any) -> list[str]:
        list_annotations_response = stub.ListAnnotations(
            service_pb2.ListAnnotationsRequest(user_app_id=userDataObject, **kw), metadata=metadata
        )
        return [a.id for a in ok(list_annotations_response).annotations]

    assert ids_of(per_page=10) == ["own-1", "own-2", "work-1"]
    everything = ids_of(per_page=10, list_all_annotations=True)
    assert everything[3:] == ["own-1", "own-2", "work-1", "model-1", "model-2"] and len(everything) == 8
    assert ids_of(input_ids=["in-1", "in-2"], per_page=10) == ["own-1", "own-2", "work-1"]
    assert ids_of(input_ids=["in-1", "in-3"], ids=["own-1", "model-1"], per_page=10) == ["own-1", "model-1"]
    assert ids_of(user_ids=[ids["worker"], seeded.user_id], per_page=10) == ["own-1", "own-2", "work-1"]
    assert ids_of(user_ids=[ids["worker"]], per_page=10) == ["work-1"]
    assert ids_of(model_version_ids=["mv-1", "mv-2"], per_page=10) == ["model-1", "model-2"]


def test_list_annotations_curl(rest_stub: Any, rest_seeded: AppFixture) -> None:
    app = rest_seeded
    ids = _list_fixture(rest_stub, app)

    def ids_of(query: str, via_me: bool = False) -> list[str]:
        base = f"/v2/users/me/apps/{app.app_id}/annotations" if via_me else "/v2/annotations"
        resp = requests.get(
            f"{app.server.base_url}{base}?{query}",
            timeout=10,
            headers={"Authorization": f"Key {app.pat if via_me else app.app_key}"},
        )
        assert resp.status_code == 200, resp.text
        return [a["id"] for a in resp.json()["annotations"]]

    assert ids_of("page=1&per_page=10") == ["own-1", "own-2", "work-1"]
    assert ids_of("page=1&per_page=10", via_me=True) == ["own-1", "own-2", "work-1"]  # the fetch example
    assert len(ids_of("page=1&per_page=10&list_all_annotations=true")) == 8
    assert ids_of("page=1&per_page=10&input_ids=in-2") == ["own-2"]
    assert ids_of("page=1&per_page=10&input_ids=in-1&input_ids=in-3&ids=own-1&ids=model-1") == [
        "own-1",
        "model-1",
    ]
    assert ids_of(f"page=1&per_page=10&user_ids={ids['worker']}&user_ids={app.user_id}") == [
        "own-1",
        "own-2",
        "work-1",
    ]
    assert ids_of("page=1&per_page=10&model_version_ids=mv-1&model_version_ids=mv-2") == [
        "model-1",
        "model-2",
    ]


# ----------------------------------------------------------------------------- Update Annotations


def _one(stub: Any, app: AppFixture, **kw: Any) -> resources_pb2.Annotation:
    resp = ok(
        stub.PostAnnotations(
            service_pb2.PostAnnotationsRequest(
                user_app_id=app.uai, annotations=[resources_pb2.Annotation(input_id="in-1", **kw)]
            ),
            metadata=app.meta,
        )
    )
    return resp.annotations[0]


def _tree_box(**kw: Any) -> resources_pb2.Data:
    return resources_pb2.Data(
        regions=[
            resources_pb2.Region(
                region_info=resources_pb2.RegionInfo(
                    bounding_box=resources_pb2.BoundingBox(
                        top_row=0.1, left_col=0.1, bottom_row=0.4, right_col=0.4
                    )
                ),
                data=resources_pb2.Data(concepts=[resources_pb2.Concept(id="tree", value=1)]),
            )
        ],
        **kw,
    )


def test_update_annotation_with_concepts_python(stub: Any, seeded: AppFixture) -> None:
    made = _one(stub, seeded, data=resources_pb2.Data(concepts=[resources_pb2.Concept(id="tree", value=1)]))
    patch_annotations_response = stub.PatchAnnotations(
        service_pb2.PatchAnnotationsRequest(
            user_app_id=seeded.uai,
            action="merge",
            annotations=[
                resources_pb2.Annotation(
                    input_id="in-1",
                    id=made.id,
                    data=resources_pb2.Data(concepts=[resources_pb2.Concept(id="apple", value=1.0)]),
                )
            ],
        ),
        metadata=seeded.meta,
    )
    ok(patch_annotations_response)
    [a] = stored(stub, seeded)
    assert values(a.data) == {"tree": 1.0, "apple": 1.0}


def test_update_annotation_with_concepts_curl(rest_stub: Any, rest_seeded: AppFixture) -> None:
    app = rest_seeded
    made = _one(rest_stub, app, data=resources_pb2.Data(concepts=[resources_pb2.Concept(id="tree", value=1)]))
    body = """
{
"annotations": [
{
"input_id": "{YOUR_INPUT_ID}",
"id": "{YOUR_ANNOTATION_ID}",
"data": {
"concepts": [
{
"id": "apple",
"value": 1
}
]
}
}
],
"action":"merge"
}"""
    curl(app, "PATCH", "/v2/annotations", fill(body, YOUR_INPUT_ID="in-1", YOUR_ANNOTATION_ID=made.id))
    [a] = curl(app, "GET", "/v2/annotations")["annotations"]
    assert [(c["id"], c["value"]) for c in a["data"]["concepts"]] == [("tree", 1), ("apple", 1)]


def test_update_annotation_with_concepts_in_a_region_python(stub: Any, seeded: AppFixture) -> None:
    made = _one(stub, seeded, data=_tree_box())
    region_id = made.data.regions[0].id
    # The guide calls stub.PatcchAnnotations; PatchAnnotations is meant.
    patch_annotations_response = stub.PatchAnnotations(
        service_pb2.PatchAnnotationsRequest(
            user_app_id=seeded.uai,
            action="merge",
            annotations=[
                resources_pb2.Annotation(
                    input_id="in-1",
                    id=made.id,
                    data=resources_pb2.Data(
                        regions=[
                            resources_pb2.Region(
                                id=region_id,
                                data=resources_pb2.Data(
                                    concepts=[resources_pb2.Concept(id="tree", value=1.0)]
                                ),
                            )
                        ]
                    ),
                )
            ],
        ),
        metadata=seeded.meta,
    )
    ok(patch_annotations_response)
    [a] = stored(stub, seeded)
    assert [r.id for r in a.data.regions] == [region_id] and values(a.data.regions[0].data) == {"tree": 1.0}
    assert box_of(a.data.regions[0]) == pytest.approx((0.1, 0.1, 0.4, 0.4))


REGION_MERGE_CURL = """
{
"annotations": [
{
"input_id": "{YOUR_INPUT_ID}",
"id": "{YOUR_ANNOTATION_ID}",
"data": {
"regions": [
{
"id": "{REGION_ID}",
"data": {
"concepts": [
{
"id": "apple",
"value": 1
}
]
}
}
]
}
}
],
"action":"merge"
}"""


def test_update_annotation_with_concepts_in_a_region_curl(rest_stub: Any, rest_seeded: AppFixture) -> None:
    """The guide shows this body twice (also under "Update Annotation Region Coordinates")."""
    app = rest_seeded
    made = _one(rest_stub, app, data=_tree_box())
    region_id = made.data.regions[0].id
    body = fill(REGION_MERGE_CURL, YOUR_INPUT_ID="in-1", YOUR_ANNOTATION_ID=made.id, REGION_ID=region_id)
    curl(app, "PATCH", "/v2/annotations", body)
    [a] = curl(app, "GET", "/v2/annotations")["annotations"]
    [region] = a["data"]["regions"]
    assert region["id"] == region_id
    assert [(c["id"], c["value"]) for c in region["data"]["concepts"]] == [("tree", 1), ("apple", 1)]


def test_update_annotation_region_coordinates_python(stub: Any, seeded: AppFixture) -> None:
    made = _one(stub, seeded, data=_tree_box())
    # The guide calls stub.PatcchAnnotations; PatchAnnotations is meant.
    patch_annotations_response = stub.PatchAnnotations(
        service_pb2.PatchAnnotationsRequest(
            user_app_id=seeded.uai,
            action="overwrite",
            annotations=[
                resources_pb2.Annotation(
                    input_id="in-1",
                    id=made.id,
                    data=resources_pb2.Data(
                        regions=[
                            resources_pb2.Region(
                                region_info=resources_pb2.RegionInfo(
                                    bounding_box=resources_pb2.BoundingBox(
                                        top_row=0.5, left_col=0.5, bottom_row=0.8, right_col=0.8
                                    )
                                ),
                                data=resources_pb2.Data(
                                    concepts=[resources_pb2.Concept(id="bike", value=1.0)]
                                ),
                            )
                        ]
                    ),
                )
            ],
        ),
        metadata=seeded.meta,
    )
    ok(patch_annotations_response)
    [a] = stored(stub, seeded)
    [region] = a.data.regions
    assert box_of(region) == pytest.approx((0.5, 0.5, 0.8, 0.8)) and values(region.data) == {"bike": 1.0}


def test_update_annotation_region_coordinates_fetch(rest_stub: Any, rest_seeded: AppFixture) -> None:
    """The JavaScript overwrite example's body, sent as JSON."""
    app = rest_seeded
    made = _one(rest_stub, app, data=_tree_box())
    body = {
        "user_app_id": {"user_id": app.user_id, "app_id": app.app_id},
        "action": "overwrite",
        "annotations": [
            {
                "input_id": "in-1",
                "id": made.id,
                "data": {
                    "regions": [
                        {
                            "region_info": {
                                "bounding_box": {
                                    "top_row": 0.5,
                                    "left_col": 0.5,
                                    "bottom_row": 0.8,
                                    "right_col": 0.8,
                                }
                            },
                            "data": {"concepts": [{"id": "bike", "value": 1}]},
                        }
                    ]
                },
            }
        ],
    }
    curl(app, "PATCH", "/v2/annotations", json.dumps(body), key=app.pat)
    [a] = curl(app, "GET", "/v2/annotations")["annotations"]
    assert a["data"]["regions"][0]["region_info"]["bounding_box"]["top_row"] == 0.5
    assert [c["id"] for c in a["data"]["regions"][0]["data"]["concepts"]] == ["bike"]


def test_update_annotation_status_python(stub: Any, seeded: AppFixture) -> None:
    made = _one(stub, seeded, status=status_pb2.Status(code=status_code_pb2.ANNOTATION_PENDING))
    patch_annotations_response = stub.PatchAnnotations(
        service_pb2.PatchAnnotationsRequest(
            user_app_id=seeded.uai,
            action="merge",
            annotations=[
                resources_pb2.Annotation(
                    input_id="in-1",
                    id=made.id,
                    status=status_pb2.Status(code=status_code_pb2.ANNOTATION_SUCCESS),
                )
            ],
        ),
        metadata=seeded.meta,
    )
    ok(patch_annotations_response)
    [a] = stored(stub, seeded)
    assert a.status.code == status_code_pb2.ANNOTATION_SUCCESS


def test_update_annotation_status_curl(rest_stub: Any, rest_seeded: AppFixture) -> None:
    app = rest_seeded
    made = _one(rest_stub, app, status=status_pb2.Status(code=status_code_pb2.ANNOTATION_PENDING))
    body = """
{
"annotations": [
{
"input_id": "{YOUR_INPUT_ID}",
"id": "{YOUR_ANNOTATION_ID}",
"status": {
"code": "ANNOTATION_SUCCESS"
}
}
],
"action":"merge"
}"""
    curl(app, "PATCH", "/v2/annotations", fill(body, YOUR_INPUT_ID="in-1", YOUR_ANNOTATION_ID=made.id))
    [a] = curl(app, "GET", "/v2/annotations")["annotations"]
    assert a["status"] == {"code": 24150, "description": "Annotation success"}


# ----------------------------------------------------------------------------- Delete Annotations


def test_delete_annotation_by_input_and_annotation_id_python(stub: Any, seeded: AppFixture) -> None:
    made = _one(stub, seeded)
    keep = _one(stub, seeded)
    delete_annotation_response = stub.DeleteAnnotation(
        service_pb2.DeleteAnnotationRequest(user_app_id=seeded.uai, input_id="in-1", annotation_id=made.id),
        metadata=seeded.meta,
    )
    ok(delete_annotation_response)
    assert [a.id for a in stored(stub, seeded)] == [keep.id]


def test_delete_annotation_curl_and_fetch(rest_stub: Any, rest_seeded: AppFixture) -> None:
    app = rest_seeded
    first, second, keep = (_one(rest_stub, app) for _ in range(3))
    curl(app, "DELETE", f"/v2/inputs/in-1/annotations/{first.id}", content_type=False)
    curl(app, "DELETE", f"/v2/users/me/apps/{app.app_id}/inputs/in-1/annotations/{second.id}", key=app.pat)
    assert [a["id"] for a in curl(app, "GET", "/v2/annotations")["annotations"]] == [keep.id]


def test_bulk_delete_by_input_ids_and_annotation_ids_python(stub: Any, seeded: AppFixture) -> None:
    a1 = _one(stub, seeded)
    a2 = ok(
        stub.PostAnnotations(
            service_pb2.PostAnnotationsRequest(
                user_app_id=seeded.uai, annotations=[resources_pb2.Annotation(input_id="in-2")]
            ),
            metadata=seeded.meta,
        )
    ).annotations[0]
    keep = _one(stub, seeded)
    # The guide passes annotation_id=[...] (no such field: ValueError); ids= is meant.
    delete_annotations_response = stub.DeleteAnnotations(
        service_pb2.DeleteAnnotationsRequest(
            user_app_id=seeded.uai, input_ids=["in-1", "in-2"], ids=[a1.id, a2.id]
        ),
        metadata=seeded.meta,
    )
    ok(delete_annotations_response)
    assert [a.id for a in stored(stub, seeded)] == [keep.id]


def test_bulk_delete_by_input_ids_and_annotation_ids_curl(rest_stub: Any, rest_seeded: AppFixture) -> None:
    app = rest_seeded
    a1, a2, a3, keep = (_one(rest_stub, app) for _ in range(4))
    body = """
{
"input_ids":["{YOUR_INPUT_ID_1}","{YOUR_INPUT_ID_2}"],
"ids":["{YOUR_ANNOTATION_ID_1}", "{YOUR_ANNOTATION_ID_2}"]
}"""
    filled = fill(
        body,
        YOUR_INPUT_ID_1="in-1",
        YOUR_INPUT_ID_2="in-1",
        YOUR_ANNOTATION_ID_1=a1.id,
        YOUR_ANNOTATION_ID_2=a2.id,
    )
    curl(app, "DELETE", "/v2/annotations", filled, content_type=False)  # curl -d without a content type
    js = {
        "user_app_id": {"user_id": app.user_id, "app_id": app.app_id},
        "input_ids": ["in-1"],
        "ids": [a3.id],
    }
    curl(app, "DELETE", "/v2/annotations", json.dumps(js), key=app.pat)
    assert [a["id"] for a in curl(app, "GET", "/v2/annotations")["annotations"]] == [keep.id]


def test_bulk_delete_all_annotations_by_input_ids_python(stub: Any, seeded: AppFixture) -> None:
    _one(stub, seeded)
    keep = ok(
        stub.PostAnnotations(
            service_pb2.PostAnnotationsRequest(
                user_app_id=seeded.uai, annotations=[resources_pb2.Annotation(input_id="in-3")]
            ),
            metadata=seeded.meta,
        )
    ).annotations[0]
    delete_annotations_response = stub.DeleteAnnotations(
        service_pb2.DeleteAnnotationsRequest(user_app_id=seeded.uai, input_ids=["in-1", "in-2"]),
        metadata=seeded.meta,
    )
    ok(delete_annotations_response)
    assert [a.id for a in stored(stub, seeded)] == [keep.id]
    input_level = stored(stub, seeded, list_all_annotations=True, input_ids=["in-1", "in-2"])
    assert [a.input_level for a in input_level] == [True, True], "EXCEPT input level annotations"


def test_bulk_delete_all_annotations_by_input_ids_curl(rest_stub: Any, rest_seeded: AppFixture) -> None:
    app = rest_seeded
    _one(rest_stub, app)
    body = """
{
"input_ids":["{YOUR_INPUT_ID_1}","{YOUR_INPUT_ID_2}"]
}"""
    curl(
        app,
        "DELETE",
        "/v2/annotations",
        fill(body, YOUR_INPUT_ID_1="in-1", YOUR_INPUT_ID_2="in-2"),
        content_type=False,
    )
    assert curl(app, "GET", "/v2/annotations")["annotations"] == []
    everything = curl(app, "GET", "/v2/annotations", list_all_annotations="true")["annotations"]
    assert len(everything) == 3 and all(a["input_level"] for a in everything)

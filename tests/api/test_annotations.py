"""Annotations through the official client on both channels: create (concepts, boxes, polygons,
existing regions, frames, for other users), list with every filter, get, patch (merge, overwrite,
remove, status, annotation_info), delete (one, by ids, by inputs), workers, permissions, and
batches that fail without writing anything."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api import service_pb2 as s
from clarifai_grpc.grpc.api.status import status_code_pb2 as sc
from clarifai_grpc.grpc.api.status import status_pb2
from google.protobuf import struct_pb2
from sqlalchemy import select

from labeldesk.storage import tables as t
from tests.helpers import IMG, AppFixture, Meta, ok, rest_listing_matches_grpc

CONCEPTS = ("tree", "water", "bike", "apple")


# ----------------------------------------------------------------------------- factories


def prepare_app(stub: Any, app: AppFixture, inputs: tuple[str, ...] = ("in-1", "in-2")) -> None:
    ok(
        stub.PostConcepts(
            s.PostConceptsRequest(user_app_id=app.uai, concepts=[r.Concept(id=c) for c in CONCEPTS]),
            metadata=app.meta,
        )
    )
    ok(
        stub.PostInputs(
            s.PostInputsRequest(
                user_app_id=app.uai,
                inputs=[r.Input(id=i, data=r.Data(image=r.Image(url=IMG))) for i in inputs],
            ),
            metadata=app.meta,
        )
    )


def concepts(**values: float) -> list[r.Concept]:
    return [r.Concept(id=k, value=v) for k, v in values.items()]


def box(top: float, left: float, bottom: float, right: float, **values: float) -> r.Region:
    return r.Region(
        region_info=r.RegionInfo(
            bounding_box=r.BoundingBox(top_row=top, left_col=left, bottom_row=bottom, right_col=right)
        ),
        data=r.Data(concepts=concepts(**values)),
    )


def polygon(points: list[tuple[float, float]], **values: float) -> r.Region:
    return r.Region(
        region_info=r.RegionInfo(polygon=r.Polygon(points=[r.Point(row=a, col=b) for a, b in points])),
        data=r.Data(concepts=concepts(**values)),
    )


def ann(input_id: str = "in-1", ann_id: str = "", **kw: Any) -> r.Annotation:
    return r.Annotation(id=ann_id, input_id=input_id, **kw)


def post(stub: Any, app: AppFixture, *anns: r.Annotation, meta: Meta | None = None) -> Any:
    return stub.PostAnnotations(
        s.PostAnnotationsRequest(user_app_id=app.uai, annotations=list(anns)), metadata=meta or app.meta
    )


def listed(stub: Any, app: AppFixture, meta: Meta | None = None, **kw: Any) -> list[r.Annotation]:
    return list(
        ok(
            stub.ListAnnotations(
                s.ListAnnotationsRequest(user_app_id=app.uai, **kw), metadata=meta or app.meta
            )
        ).annotations
    )


def patch(
    stub: Any, app: AppFixture, action: str, *anns: r.Annotation, meta: Meta | None = None, **kw: Any
) -> Any:
    return stub.PatchAnnotations(
        s.PatchAnnotationsRequest(user_app_id=app.uai, action=action, annotations=list(anns), **kw),
        metadata=meta or app.meta,
    )


def values(data: r.Data) -> dict[str, float]:
    return {c.id: c.value for c in data.concepts}


def index_of(app: AppFixture, annotation_id: str) -> dict[str, float]:
    """The annotation's rows in annotation_concepts (what searches and consensus read)."""
    a, ac, apps = t.annotations.c, t.annotation_concepts.c, t.apps.c
    q = (
        select(ac.concept_id, ac.value)
        .select_from(
            t.annotation_concepts.join(t.annotations, a.pk == ac.annotation_pk).join(
                t.apps, apps.pk == a.app_pk
            )
        )
        .where(a.id == annotation_id, apps.id == app.app_id, apps.user_id == app.user_id)
    )
    with app.server.app.db.read() as conn:
        return {cid: v for cid, v in conn.execute(q)}


def struct(**kw: Any) -> struct_pb2.Struct:
    st = struct_pb2.Struct()
    st.update(kw)
    return st


# ----------------------------------------------------------------------------- create


def test_concepts_present_and_absent_are_stored_and_listed_oldest_first(stub: Any, app: AppFixture) -> None:
    prepare_app(stub, app)
    resp = ok(
        post(
            stub,
            app,
            ann(data=r.Data(concepts=concepts(tree=1, water=0)), embed_model_version_id="emb-1"),
            ann("in-2", "mine", data=r.Data(concepts=concepts(bike=1))),
        )
    )
    first = resp.annotations[0]
    assert len(first.id) == 32 and first.input_id == "in-1" and first.user_id == app.user_id
    assert values(first.data) == {"tree": 1.0, "water": 0.0}
    assert first.status.code == sc.ANNOTATION_SUCCESS and first.embed_model_version_id == "emb-1"
    assert first.created_at.seconds > 0 and not first.input_level
    got = listed(stub, app)
    assert [a.id for a in got] == [first.id, "mine"]
    assert values(got[0].data) == {"tree": 1.0, "water": 0.0}
    assert got[0].data.concepts[0].name == "tree"
    assert index_of(app, first.id) == {"tree": 1.0, "water": 0.0}


def test_concepts_given_at_upload_are_listed_by_default_but_empty_input_level_ones_only_when_asked(
    stub: Any, app: AppFixture
) -> None:
    """Seed 003: the default lists what users made (concepts given with an input are); only
    model-made annotations (and the empty input-level ones) need ``list_all_annotations``."""
    ok(
        stub.PostInputs(
            s.PostInputsRequest(
                user_app_id=app.uai,
                inputs=[
                    r.Input(id="pic", data=r.Data(image=r.Image(url=IMG), concepts=concepts(dog=1))),
                    r.Input(id="bare", data=r.Data(image=r.Image(url=IMG + "?bare"))),
                ],
            ),
            metadata=app.meta,
        )
    )
    default = listed(stub, app)
    assert len(default) == 1 and default[0].input_level and default[0].user_id == app.user_id
    assert default[0].input_id == "pic" and values(default[0].data) == {"dog": 1.0}
    everything = listed(stub, app, list_all_annotations=True)
    assert sorted(a.input_id for a in everything) == ["bare", "pic"]


def test_boxes_polygons_and_several_regions_get_region_ids(stub: Any, app: AppFixture) -> None:
    prepare_app(stub, app)
    tri = [(0.1, 0.1), (0.1, 0.9), (0.8, 0.5)]
    resp = ok(
        post(
            stub,
            app,
            ann(data=r.Data(regions=[box(0, 0, 0.5, 0.5, tree=1, water=0)])),
            ann(data=r.Data(regions=[polygon(tri, bike=1), box(0.6, 0.6, 0.8, 0.8, apple=1)])),
        )
    )
    one, two = resp.annotations
    bb = one.data.regions[0].region_info.bounding_box
    assert (bb.top_row, bb.left_col, bb.bottom_row, bb.right_col) == (0, 0, 0.5, 0.5)
    assert values(one.data.regions[0].data) == {"tree": 1.0, "water": 0.0}
    assert [len(reg.id) for reg in two.data.regions] == [32, 32]
    flat = [v for p in two.data.regions[0].region_info.polygon.points for v in (p.row, p.col)]
    assert flat == pytest.approx([v for point in tri for v in point])
    stored = listed(stub, app, input_ids=["in-1"])
    assert [a.data for a in stored] == [one.data, two.data]
    assert index_of(app, two.id) == {"bike": 1.0, "apple": 1.0}


def test_labels_on_an_existing_region_reuse_its_shape(stub: Any, app: AppFixture) -> None:
    prepare_app(stub, app)
    detected = ok(
        post(
            stub,
            app,
            ann(model_version_id="detector-1", data=r.Data(regions=[box(0.1, 0.2, 0.3, 0.4, tree=1)])),
        )
    )
    region = detected.annotations[0].data.regions[0]
    labelled = ok(
        post(
            stub,
            app,
            ann(data=r.Data(regions=[r.Region(id=region.id, data=r.Data(concepts=concepts(bike=1)))])),
        )
    )
    got = labelled.annotations[0].data.regions[0]
    assert got.id == region.id and got.region_info == region.region_info
    assert values(got.data) == {"bike": 1.0}
    missing = post(
        stub,
        app,
        ann("in-2", data=r.Data(regions=[r.Region(id=region.id, data=r.Data(concepts=concepts(bike=1)))])),
    )
    assert missing.status.code == sc.CONN_INVALID_REQUEST
    assert "annotations[0].data.regions[0].id" in missing.status.description
    assert region.id in missing.status.description


def test_video_frames_are_kept_with_their_regions(stub: Any, app: AppFixture) -> None:
    prepare_app(stub, app)
    frame = r.Frame(
        frame_info=r.FrameInfo(index=3, time=1000), data=r.Data(regions=[box(0.1, 0.1, 0.2, 0.2, tree=1)])
    )
    got = ok(post(stub, app, ann(data=r.Data(frames=[frame])))).annotations[0]
    assert got.data.frames[0].frame_info.time == 1000 and len(got.data.frames[0].id) == 32
    assert got.data.frames[0].data.regions[0].data.concepts[0].id == "tree"
    assert index_of(app, got.id) == {"tree": 1.0}


def test_annotation_info_is_kept_verbatim_and_links_the_task(stub: Any, app: AppFixture) -> None:
    prepare_app(stub, app)
    info = struct(task_id="task-7", extra={"nested": [1, "two"]})
    a = ok(
        post(
            stub,
            app,
            ann(data=r.Data(concepts=concepts(tree=1)), annotation_info=info),
            ann("in-2", data=r.Data(concepts=concepts(tree=1))),
        )
    ).annotations[0]
    assert a.annotation_info == info and a.task_id == "task-7"
    assert [x.id for x in listed(stub, app, task_id="task-7")] == [a.id]
    clash = post(stub, app, ann(annotation_info=struct(task_id="a"), task_id="b"))
    assert clash.status.code == sc.CONN_INVALID_REQUEST and "disagree" in clash.status.description


def test_owner_creates_pending_annotations_for_a_collaborator(stub: Any, app: AppFixture) -> None:
    prepare_app(stub, app)
    worker, worker_meta = app.new_user("worker")
    made = ok(post(stub, app, ann(user_id=worker, status=status_pb2.Status(code=sc.ANNOTATION_PENDING))))
    a = made.annotations[0]
    assert a.user_id == worker and a.status.code == sc.ANNOTATION_PENDING and not a.trusted
    assert [x.id for x in listed(stub, app, user_ids=[worker])] == [a.id]
    # a collaborator cannot create for someone else, nor set a review outcome
    denied = post(stub, app, ann(user_id=app.user_id), meta=worker_meta)
    assert denied.status.code == sc.ANNOTATION_PERMISSION_DENIED
    assert "annotations[0].user_id" in denied.status.description
    review = post(
        stub, app, ann(status=status_pb2.Status(code=sc.ANNOTATION_AWAITING_REVIEW)), meta=worker_meta
    )
    assert review.status.code == sc.ANNOTATION_PERMISSION_DENIED
    own = ok(post(stub, app, ann(data=r.Data(concepts=concepts(tree=1))), meta=worker_meta)).annotations[0]
    assert own.user_id == worker
    stranger, _ = app.new_user("stranger", collaborator=False)
    resp = post(stub, app, ann(user_id=stranger))
    assert resp.status.code == sc.CONN_INVALID_REQUEST and stranger in resp.status.description


BAD_BATCHES = [
    pytest.param(
        [ann(data=r.Data(concepts=concepts(tree=1))), ann(data=r.Data(concepts=concepts(**{"x" * 129: 1})))],
        sc.CONN_INVALID_REQUEST,
        ["annotations[1].data.concepts[0].id", "not a valid concept id"],
        id="bad-concept-id",
    ),
    pytest.param(
        [ann(data=r.Data(regions=[box(0, 0, 0.5, 1.5, tree=1)]))],
        sc.CONN_INVALID_REQUEST,
        ["annotations[0].data.regions[0].region_info.bounding_box", "right_col"],
        id="box-out-of-range",
    ),
    pytest.param(
        [ann(), ann(data=r.Data(regions=[box(0.7, 0, 0.5, 1, tree=1)]))],
        sc.CONN_INVALID_REQUEST,
        ["annotations[1].data.regions[0].region_info.bounding_box", "top_row"],
        id="box-upside-down",
    ),
    pytest.param(
        [ann(data=r.Data(regions=[polygon([(0, 0), (1, 1)], tree=1)]))],
        sc.CONN_INVALID_REQUEST,
        ["region_info.polygon", "at least 3"],
        id="polygon-two-points",
    ),
    pytest.param(
        [ann(data=r.Data(regions=[polygon([(0, 0), (1, 1), (1.2, 0)], tree=1)]))],
        sc.CONN_INVALID_REQUEST,
        ["region_info.polygon.points[2]"],
        id="polygon-out-of-range",
    ),
    pytest.param(
        [ann(data=r.Data(regions=[box(0, 0, 0.5, 0.5)]))],
        sc.CONN_INVALID_REQUEST,
        ["regions[0].data.concepts", "at least one concept"],
        id="region-without-concept",
    ),
    pytest.param(
        [ann(data=r.Data(regions=[r.Region(data=r.Data(concepts=concepts(tree=1)))]))],
        sc.CONN_INVALID_REQUEST,
        ["regions[0].region_info", "bounding_box"],
        id="region-without-shape",
    ),
    pytest.param(
        [ann(data=r.Data(concepts=concepts(tree=2)))],
        sc.CONN_INVALID_REQUEST,
        ["annotations[0].data.concepts[0].value"],
        id="concept-value-out-of-range",
    ),
    pytest.param(
        [ann(data=r.Data(concepts=[r.Concept(id="tree"), r.Concept(id="tree", value=1)]))],
        sc.CONN_INVALID_REQUEST,
        ["concepts[1].id", "more than once"],
        id="concept-twice",
    ),
    pytest.param(
        [ann("in-1", "same"), ann("in-2", "same")],
        sc.CONN_INVALID_REQUEST,
        ["more than once"],
        id="duplicate-ids",
    ),
    pytest.param(
        [ann("in-1", "fresh"), ann("in-2", "taken")], sc.DATABASE_DUPLICATE_KEY, ["taken"], id="taken-id"
    ),
    pytest.param(
        [ann("in-1"), ann("no-such-input")],
        sc.CONN_DOES_NOT_EXIST,
        ["annotations[1].input_id", "no-such-input"],
        id="unknown-input",
    ),
    pytest.param([ann("")], sc.CONN_INVALID_REQUEST, ["annotations[0].input_id"], id="no-input-id"),
    pytest.param([ann(ann_id="bad id!")], sc.CONN_INVALID_REQUEST, ["annotations[0].id"], id="bad-id"),
    pytest.param(
        [ann(status=status_pb2.Status(code=sc.SUCCESS))],
        sc.CONN_INVALID_REQUEST,
        ["annotations[0].status.code", "ANNOTATION_PENDING"],
        id="not-an-annotation-status",
    ),
    pytest.param([], sc.CONN_INVALID_REQUEST, ["at least one"], id="empty"),
    pytest.param([ann() for _ in range(129)], sc.CONN_INVALID_REQUEST, ["at most 128"], id="too-many"),
]


@pytest.mark.parametrize(("anns", "code", "texts"), BAD_BATCHES)
def test_a_bad_batch_says_what_to_fix_and_writes_nothing(
    stub: Any, app: AppFixture, anns: list[r.Annotation], code: int, texts: list[str]
) -> None:
    prepare_app(stub, app)
    ok(post(stub, app, ann("in-2", "taken")))
    resp = post(stub, app, *anns)
    assert resp.status.code == code, resp.status
    for text in texts:
        assert text in resp.status.description + resp.status.details, resp.status
    assert [a.id for a in listed(stub, app)] == ["taken"]


def test_concepts_are_created_on_the_fly_named_after_their_id_unless_named(
    stub: Any, app: AppFixture
) -> None:
    prepare_app(stub, app)
    box_concept = r.Concept(id="id-red-car", name="red car", value=1)
    ok(post(stub, app, ann(data=r.Data(concepts=concepts(bike=1)))))
    first = ann(
        data=r.Data(
            regions=[r.Region(region_info=box(0, 0, 1, 1).region_info, data=r.Data(concepts=[box_concept]))]
        )
    )
    made = ok(post(stub, app, first)).annotations[0]
    assert made.data.regions[0].data.concepts[0].name == "red car"
    patched = r.Annotation(id=made.id, input_id=made.input_id, data=r.Data(concepts=concepts(lamp=1)))
    ok(
        stub.PatchAnnotations(
            s.PatchAnnotationsRequest(user_app_id=app.uai, annotations=[patched], action="merge"),
            metadata=app.meta,
        )
    )
    listed_concepts = ok(
        stub.ListConcepts(s.ListConceptsRequest(user_app_id=app.uai, per_page=100), metadata=app.meta)
    )
    names = {c.id: c.name for c in listed_concepts.concepts}
    assert {k: names[k] for k in ("bike", "id-red-car", "lamp")} == {
        "bike": "bike",
        "id-red-car": "red car",
        "lamp": "lamp",
    }
    # an existing concept keeps its name
    again = r.Concept(id="id-red-car", name="renamed", value=1)
    ok(post(stub, app, ann(data=r.Data(concepts=[again]))))
    got = ok(
        stub.GetConcept(s.GetConceptRequest(user_app_id=app.uai, concept_id="id-red-car"), metadata=app.meta)
    )
    assert got.concept.name == "red car"


def test_full_batch_of_128(stub: Any, app: AppFixture) -> None:
    prepare_app(stub, app)
    resp = ok(post(stub, app, *[ann(data=r.Data(concepts=concepts(tree=i % 2))) for i in range(128)]))
    assert len(resp.annotations) == 128
    assert [a.id for a in listed(stub, app, per_page=1000)] == [a.id for a in resp.annotations]


def test_the_answer_of_a_batch_is_what_listing_its_ids_answers(stub: Any, app: AppFixture) -> None:
    """PostAnnotations answers its new annotations from what it assembled for storage (the fast
    path's wire records, ``annotation_fast.answer``), not by reading them back: the answer must
    be exactly what ListAnnotations then gives for the same ids, byte for byte, for every shape
    (the usual concepts and boxes, all alike or each different, polygons, given ids and region
    ids, annotation_info, statuses) in one batch of 128."""
    prepare_app(stub, app, inputs=("in-1", "in-2", "in-3"))
    info = struct(source="import", n=3, nested={"f": 0.25, "l": [1, "a", None, True]})
    usual = r.Data(concepts=concepts(tree=1, water=0), regions=[box(0.1, 0.2, 0.6, 0.7, bike=1)])
    shapes = [
        lambda i: ann("in-1", data=usual),
        lambda i: ann(
            "in-2", data=r.Data(regions=[box(0.01 * (i % 50), 0.2, 0.9, 0.7 + i / 1000, apple=0.5)])
        ),
        lambda i: ann("in-3", data=r.Data(concepts=concepts(tree=i / 128))),
        lambda i: ann(
            "in-1", ann_id=f"given-{i}", annotation_info=info, data=r.Data(concepts=concepts(water=1))
        ),
        lambda i: ann(
            "in-2",
            data=r.Data(
                regions=[polygon([(0.1, 0.1), (0.2, 0.9), (0.9, 0.3)], bike=1), box(0, 0, 1, 1, tree=0)]
            ),
        ),
        lambda i: ann("in-3", status=status_pb2.Status(code=sc.ANNOTATION_PENDING), data=usual),
        lambda i: ann(
            "in-1",
            data=r.Data(
                regions=[
                    r.Region(
                        id=f"r-{i}",
                        region_info=usual.regions[0].region_info,
                        data=r.Data(concepts=concepts(tree=1)),
                    )
                ]
            ),
        ),
        lambda i: ann("in-2"),
    ]
    posted = ok(post(stub, app, *[shapes[i % len(shapes)](i) for i in range(128)])).annotations
    assert len(posted) == 128
    ids = [a.id for a in posted]
    got = {a.id: a for a in listed(stub, app, ids=ids, per_page=1000)}
    assert sorted(got) == sorted(ids)
    for answered in posted:
        stored = got[answered.id]
        assert answered == stored
        assert answered.SerializeToString(deterministic=True) == stored.SerializeToString(deterministic=True)


# ----------------------------------------------------------------------------- read


def by_status(stub: Any, rest_stub: Any, app: AppFixture, status: str) -> list[str]:
    """Ids of the annotations with ``status``. The official JSON client cannot put a repeated
    message (``statuses``) in a GET query string (it sends ``statuses=code``), so over REST this
    filter is exercised as curl would send it."""
    if stub is not rest_stub:
        return [
            a.id for a in listed(stub, app, statuses=[status_pb2.Status(code=sc.StatusCode.Value(status))])
        ]
    resp = requests.get(
        f"{app.server.base_url}/v2/annotations",
        params={"statuses.code": status},
        headers={"Authorization": f"Key {app.app_key}"},
        timeout=10,
    )
    assert resp.status_code == 200, resp.text
    return [a["id"] for a in resp.json()["annotations"]]


def test_list_filters_and_pagination(stub: Any, rest_stub: Any, app: AppFixture) -> None:
    prepare_app(stub, app, ("in-1", "in-2", "in-3"))
    worker, worker_meta = app.new_user("worker")
    a1 = ok(
        post(
            stub,
            app,
            ann("in-1", "a1"),
            ann("in-2", "a2"),
            ann("in-3", "a3", status=status_pb2.Status(code=sc.ANNOTATION_PENDING)),
        )
    ).annotations[0]
    ok(post(stub, app, ann("in-1", "w1"), meta=worker_meta))
    ok(
        post(
            stub, app, ann("in-2", "m1", model_version_id="mv-1"), ann("in-2", "m2", model_version_id="mv-2")
        )
    )
    assert a1.id == "a1"
    assert [a.id for a in listed(stub, app)] == ["a1", "a2", "a3", "w1"]
    assert [a.id for a in listed(stub, app, input_ids=["in-1"])] == ["a1", "w1"]
    assert [a.id for a in listed(stub, app, input_ids=["in-2", "in-1"], ids=["m1", "a1"])] == ["a1", "m1"]
    assert listed(stub, app, input_ids=["in-2"], ids=["a1"]) == [], "ids and input_ids go in pairs"
    assert [a.id for a in listed(stub, app, user_ids=[worker])] == ["w1"]
    assert [a.id for a in listed(stub, app, user_ids=["me"])] == ["a1", "a2", "a3"]
    assert [a.id for a in listed(stub, app, model_version_ids=["mv-2"])] == ["m2"]
    assert by_status(stub, rest_stub, app, "ANNOTATION_PENDING") == ["a3"]
    assert len(listed(stub, app, list_all_annotations=True)) == 6 + 3
    assert [a.id for a in listed(stub, app, per_page=2, page=2)] == ["a3", "w1"]
    assert listed(stub, app, per_page=2, page=9) == []
    assert listed(stub, app, workflow_version_ids=["wf"]) == []
    bad = stub.ListAnnotations(
        s.ListAnnotationsRequest(user_app_id=app.uai, ids=["a1"], input_ids=["in-1", "in-2"]),
        metadata=app.meta,
    )
    assert bad.status.code == sc.CONN_INVALID_REQUEST and "input_ids" in bad.status.description
    too_many = stub.ListAnnotations(
        s.ListAnnotationsRequest(user_app_id=app.uai, per_page=1001), metadata=app.meta
    )
    assert too_many.status.code == sc.CONN_INVALID_REQUEST and "per_page" in too_many.status.description


def test_default_page_is_20(stub: Any, app: AppFixture) -> None:
    prepare_app(stub, app)
    ok(post(stub, app, *[ann() for _ in range(25)]))
    assert len(listed(stub, app)) == 20
    assert len(listed(stub, app, page=2)) == 5


def test_get_annotation(stub: Any, app: AppFixture) -> None:
    prepare_app(stub, app)
    made = ok(post(stub, app, ann("in-1", "x", data=r.Data(concepts=concepts(tree=0))))).annotations[0]
    got = ok(
        stub.GetAnnotation(
            s.GetAnnotationRequest(user_app_id=app.uai, input_id="in-1", annotation_id="x"), metadata=app.meta
        )
    ).annotation
    assert got == made
    for input_id, ann_id in (("in-2", "x"), ("in-1", "nope")):
        resp = stub.GetAnnotation(
            s.GetAnnotationRequest(user_app_id=app.uai, input_id=input_id, annotation_id=ann_id),
            metadata=app.meta,
        )
        assert resp.status.code == sc.CONN_DOES_NOT_EXIST and ann_id in resp.status.description


# ----------------------------------------------------------------------------- patch


def test_patch_merge_adds_concepts_and_regions_and_updates_values(stub: Any, app: AppFixture) -> None:
    prepare_app(stub, app)
    made = ok(
        post(
            stub,
            app,
            ann(ann_id="p", data=r.Data(concepts=concepts(tree=1), regions=[box(0, 0, 0.5, 0.5, water=1)])),
        )
    ).annotations[0]
    region_id = made.data.regions[0].id
    merged = ok(
        patch(
            stub,
            app,
            "merge",
            ann(
                ann_id="p",
                data=r.Data(
                    concepts=concepts(tree=0, apple=1),
                    regions=[
                        r.Region(id=region_id, data=r.Data(concepts=concepts(bike=1))),
                        box(0.6, 0.6, 0.9, 0.9, tree=1),
                    ],
                ),
            ),
        )
    )
    a = merged.annotations[0]
    assert values(a.data) == {"tree": 0.0, "apple": 1.0}
    assert [reg.id for reg in a.data.regions] == [region_id, a.data.regions[1].id]
    assert values(a.data.regions[0].data) == {"water": 1.0, "bike": 1.0}
    assert a.modified_at.ToNanoseconds() >= made.modified_at.ToNanoseconds()
    assert listed(stub, app)[0] == a
    assert index_of(app, "p") == {"tree": 1.0, "apple": 1.0, "water": 1.0, "bike": 1.0}


def test_patch_overwrite_moves_a_box_and_replaces_concepts(stub: Any, app: AppFixture) -> None:
    prepare_app(stub, app)
    made = ok(post(stub, app, ann(ann_id="o", data=r.Data(regions=[box(0, 0, 0.5, 0.5, tree=1, water=0)]))))
    region_id = made.annotations[0].data.regions[0].id
    moved = ok(
        patch(
            stub,
            app,
            "overwrite",
            ann(
                ann_id="o",
                data=r.Data(
                    regions=[
                        r.Region(
                            id=region_id,
                            region_info=box(0.5, 0.5, 0.8, 0.8).region_info,
                            data=r.Data(concepts=concepts(bike=1)),
                        )
                    ]
                ),
            ),
        )
    ).annotations[0]
    reg = moved.data.regions[0]
    assert reg.id == region_id and reg.region_info.bounding_box.top_row == 0.5
    assert values(reg.data) == {"bike": 1.0}
    assert index_of(app, "o") == {"bike": 1.0}
    kept = ok(
        patch(
            stub,
            app,
            "overwrite",
            ann(
                ann_id="o",
                data=r.Data(regions=[r.Region(id=region_id, data=r.Data(concepts=concepts(apple=1)))]),
            ),
        )
    ).annotations[0]
    assert kept.data.regions[0].region_info == reg.region_info, "a region named by id keeps its shape"
    bad = patch(
        stub, app, "overwrite", ann(ann_id="o", data=r.Data(regions=[box(0.5, 0.5, 0.4, 0.8, tree=1)]))
    )
    assert bad.status.code == sc.CONN_INVALID_REQUEST
    assert "annotations[0].data.regions[0].region_info.bounding_box" in bad.status.description
    assert listed(stub, app)[0].data == kept.data, "a failed patch changes nothing"


def test_patch_remove_drops_concepts_and_empty_regions(stub: Any, app: AppFixture) -> None:
    prepare_app(stub, app)
    made = ok(
        post(
            stub,
            app,
            ann(
                ann_id="rm",
                data=r.Data(
                    concepts=concepts(tree=1, water=0),
                    regions=[box(0, 0, 0.5, 0.5, bike=1, apple=1), box(0.5, 0.5, 1, 1, tree=1)],
                ),
            ),
        )
    ).annotations[0]
    first, second = (reg.id for reg in made.data.regions)
    after = ok(
        patch(
            stub,
            app,
            "remove",
            ann(
                ann_id="rm",
                data=r.Data(
                    concepts=concepts(water=0),
                    regions=[
                        r.Region(id=first, data=r.Data(concepts=concepts(bike=1))),
                        r.Region(id=second, data=r.Data(concepts=concepts(tree=1))),
                    ],
                ),
            ),
        )
    )
    a = after.annotations[0]
    assert values(a.data) == {"tree": 1.0}
    assert [reg.id for reg in a.data.regions] == [first]
    assert values(a.data.regions[0].data) == {"apple": 1.0}
    assert index_of(app, "rm") == {"tree": 1.0, "apple": 1.0}
    emptied = ok(
        patch(
            stub,
            app,
            "remove",
            ann(ann_id="rm", data=r.Data(concepts=concepts(tree=1), regions=[r.Region(id=first)])),
            delete_if_empty_data=True,
        )
    )
    assert list(emptied.annotations) == []
    assert listed(stub, app) == []


def test_patch_status_and_annotation_info(stub: Any, app: AppFixture) -> None:
    prepare_app(stub, app)
    ok(
        post(
            stub,
            app,
            ann(
                ann_id="st",
                data=r.Data(concepts=concepts(tree=1)),
                status=status_pb2.Status(code=sc.ANNOTATION_PENDING),
                annotation_info=struct(a=1),
            ),
        )
    )
    a = ok(
        patch(
            stub,
            app,
            "merge",
            ann(
                ann_id="st",
                status=status_pb2.Status(code=sc.ANNOTATION_SUCCESS),
                annotation_info=struct(task_id="t1"),
            ),
        )
    ).annotations[0]
    assert a.status.code == sc.ANNOTATION_SUCCESS and values(a.data) == {"tree": 1.0}
    assert dict(a.annotation_info) == {"a": 1, "task_id": "t1"} and a.task_id == "t1"
    assert [x.id for x in listed(stub, app, task_id="t1")] == ["st"]
    a = ok(patch(stub, app, "remove", ann(ann_id="st", annotation_info=struct(task_id="")))).annotations[0]
    assert dict(a.annotation_info) == {"a": 1} and a.task_id == "" and values(a.data) == {"tree": 1.0}
    assert listed(stub, app, task_id="t1") == []
    a = ok(patch(stub, app, "overwrite", ann(ann_id="st", annotation_info=struct(b=2)))).annotations[0]
    assert dict(a.annotation_info) == {"b": 2}
    bad = patch(stub, app, "merge", ann(ann_id="st", status=status_pb2.Status(code=12345)))
    assert (
        bad.status.code == sc.CONN_INVALID_REQUEST and "annotations[0].status.code" in bad.status.description
    )
    unknown = patch(stub, app, "replace", ann(ann_id="st"))
    assert unknown.status.code == sc.CONN_INVALID_REQUEST and "merge" in unknown.status.details


def test_patch_refuses_missing_or_misplaced_annotations(stub: Any, app: AppFixture) -> None:
    prepare_app(stub, app)
    ok(post(stub, app, ann("in-1", "here")))
    for a in (ann("in-2", "here"), ann("in-1", "nowhere")):
        resp = patch(stub, app, "merge", a)
        assert resp.status.code == sc.CONN_DOES_NOT_EXIST and a.id in resp.status.description
    no_id = patch(stub, app, "merge", ann("in-1", ""))
    assert no_id.status.code == sc.CONN_INVALID_REQUEST and "annotations[0].id" in no_id.status.description


def test_collaborators_change_only_their_own_annotations(stub: Any, app: AppFixture) -> None:
    prepare_app(stub, app)
    alice, alice_meta = app.new_user("alice")
    _, bob_meta = app.new_user("bob")
    ok(post(stub, app, ann("in-1", "alices", data=r.Data(concepts=concepts(tree=1))), meta=alice_meta))
    change = ann("in-1", "alices", data=r.Data(concepts=concepts(water=1)))
    denied = patch(stub, app, "merge", change, meta=bob_meta)
    assert denied.status.code == sc.ANNOTATION_PERMISSION_DENIED
    assert "alices" in denied.status.description and alice in denied.status.description
    gone = stub.DeleteAnnotation(
        s.DeleteAnnotationRequest(user_app_id=app.uai, input_id="in-1", annotation_id="alices"),
        metadata=bob_meta,
    )
    assert gone.status.code == sc.ANNOTATION_PERMISSION_DENIED
    bulk = stub.DeleteAnnotations(
        s.DeleteAnnotationsRequest(user_app_id=app.uai, input_ids=["in-1"]), metadata=bob_meta
    )
    assert bulk.status.code == sc.ANNOTATION_PERMISSION_DENIED
    ok(patch(stub, app, "merge", change, meta=alice_meta))
    ok(patch(stub, app, "merge", ann("in-1", "alices", data=r.Data(concepts=concepts(bike=1)))))  # the owner
    assert values(listed(stub, app)[0].data) == {"tree": 1.0, "water": 1.0, "bike": 1.0}
    ok(
        stub.DeleteAnnotation(
            s.DeleteAnnotationRequest(user_app_id=app.uai, input_id="in-1", annotation_id="alices"),
            metadata=app.meta,
        )
    )


# ----------------------------------------------------------------------------- delete


def test_delete_one_by_ids_and_by_inputs(stub: Any, app: AppFixture) -> None:
    prepare_app(stub, app, ("in-1", "in-2", "in-3"))
    ok(
        post(
            stub,
            app,
            *[
                ann(i, f"{i}-{n}", data=r.Data(concepts=concepts(tree=1)))
                for i in ("in-1", "in-2", "in-3")
                for n in range(2)
            ],
        )
    )
    ok(
        stub.DeleteAnnotation(
            s.DeleteAnnotationRequest(user_app_id=app.uai, input_id="in-1", annotation_id="in-1-0"),
            metadata=app.meta,
        )
    )
    assert index_of(app, "in-1-0") == {}
    mismatch = stub.DeleteAnnotations(
        s.DeleteAnnotationsRequest(user_app_id=app.uai, ids=["in-1-1", "in-2-0"], input_ids=["in-1"]),
        metadata=app.meta,
    )
    assert mismatch.status.code == sc.CONN_INVALID_REQUEST
    wrong_pair = stub.DeleteAnnotations(
        s.DeleteAnnotationsRequest(user_app_id=app.uai, ids=["in-1-1", "in-2-0"], input_ids=["in-1", "in-3"]),
        metadata=app.meta,
    )
    assert wrong_pair.status.code == sc.CONN_DOES_NOT_EXIST and "ids[1]" in wrong_pair.status.description
    ok(
        stub.DeleteAnnotations(
            s.DeleteAnnotationsRequest(
                user_app_id=app.uai, ids=["in-1-1", "in-2-0"], input_ids=["in-1", "in-2"]
            ),
            metadata=app.meta,
        )
    )
    assert [a.id for a in listed(stub, app)] == ["in-2-1", "in-3-0", "in-3-1"]
    ok(
        stub.DeleteAnnotations(
            s.DeleteAnnotationsRequest(user_app_id=app.uai, input_ids=["in-2", "in-3"]), metadata=app.meta
        )
    )
    assert listed(stub, app) == []
    assert len(listed(stub, app, list_all_annotations=True)) == 3, "input-level annotations stay"
    nothing = stub.DeleteAnnotations(s.DeleteAnnotationsRequest(user_app_id=app.uai), metadata=app.meta)
    assert nothing.status.code == sc.CONN_INVALID_REQUEST


def test_input_level_annotation_goes_only_with_its_input(stub: Any, app: AppFixture) -> None:
    prepare_app(stub, app)
    level = listed(stub, app, list_all_annotations=True, input_ids=["in-1"])[0]
    resp = stub.DeleteAnnotation(
        s.DeleteAnnotationRequest(user_app_id=app.uai, input_id="in-1", annotation_id=level.id),
        metadata=app.meta,
    )
    assert resp.status.code == sc.CONN_INVALID_REQUEST and "input-level" in resp.status.description
    ok(post(stub, app, ann("in-1", "on-input", data=r.Data(concepts=concepts(tree=1)))))
    ok(stub.DeleteInputs(s.DeleteInputsRequest(user_app_id=app.uai, ids=["in-1"]), metadata=app.meta))
    assert listed(stub, app, list_all_annotations=True, input_ids=["in-1"]) == []
    assert index_of(app, "on-input") == {}


# ----------------------------------------------------------------------------- workers


def test_list_annotation_workers(stub: Any, app: AppFixture) -> None:
    prepare_app(stub, app)
    worker, worker_meta = app.new_user("worker")
    ok(post(stub, app, ann(), ann(model_version_id="mv-9")))
    ok(post(stub, app, ann(), meta=worker_meta))
    resp = ok(
        stub.ListAnnotationWorkers(s.ListAnnotationWorkersRequest(user_app_id=app.uai), metadata=app.meta)
    )
    assert [(w.user.id, w.model.model_version.id) for w in resp.workers] == [
        (app.user_id, ""),
        ("", "mv-9"),
        (worker, ""),
    ]
    trusted = ok(
        stub.ListAnnotationWorkers(
            s.ListAnnotationWorkersRequest(user_app_id=app.uai, trusted_only=True), metadata=app.meta
        )
    )
    assert [w.user.id for w in trusted.workers] == [app.user_id]


# ----------------------------------------------------------------------------- REST JSON view


def test_rest_listing_is_the_printed_proto(grpc_stub: Any, app: AppFixture) -> None:
    """ListAnnotations over REST is rendered from stored JSON, not from the proto: every shape
    must come out exactly as the printer renders the gRPC answer, including rows stored before
    renderings were (``data_json`` NULL) or by another printer version."""
    prepare_app(grpc_stub, app, inputs=("in-1", "in-2", "in-3"))
    info = struct(task_id="t-1", nested={"n": 3, "big": 2**60, "f": 0.25, "l": [1, "a", None, True]})
    triangle = polygon([(0.1, 0.1), (0.2, 0.9), (0.9, 0.3)], water=0)
    first = ok(
        post(
            grpc_stub,
            app,
            ann("in-1", data=r.Data(concepts=concepts(tree=1, water=0))),
            ann("in-2", data=r.Data(regions=[box(0, 0, 0.5, 0.5, tree=1), triangle])),
            ann("in-3", annotation_info=info, data=r.Data(concepts=concepts(tree=0.7))),
            ann("in-3", ann_id="empty"),
        )
    ).annotations[0]
    ok(patch(grpc_stub, app, "merge", ann("in-1", ann_id=first.id, data=r.Data(concepts=concepts(water=1)))))
    base = app.server.base_url
    everything = {"list_all_annotations": True, "per_page": 100}
    assert rest_listing_matches_grpc(base, grpc_stub, app.meta, app.uai, **everything) == 7  # + 3 input-level
    with app.server.app.db.write() as conn:  # as if written by an older server
        a = t.annotations.c
        legacy = {"data_json": None, "data_json_format": None}
        conn.execute(t.annotations.update().where(a.id == "empty").values(**legacy))
        conn.execute(t.annotations.update().where(a.input_level.is_(True)).values(data_json_format=0))
    assert rest_listing_matches_grpc(base, grpc_stub, app.meta, app.uai, **everything) == 7
    assert rest_listing_matches_grpc(base, grpc_stub, app.meta, app.uai, page=2, per_page=2) == 2

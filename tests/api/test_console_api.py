"""What the console's data and people screens need from the API: the "has annotations" search
filter, counted and paged in SQL, and collaborators' scopes (set, changed, refused when not a scope)."""

from __future__ import annotations

from typing import Any

from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api import service_pb2 as s
from clarifai_grpc.grpc.api.status import status_code_pb2 as sc
from google.protobuf import json_format, struct_pb2

from tests.helpers import AppFixture, fails, ok


def _inputs(stub: Any, app: AppFixture, n: int) -> list[str]:
    ids = [f"in-{i}" for i in range(n)]
    inputs = [r.Input(id=i, data=r.Data(text=r.Text(raw=f"text {i}"))) for i in ids]
    ok(stub.PostInputs(s.PostInputsRequest(user_app_id=app.uai, inputs=inputs), metadata=app.meta))
    return ids


def _annotate(stub: Any, app: AppFixture, input_id: str, concept: str = "cat") -> None:
    ann = r.Annotation(input_id=input_id, data=r.Data(concepts=[r.Concept(id=concept, value=1)]))
    ok(
        stub.PostAnnotations(
            s.PostAnnotationsRequest(user_app_id=app.uai, annotations=[ann]), metadata=app.meta
        )
    )


def _annotated_filter(negate: bool = False) -> r.Filter:
    info = struct_pb2.Struct()
    info.update({"annotated": True})
    return r.Filter(negate=negate, annotation=r.Annotation(annotation_info=info))


def _search(stub: Any, app: AppFixture, f: r.Filter, page: int = 1, per_page: int = 2) -> list[str]:
    resp = ok(
        stub.PostInputsSearches(
            s.PostInputsSearchesRequest(
                user_app_id=app.uai,
                searches=[r.Search(query=r.Query(filters=[f]))],
                pagination=s.Pagination(page=page, per_page=per_page),
            ),
            metadata=app.meta,
        )
    )
    return [h.input.id for h in resp.hits]


def _count(stub: Any, app: AppFixture, f: r.Filter) -> int:
    resp = ok(
        stub.PostInputsSearches(
            s.PostInputsSearchesRequest(
                user_app_id=app.uai, searches=[r.Search(query=r.Query(filters=[f]))], only_count=True
            ),
            metadata=app.meta,
        )
    )
    return int(resp.hit_counts[0].estimated_total)


def test_has_annotations_filter_pages_and_counts(stub: Any, app: AppFixture) -> None:
    ids = _inputs(stub, app, 7)
    for i in (1, 2, 4, 6):
        _annotate(stub, app, ids[i])
    assert _count(stub, app, _annotated_filter()) == 4
    assert _count(stub, app, _annotated_filter(negate=True)) == 3
    assert _search(stub, app, _annotated_filter(), page=1) == ["in-1", "in-2"]
    assert _search(stub, app, _annotated_filter(), page=2) == ["in-4", "in-6"]
    assert _search(stub, app, _annotated_filter(), page=3) == []
    assert _search(stub, app, _annotated_filter(negate=True), per_page=10) == ["in-0", "in-3", "in-5"]
    # an input-level concept given at upload is a person's annotation too (ListAnnotations lists it)
    up = r.Input(id="tagged", data=r.Data(text=r.Text(raw="t"), concepts=[r.Concept(id="dog", value=1)]))
    ok(stub.PostInputs(s.PostInputsRequest(user_app_id=app.uai, inputs=[up]), metadata=app.meta))
    assert _count(stub, app, _annotated_filter()) == 5
    # with a metadata filter (matched in Python) the count and pages agree with the SQL-only path
    meta_filter = r.Filter(
        input=r.Input(data=r.Data(metadata=json_format.ParseDict({}, struct_pb2.Struct())))
    )
    assert _count(stub, app, meta_filter) == 8


def test_annotated_filter_refuses_other_annotation_info(stub: Any, app: AppFixture) -> None:
    info = struct_pb2.Struct()
    info.update({"annotated": "yes"})
    f = r.Filter(annotation=r.Annotation(annotation_info=info))
    resp = stub.PostInputsSearches(
        s.PostInputsSearchesRequest(user_app_id=app.uai, searches=[r.Search(query=r.Query(filters=[f]))]),
        metadata=app.meta,
    )
    fails(resp, sc.CONN_INVALID_REQUEST, "annotation_info", "annotated")


def test_annotations_search_with_annotated_filter_leaves_out_bare_input_level(
    stub: Any, app: AppFixture
) -> None:
    ids = _inputs(stub, app, 2)
    _annotate(stub, app, ids[0])
    resp = ok(
        stub.PostAnnotationsSearches(
            s.PostAnnotationsSearchesRequest(
                user_app_id=app.uai, searches=[r.Search(query=r.Query(filters=[_annotated_filter()]))]
            ),
            metadata=app.meta,
        )
    )
    assert [(h.annotation.input_id, [c.id for c in h.annotation.data.concepts]) for h in resp.hits] == [
        ("in-0", ["cat"])
    ]


def test_collaborator_scopes_are_set_listed_changed_and_checked(stub: Any, app: AppFixture) -> None:
    ana, _ = app.new_user("ana", collaborator=False)
    ok(
        stub.PostCollaborators(
            s.PostCollaboratorsRequest(
                user_app_id=app.uai,
                collaborators=[r.Collaborator(user=r.User(id=ana), scopes=["Inputs:Get", "Annotations:Add"])],
            ),
            metadata=app.meta,
        )
    )

    def listed() -> list[tuple[str, list[str]]]:
        got = ok(stub.ListCollaborators(s.ListCollaboratorsRequest(user_app_id=app.uai), metadata=app.meta))
        return [(c.user.id, list(c.scopes)) for c in got.collaborators]

    assert (ana, ["Inputs:Get", "Annotations:Add"]) in listed()
    changed = ok(
        stub.PatchCollaborators(
            s.PatchCollaboratorsRequest(
                user_app_id=app.uai,
                action="overwrite",
                collaborators=[r.Collaborator(user=r.User(id=ana), scopes=["Inputs:Get"])],
            ),
            metadata=app.meta,
        )
    )
    assert [(c.user.id, list(c.scopes)) for c in changed.collaborators] == [(ana, ["Inputs:Get"])]
    assert (ana, ["Inputs:Get"]) in listed()
    bad = stub.PatchCollaborators(
        s.PatchCollaboratorsRequest(
            user_app_id=app.uai, collaborators=[r.Collaborator(user=r.User(id=ana), scopes=["inputs get"])]
        ),
        metadata=app.meta,
    )
    fails(bad, sc.CONN_INVALID_REQUEST, "collaborators[0].scopes[0]")
    unknown = stub.PatchCollaborators(
        s.PatchCollaboratorsRequest(
            user_app_id=app.uai, collaborators=[r.Collaborator(user=r.User(id="nobody"), scopes=["All"])]
        ),
        metadata=app.meta,
    )
    assert unknown.status.code == sc.CONN_DOES_NOT_EXIST
    assert (ana, ["Inputs:Get"]) in listed()

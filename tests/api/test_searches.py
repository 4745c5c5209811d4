"""Search filters over both transports: annotation fields (issue: an unsupported filter used to
match everything), PostInputsSearches and PostAnnotationsSearches."""

from __future__ import annotations

from typing import Any

from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api import service_pb2 as s
from clarifai_grpc.grpc.api.status import status_code_pb2 as sc
from google.protobuf import json_format

from tests.helpers import IMG, AppFixture, fails, ok


def world(stub: Any, app: AppFixture) -> str:
    """Inputs a (image, cat by owner), b (image, dog by a collaborator), t (text, no labels)."""
    worker, worker_meta = app.new_user("worker")
    ok(
        stub.PostInputs(
            s.PostInputsRequest(
                user_app_id=app.uai,
                inputs=[
                    r.Input(
                        id="a", data=r.Data(image=r.Image(url=IMG), concepts=[r.Concept(id="cat", value=1)])
                    ),
                    r.Input(id="b", data=r.Data(image=r.Image(url=IMG + "?b"))),
                    r.Input(id="t", data=r.Data(text=r.Text(raw="hello"))),
                ],
            ),
            metadata=app.meta,
        )
    )
    dog = r.Annotation(input_id="b", data=r.Data(concepts=[r.Concept(id="dog", name="Dog", value=1)]))
    ok(
        stub.PostAnnotations(
            s.PostAnnotationsRequest(user_app_id=app.uai, annotations=[dog]), metadata=worker_meta
        )
    )
    return worker


def query(**f: Any) -> r.Query:
    return json_format.ParseDict({"filters": [f]}, r.Query())


def inputs_search(stub: Any, app: AppFixture, q: r.Query) -> Any:
    req = s.PostInputsSearchesRequest(user_app_id=app.uai, searches=[r.Search(query=q)])
    return stub.PostInputsSearches(req, metadata=app.meta)


def hit_ids(resp: Any) -> list[str]:
    return sorted(h.input.id for h in ok(resp).hits)


def test_annotation_filters_select_by_user_status_task_input_and_concept(stub: Any, app: AppFixture) -> None:
    worker = world(stub, app)
    cases = [
        ({"annotation": {"user_id": "nobody"}}, []),
        ({"annotation": {"user_id": worker}}, ["b"]),
        ({"annotation": {"user_id": worker, "data": {"concepts": [{"id": "cat"}]}}}, []),
        ({"annotation": {"user_id": app.user_id, "data": {"concepts": [{"id": "cat", "value": 1}]}}}, ["a"]),
        ({"annotation": {"data": {"concepts": [{"name": "Dog", "value": 1}]}}}, ["b"]),
        ({"annotation": {"task_id": "no-task"}}, []),
        ({"annotation": {"input_id": "t"}}, ["t"]),
        ({"annotation": {"status": {"code": sc.ANNOTATION_SUCCESS}, "user_id": worker}}, ["b"]),
        ({"input": {"data": {"text": {}}}}, ["t"]),
        ({"negate": True, "input": {"data": {"image": {}}}}, ["t"]),
    ]
    for f, want in cases:
        plain = stub.PostSearches(
            s.PostSearchesRequest(user_app_id=app.uai, query=query(**f)), metadata=app.meta
        )
        assert hit_ids(plain) == want, f
        assert hit_ids(inputs_search(stub, app, query(**f))) == want, f


def test_unsupported_filters_are_refused_and_cannot_be_saved(stub: Any, app: AppFixture) -> None:
    world(stub, app)
    q = query(annotation={"model_version_id": "m1"})
    fails(
        inputs_search(stub, app, q), sc.CONN_INVALID_REQUEST, "query.filters[0].annotation.model_version_id"
    )
    saved = s.PostSearchesRequest(user_app_id=app.uai, searches=[r.Search(id="bad", save=True, query=q)])
    fails(stub.PostSearches(saved, metadata=app.meta), sc.CONN_INVALID_REQUEST, "model_version_id")
    fails(
        stub.GetSearch(s.GetSearchRequest(user_app_id=app.uai, id="bad"), metadata=app.meta),
        sc.CONN_DOES_NOT_EXIST,
    )
    rank = r.Query(ranks=[r.Rank(annotation=r.Annotation(data=r.Data(image=r.Image(url=IMG))))])
    fails(inputs_search(stub, app, rank), sc.NOT_IMPLEMENTED, "similarity")


def test_inputs_search_counts_and_paginates(stub: Any, app: AppFixture) -> None:
    world(stub, app)
    everything = r.Query()
    req = s.PostInputsSearchesRequest(
        user_app_id=app.uai, searches=[r.Search(query=everything)], only_count=True
    )
    assert ok(stub.PostInputsSearches(req, metadata=app.meta)).hit_counts[0].estimated_total == 3
    page = s.PostInputsSearchesRequest(
        user_app_id=app.uai,
        searches=[r.Search(query=everything)],
        pagination=s.Pagination(page=2, per_page=2),
    )
    assert hit_ids(stub.PostInputsSearches(page, metadata=app.meta)) == ["t"]


def test_annotations_search_answers_the_matching_annotations(stub: Any, app: AppFixture) -> None:
    worker = world(stub, app)

    def search(**f: Any) -> list[tuple[str, str]]:
        req = s.PostAnnotationsSearchesRequest(user_app_id=app.uai, searches=[r.Search(query=query(**f))])
        return sorted(
            (h.annotation.input_id, h.annotation.user_id)
            for h in ok(stub.PostAnnotationsSearches(req, metadata=app.meta)).hits
        )

    assert search(annotation={"user_id": worker}) == [("b", worker)]
    assert search(annotation={"data": {"concepts": [{"id": "cat", "value": 1}]}}) == [("a", app.user_id)]
    assert search(annotation={"user_id": "nobody"}) == []
    assert search(input={"id": "b"}) == [("b", app.user_id), ("b", worker)]

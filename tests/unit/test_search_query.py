"""The search filter rule: which fields run, which are refused (naming the field)."""

from __future__ import annotations

from typing import Any

import pytest
from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api.status import status_code_pb2 as sc
from clarifai_grpc.grpc.api.status import status_pb2
from google.protobuf import json_format
from hypothesis import given
from hypothesis import strategies as st

from labeldesk.domain import errors
from labeldesk.domain.search_query import ConceptRef, Criterion, criteria_of, media_of, set_fields


def query(**filter_fields: Any) -> r.Query:
    return json_format.ParseDict({"filters": [filter_fields]}, r.Query())


RUN = [
    ({"annotation": {"user_id": "alice"}}, Criterion(annotation_user_id="alice")),
    (
        {"annotation": {"status": {"code": sc.ANNOTATION_SUCCESS}}},
        Criterion(annotation_status=sc.ANNOTATION_SUCCESS),
    ),
    ({"annotation": {"task_id": "t1"}}, Criterion(annotation_task_id="t1")),
    ({"annotation": {"input_id": "in-1"}}, Criterion(input_id="in-1")),
    (
        {"annotation": {"data": {"concepts": [{"id": "cat", "value": 1}, {"name": "Dog", "value": 0}]}}},
        Criterion(concepts=(ConceptRef(id="cat"), ConceptRef(name="Dog", present=False))),
    ),
    ({"input": {"dataset_ids": ["d1"]}}, Criterion(dataset_ids=("d1",))),
    ({"input": {"status": {"code": 30000}}}, Criterion(input_status=30000)),
    ({"input": {"data": {"image": {}, "text": {}}}}, Criterion(input_types=("image", "text"))),
    ({"input": {"data": {"metadata": {"k": [1]}}}}, Criterion(metadata={"k": [1.0]})),
    ({"negate": True, "input": {"id": "x"}}, Criterion(negate=True, input_id="x")),
]


@pytest.mark.parametrize(("f", "want"), RUN)
def test_supported_filters_become_criteria(f: dict[str, Any], want: Criterion) -> None:
    assert criteria_of(query(**f)) == [want]


REFUSED = [
    ({"annotation": {"model_version_id": "m"}}, "query.filters[0].annotation.model_version_id"),
    ({"annotation": {"trusted": True}}, "query.filters[0].annotation.trusted"),
    ({"annotation": {"id": "a1"}}, "query.filters[0].annotation.id"),
    ({"annotation": {"status": {"description": "x"}}}, "query.filters[0].annotation.status.description"),
    ({"annotation": {"data": {"regions": [{"id": "r"}]}}}, "query.filters[0].annotation.data.regions"),
    ({"annotation": {"data": {"geo": {"geo_point": {"longitude": 1}}}}}, "annotation.data.geo.geo_point"),
    ({"annotation": {"data": {"concepts": [{"id": "c", "app_id": "a"}]}}}, "data.concepts[0].app_id"),
    ({"annotation": {"data": {"concepts": [{"value": 1}]}}}, "data.concepts[0]: filter by concept"),
    ({"input": {"created_at": "2020-01-01T00:00:00Z"}}, "query.filters[0].input.created_at"),
    ({"last_updated_time_range": {"start_time": "2020-01-01T00:00:00Z"}}, "last_updated_time_range"),
]


@pytest.mark.parametrize(("f", "field"), REFUSED)
def test_unsupported_filters_are_refused_naming_the_field(f: dict[str, Any], field: str) -> None:
    with pytest.raises(errors.ApiError) as e:
        criteria_of(query(**f))
    assert e.value.code == errors.INVALID_REQUEST and field in e.value.description


@pytest.mark.parametrize(
    "q",
    [
        {"ranks": [{"annotation": {"data": {"image": {"url": "https://x/y.jpg"}}}}]},
        {"filters": [{"input": {"data": {"image": {"url": "https://x/y.jpg"}}}}]},
        {"filters": [{"annotation": {"data": {"text": {"raw": "hello"}}}}]},
    ],
)
def test_similarity_is_not_supported(q: dict[str, Any]) -> None:
    with pytest.raises(errors.ApiError) as e:
        criteria_of(json_format.ParseDict(q, r.Query()))
    assert e.value.code == errors.NOT_IMPLEMENTED and "similarity" in e.value.description


def test_empty_filters_and_ranks_select_everything() -> None:
    empty = r.Query(filters=[r.Filter(annotation=r.Annotation(), input=r.Input())], ranks=[r.Rank()])
    assert criteria_of(empty) == []


def test_set_fields_walks_sub_messages_but_takes_media_and_metadata_whole() -> None:
    a = r.Annotation(user_id="u", status=status_pb2.Status(code=1), data=r.Data(image=r.Image()))
    assert sorted(set_fields(a)) == ["data.image", "status.code", "user_id"]


@given(st.sets(st.sampled_from(["image", "video", "audio", "text"])))
def test_media_of_is_the_media_present(media: set[str]) -> None:
    data = r.Data()
    for m in media:
        getattr(data, m).SetInParent()
    assert media_of(data) == media


@given(st.text(min_size=1, max_size=20), st.booleans())
def test_any_annotation_user_id_is_a_criterion_never_ignored(user_id: str, negate: bool) -> None:
    got = criteria_of(r.Query(filters=[r.Filter(negate=negate, annotation=r.Annotation(user_id=user_id))]))
    assert got == [Criterion(negate=negate, annotation_user_id=user_id)]

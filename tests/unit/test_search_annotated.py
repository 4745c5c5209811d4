"""labeldesk's "has annotations" search filter: ``annotation_info: {"annotated": true}``."""

from __future__ import annotations

from typing import Any

import pytest
from clarifai_grpc.grpc.api import resources_pb2 as r
from google.protobuf import json_format

from labeldesk.domain import errors
from labeldesk.domain.search_query import Criterion, criteria_of


def _query(*filters: dict[str, Any]) -> r.Query:
    return json_format.ParseDict({"filters": list(filters)}, r.Query())


@pytest.mark.parametrize(
    ("f", "want"),
    [
        ({"annotation": {"annotation_info": {"annotated": True}}}, [Criterion(annotated=True)]),
        (
            {"negate": True, "annotation": {"annotation_info": {"annotated": True}}},
            [Criterion(negate=True, annotated=True)],
        ),
        (
            {"annotation": {"user_id": "ana", "annotation_info": {"annotated": True}}},
            [Criterion(annotation_user_id="ana", annotated=True)],
        ),
        # an empty annotation_info (or annotation) is no filter at all, as in Clarifai
        ({"annotation": {"annotation_info": {}}}, []),
    ],
)
def test_annotated_filter_is_run(f: dict[str, Any], want: list[Criterion]) -> None:
    assert criteria_of(_query(f)) == want


def test_annotated_criterion_is_an_annotation_criterion() -> None:
    (c,) = criteria_of(_query({"annotation": {"annotation_info": {"annotated": True}}}))
    assert c.on_annotation and not c.is_empty()


@pytest.mark.parametrize(
    "info", [{"annotated": False}, {"annotated": "yes"}, {"annotated": True, "by": "ana"}, {"other": 1}]
)
def test_any_other_annotation_info_is_refused_naming_it(info: dict[str, Any]) -> None:
    with pytest.raises(errors.ApiError) as e:
        criteria_of(_query({"annotation": {"annotation_info": info}}))
    assert e.value.code == errors.INVALID_REQUEST
    assert "query.filters[0].annotation.annotation_info" in e.value.description
    assert '{"annotated": true}' in e.value.description

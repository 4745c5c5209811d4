"""The JSON view of an annotation (REST ListAnnotations) against the proto view rendered by the REST
printer: byte for byte the same JSON for any row, whether its data rendering is stored, missing or
from another printer version."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api import service_pb2
from hypothesis import given, settings
from hypothesis import strategies as st

from labeldesk.services.annotation_views import annotation_json, annotation_proto, stored_data
from labeldesk.wire.printer import NESTED_JSON_FORMAT, message_to_json

ids = st.text(alphabet="abc-_019", min_size=1, max_size=8)
maybe_id = st.one_of(st.just(""), ids)
unit = st.floats(min_value=0, max_value=1, allow_nan=False, width=32)
concept = st.builds(r.Concept, id=ids, name=ids, value=unit)
box = st.builds(r.BoundingBox, top_row=unit, left_col=unit, bottom_row=unit, right_col=unit)
polygon = st.builds(
    r.Polygon, points=st.lists(st.builds(r.Point, row=unit, col=unit), min_size=3, max_size=4)
)
region = st.builds(
    r.Region,
    id=ids,
    region_info=st.one_of(
        st.builds(r.RegionInfo, bounding_box=box), st.builds(r.RegionInfo, polygon=polygon)
    ),
    data=st.builds(r.Data, concepts=st.lists(concept, max_size=2)),
)
data = st.builds(r.Data, concepts=st.lists(concept, max_size=3), regions=st.lists(region, max_size=2))
json_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**62), max_value=2**62),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=5),
)
json_value = st.recursive(
    json_scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)
json_object = st.dictionaries(st.text(max_size=6), json_value, max_size=4)
zones = st.sampled_from([None, timezone.utc, timezone(timedelta(hours=2)), timezone(timedelta(hours=-7))])
micros = st.sampled_from([0, 1000, 120000, 123456, 999999])


@st.composite
def times(draw: st.DrawFn) -> datetime:
    base = draw(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1)))
    return base.replace(microsecond=draw(micros), tzinfo=draw(zones))


@st.composite
def rows(draw: st.DrawFn) -> dict[str, Any]:
    created = draw(times())
    stored = stored_data(draw(data))
    rendering = draw(st.sampled_from(["stored", "missing", "stale"]))
    if rendering == "missing":
        stored.update(data_json=None, data_json_format=None)
    elif rendering == "stale":
        stored.update(data_json=b'{"stale":true}', data_json_format=NESTED_JSON_FORMAT + 1)
    return {
        "id": draw(maybe_id),
        "input_id": draw(maybe_id),
        "user_id": draw(maybe_id),
        "model_version_id": draw(maybe_id),
        "embed_model_version_id": draw(maybe_id),
        "task_id": draw(st.one_of(st.none(), maybe_id)),
        "trusted": draw(st.booleans()),
        "input_level": draw(st.booleans()),
        "status": draw(st.sampled_from([0, 24150, 24151, 24152, 24153, 24155, 99999])),
        "created_at": created,
        "modified_at": draw(st.one_of(st.just(created), times())),
        "annotation_info": draw(st.one_of(st.none(), st.just({}), json_object)),
        **stored,
    }


def printed(row: dict[str, Any], consensus: dict[str, Any] | None) -> dict[str, Any]:
    """The proto view through the REST printer, as an element of a list response."""
    resp = service_pb2.MultiAnnotationResponse()
    a = annotation_proto(row, resp.annotations.add())
    if consensus is not None:
        a.consensus_info.update(consensus)
    return message_to_json(resp)["annotations"][0]  # type: ignore[no-any-return]


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)  # true is not 1, 1.0 is not 1


@settings(max_examples=300, deadline=None)
@given(row=rows(), consensus=st.one_of(st.none(), json_object))
def test_json_view_is_the_printed_proto(row: dict[str, Any], consensus: dict[str, Any] | None) -> None:
    view = orjson.loads(orjson.dumps(annotation_json(row, consensus)))
    assert canonical(view) == canonical(printed(row, consensus))


def test_keys_come_in_field_number_order_like_the_printer() -> None:
    row = {
        "id": "a",
        "input_id": "i",
        "user_id": "u",
        "model_version_id": "m",
        "embed_model_version_id": "e",
        "task_id": "t",
        "trusted": True,
        "input_level": True,
        "status": 24150,
        "created_at": datetime(2026, 1, 2, 3, 4, 5, 6000),
        "modified_at": datetime(2026, 1, 2, 3, 4, 6),
        "annotation_info": {"k": 1},
        **stored_data(r.Data(concepts=[r.Concept(id="c", value=0)])),
    }
    view = orjson.dumps(annotation_json(row, {"state": "x"}))
    assert view == orjson.dumps(printed(row, {"state": "x"}))
    assert b'"value":0' in view, "a concept's value 0 is shown (clients read a missing value as 1)"

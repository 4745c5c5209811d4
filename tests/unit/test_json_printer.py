"""Protobuf -> JSON (the printer of responses and stored renderings), read back by the official
client's own parser."""

from __future__ import annotations

import json

from clarifai_grpc.channel.custom_converters.custom_dict_to_message import dict_to_protobuf
from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2, status_pb2
from google.protobuf import timestamp_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labeldesk.wire.printer import message_to_json, message_to_json_bytes
from tests.protos import annotation, f32, ids, structs

# =============================================================================================
# message_to_json
# =============================================================================================


def test_emits_concept_value_zero_and_bbox_zeros() -> None:
    out = message_to_json(service_pb2.MultiAnnotationResponse(annotations=[annotation(0.0)]))
    data = out["annotations"][0]["data"]
    assert data["concepts"] == [{"id": "cat", "value": 0.0}]
    assert data["regions"][0]["region_info"]["bounding_box"] == {
        "top_row": 0.0,
        "left_col": 0.0,
        "bottom_row": 0.0,
        "right_col": 0.5,
    }


def test_emits_points_even_at_the_origin() -> None:
    polygon = resources_pb2.Polygon(points=[resources_pb2.Point(), resources_pb2.Point(row=0.25)])
    out = message_to_json(polygon)
    assert out["points"] == [{"row": 0.0, "col": 0.0}, {"row": 0.25, "col": 0.0}]


def test_emits_status_and_empty_top_level_lists_only() -> None:
    out = message_to_json(service_pb2.MultiAnnotationResponse(status=status_pb2.Status(code=10000)))
    assert out == {"status": {"code": 10000, "description": ""}, "annotations": []}
    out = message_to_json(service_pb2.MultiTaskResponse())
    assert out["tasks"] == []
    assert out["status"] == {"code": 0, "description": ""}


def test_status_codes_are_numbers_other_enums_names() -> None:
    task = resources_pb2.Task(
        type=resources_pb2.Task.CONCEPTS_CLASSIFICATION, status=status_pb2.Status(code=54001)
    )
    out = message_to_json(service_pb2.SingleTaskResponse(task=task))
    assert out["task"]["type"] == "CONCEPTS_CLASSIFICATION"
    assert out["task"]["status"]["code"] == 54001


def test_does_not_dump_nested_defaults() -> None:
    annotation = resources_pb2.Annotation(id="a", data=resources_pb2.Data())
    out = message_to_json(service_pb2.MultiAnnotationResponse(annotations=[annotation]))
    assert out["annotations"] == [{"id": "a", "data": {}}]


def test_emits_count_fields() -> None:
    response = service_pb2.SingleTaskCountResponse(
        task_id="t1", counts=[resources_pb2.TaskStatusCountPerUser(user_id="u1", success=2)]
    )
    assert message_to_json(response)["counts"] == [
        {
            "user_id": "u1",
            "pending": 0,
            "awaiting_review": 0,
            "success": 2,
            "review_denied": 0,
            "awaiting_consensus_review": 0,
        }
    ]
    counts = message_to_json(service_pb2.SingleInputCountResponse())["counts"]
    assert counts["processed"] == 0 and counts["to_process"] == 0
    assert message_to_json(service_pb2.GetResourceCountsResponse())["inputs"] == 0


def test_scalars_render_for_humans() -> None:
    task = resources_pb2.Task(id="t", sample_ms=5, priority=resources_pb2.Task.HIGH)
    task.created_at.FromJsonString("2024-05-01T12:00:00.250Z")
    concept = resources_pb2.Concept(id="c", value=0.7)
    image = resources_pb2.Image(base64=b"\x00\x01hi")
    hit = resources_pb2.HitCount(estimated_total=2**40)
    out = message_to_json(task)
    assert out["created_at"] == "2024-05-01T12:00:00.250Z"
    assert out["priority"] == "HIGH"
    assert message_to_json(concept)["value"] == 0.7  # shortest float32, not 0.699999988079071
    assert message_to_json(image)["base64"] == "AAFoaQ=="
    assert message_to_json(hit) == {"estimated_total": 2**40}  # int64 as a plain number


def test_enums_as_integers_on_request() -> None:
    response = service_pb2.MultiTaskResponse(status=status_pb2.Status(code=10000))
    assert message_to_json(response, use_integers_for_enums=True)["status"]["code"] == 10000


def test_bytes_output_is_compact_utf8_json() -> None:
    response = service_pb2.SingleTaskResponse(task=resources_pb2.Task(id="t", description="café ✓"))
    raw = message_to_json_bytes(response)
    assert "café ✓".encode() in raw
    assert json.loads(raw)["task"]["description"] == "café ✓"
    assert b": " not in raw


def test_nan_and_infinity_stay_valid_json() -> None:
    box = resources_pb2.BoundingBox(top_row=float("nan"), left_col=float("inf"))
    out = json.loads(message_to_json_bytes(box))
    assert out["top_row"] == "NaN" and out["left_col"] == "Infinity"


def test_official_client_parses_our_output() -> None:
    response = service_pb2.MultiAnnotationResponse(
        status=status_pb2.Status(code=10000, description="Ok"),
        annotations=[annotation(0.0), annotation(0.25)],
    )
    parsed = dict_to_protobuf(
        service_pb2.MultiAnnotationResponse, message_to_json(response), ignore_unknown_fields=True
    )
    assert parsed == response  # in particular value 0 does not come back as cl_default_float 1.0


def _big_response(n: int = 1000) -> service_pb2.MultiAnnotationResponse:
    annotations = []
    for i in range(n):
        box = resources_pb2.BoundingBox(top_row=0.1 * (i % 7), left_col=0.23, bottom_row=0.77, right_col=0.91)
        annotation = resources_pb2.Annotation(
            id=f"ann{i}",
            input_id=f"in{i}",
            user_id="u",
            status=status_pb2.Status(code=status_code_pb2.ANNOTATION_SUCCESS),
            data=resources_pb2.Data(
                concepts=[
                    resources_pb2.Concept(id="cat", value=1.0),
                    resources_pb2.Concept(id="dog", value=0.0),
                ],
                regions=[resources_pb2.Region(region_info=resources_pb2.RegionInfo(bounding_box=box))],
            ),
        )
        annotation.created_at.FromSeconds(1_700_000_000 + i)
        annotations.append(annotation)
    return service_pb2.MultiAnnotationResponse(status=status_pb2.Status(code=10000), annotations=annotations)


def test_a_thousand_annotations_print_and_parse_back() -> None:
    """The bulk path (per-descriptor plans, bytes output) answers what the client parses back whole.
    How fast it is is measured by benchmarks/, not asserted here."""
    response = _big_response()
    parsed = dict_to_protobuf(
        service_pb2.MultiAnnotationResponse,
        json.loads(message_to_json_bytes(response)),
        ignore_unknown_fields=True,
    )
    assert parsed == response


@st.composite
def _response_annotation(draw: st.DrawFn) -> resources_pb2.Annotation:
    box = resources_pb2.BoundingBox(
        top_row=draw(f32), left_col=draw(f32), bottom_row=draw(f32), right_col=draw(f32)
    )
    annotation = resources_pb2.Annotation(
        id=draw(ids),
        input_id=draw(ids),
        status=status_pb2.Status(code=draw(st.sampled_from([0, 10000, 24150, 24151]))),
        data=resources_pb2.Data(
            concepts=[resources_pb2.Concept(id=c, value=draw(f32)) for c in draw(st.lists(ids, max_size=3))],
            regions=[resources_pb2.Region(region_info=resources_pb2.RegionInfo(bounding_box=box))],
        ),
    )
    annotation.created_at.FromNanoseconds(draw(st.integers(0, 2**62)))
    if draw(st.booleans()):
        annotation.annotation_info.CopyFrom(draw(structs()))
    return annotation


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(annotations=st.lists(_response_annotation(), max_size=4))
def test_official_client_parses_any_annotation_response(annotations: list[resources_pb2.Annotation]) -> None:
    response = service_pb2.MultiAnnotationResponse(
        status=status_pb2.Status(code=10000), annotations=annotations
    )
    wire = json.loads(message_to_json_bytes(response))
    parsed = dict_to_protobuf(service_pb2.MultiAnnotationResponse, wire, ignore_unknown_fields=True)
    assert parsed == response


@given(seconds=st.integers(-62_135_596_800, 253_402_300_799), nanos=st.integers(0, 999_999_999))
def test_timestamps_render_like_protobuf(seconds: int, nanos: int) -> None:
    stamp = timestamp_pb2.Timestamp(seconds=seconds, nanos=nanos)
    assert message_to_json(resources_pb2.Task(created_at=stamp))["created_at"] == stamp.ToJsonString()

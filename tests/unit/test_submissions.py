"""The glue from stored annotations (``Data`` with concepts and regions) to consensus submissions,
the consensus decision for one input (unreachable thresholds included) and versions."""

from __future__ import annotations

from typing import Any

import pytest
from clarifai_grpc.grpc.api import resources_pb2 as r
from google.protobuf import json_format

from labeldesk.domain.consensus import Region, Submission
from labeldesk.domain.geometry import Box, Polygon
from labeldesk.domain.submissions import (
    consensus_kind,
    decide,
    majority_version,
    shape_of,
    submission_of,
    version_of,
)

# coordinates exact in float32 (the proto's type), so shapes compare equal
BOX = {"top_row": 0.125, "left_col": 0.25, "bottom_row": 0.5, "right_col": 0.625}
TRIANGLE = {"points": [{"row": 0.125, "col": 0.125}, {"row": 0.125, "col": 0.5}, {"row": 0.5, "col": 0.125}]}


def data(**fields: Any) -> r.Data:
    return json_format.ParseDict(fields, r.Data())


def concept(cid: str, value: float = 1.0) -> dict[str, Any]:
    return {"id": cid, "value": value}


def region(shape: dict[str, Any], *concepts: dict[str, Any]) -> dict[str, Any]:
    return {"region_info": shape, "data": {"concepts": list(concepts)}}


@pytest.mark.parametrize(
    ("task_type", "kind"),
    [
        (r.Task.CONCEPTS_CLASSIFICATION, "classification"),
        (r.Task.TYPE_NOT_SET, "classification"),
        (r.Task.BOUNDING_BOX_DETECTION, "regions"),
        (r.Task.POLYGON_DETECTION, "regions"),
    ],
)
def test_consensus_kind_follows_the_task_type(task_type: int, kind: str) -> None:
    assert consensus_kind(task_type) == kind


CLASSIFICATION = {
    "positive-concepts": ([data(concepts=[concept("cat"), concept("dog")])], {"cat", "dog"}),
    "value-0-is-not-present": ([data(concepts=[concept("cat"), concept("dog", 0)])], {"cat"}),
    "any-non-zero-value-is-present": ([data(concepts=[concept("cat", 0.7)])], {"cat"}),
    "several-annotations-are-one-submission": (
        [data(concepts=[concept("cat")]), data(concepts=[concept("dog")])],
        {"cat", "dog"},
    ),
    "region-concepts-do-not-count": ([data(regions=[region({"bounding_box": BOX}, concept("cat"))])], set()),
    "no-annotation-is-an-empty-submission": ([], set()),
}


@pytest.mark.parametrize(("datas", "expected"), CLASSIFICATION.values(), ids=CLASSIFICATION.keys())
def test_classification_submission(datas: list[r.Data], expected: set[str]) -> None:
    assert submission_of("a", datas, "classification") == Submission("a", concepts=frozenset(expected))


B = Box(0.125, 0.25, 0.5, 0.625)
T = Polygon(((0.125, 0.125), (0.125, 0.5), (0.5, 0.125)))

REGIONS = {
    "box": ([data(regions=[region({"bounding_box": BOX}, concept("cat"))])], [Region("cat", B)]),
    "polygon": ([data(regions=[region({"polygon": TRIANGLE}, concept("cat"))])], [Region("cat", T)]),
    "a-region-per-positive-concept": (
        [data(regions=[region({"bounding_box": BOX}, concept("dog"), concept("cat"), concept("cow", 0))])],
        [Region("cat", B), Region("dog", B)],
    ),
    "a-region-without-concept": ([data(regions=[region({"bounding_box": BOX})])], [Region("", B)]),
    "a-region-only-negative-is-dropped": (
        [data(regions=[region({"bounding_box": BOX}, concept("cat", 0))])],
        [],
    ),
    "other-shapes-are-not-compared": (
        [data(regions=[region({"point": {"row": 0.5, "col": 0.5}}, concept("cat"))])],
        [],
    ),
    "input-level-concepts-do-not-count": ([data(concepts=[concept("cat")])], []),
    "regions-of-several-annotations": (
        [
            data(regions=[region({"bounding_box": BOX}, concept("cat"))]),
            data(regions=[region({"polygon": TRIANGLE}, concept("dog"))]),
        ],
        [Region("cat", B), Region("dog", T)],
    ),
}


@pytest.mark.parametrize(("datas", "expected"), REGIONS.values(), ids=REGIONS.keys())
def test_region_submission(datas: list[r.Data], expected: list[Region]) -> None:
    assert submission_of("a", datas, "regions") == Submission("a", regions=tuple(expected))


def test_a_polygon_wins_over_a_box_on_the_same_region() -> None:
    info = json_format.ParseDict({"bounding_box": BOX, "polygon": TRIANGLE}, r.RegionInfo())
    assert shape_of(info) == T
    assert shape_of(r.RegionInfo()) is None


def cls(labeler: str, *concepts: str) -> Submission:
    return Submission(labeler, concepts=frozenset(concepts))


@pytest.mark.parametrize(
    ("subs", "raw", "reached", "agreeing"),
    [
        ((cls("a", "cat"), cls("b", "cat"), cls("c", "dog")), 2, True, {"a", "b"}),
        ((cls("a", "cat"), cls("b", "cat"), cls("c", "dog")), -1, False, set()),
        ((cls("a", "cat"), cls("b", "cat"), cls("c", "cat")), -1, True, {"a", "b", "c"}),
        ((cls("a", "cat"), cls("b", "dog"), cls("c", "cow")), 0, False, set()),  # 0 → 1, but a three-way tie
        # a threshold above the labelers of the input: never reached, reviewers decide
        ((cls("a", "cat"),), 2, False, set()),
        ((cls("a", "cat"), cls("b", "cat")), 3, False, set()),
    ],
)
def test_decide(subs: tuple[Submission, ...], raw: int, reached: bool, agreeing: set[str]) -> None:
    result = decide(subs, "classification", raw, 0.5)
    assert (result.reached, set(result.agreeing_labelers)) == (reached, agreeing)


def test_threshold_one_settles_on_the_strictly_largest_group() -> None:
    result = decide((cls("a", "cat"), cls("b", "cat"), cls("c", "dog")), "classification", 0, 0.5)
    assert result.reached and result.agreeing_labelers == {"a", "b"}


def test_an_unreachable_threshold_still_scores_the_labelers() -> None:
    result = decide((cls("a", "cat"), cls("b", "cat")), "classification", 3, 0.5)
    assert not result.reached and result.representative is None and result.threshold == 3
    assert result.input_score == 1.0 and result.labeler_scores == {"a": 1.0, "b": 1.0}
    lone = decide((cls("a", "cat"),), "classification", 2, 0.5)
    assert not lone.reached and lone.labeler_scores == {"a": 1.0}


def test_iou_threshold_is_used_for_regions() -> None:
    shifted = Box(0.145, 0.26, 0.52, 0.625)  # IoU with B ≈ 0.87
    subs = (Submission("a", regions=(Region("cat", B),)), Submission("b", regions=(Region("cat", shifted),)))
    assert decide(subs, "regions", -1, 0.5).reached
    assert not decide(subs, "regions", -1, 0.95).reached


GROUPS = [["b", "d"], ["a"], ["c"]]


@pytest.mark.parametrize(("labeler", "version"), [("b", "b"), ("d", "b"), ("a", "a"), ("x", None)])
def test_version_of_is_the_smallest_labeler_of_the_group(labeler: str, version: str | None) -> None:
    assert version_of(GROUPS, labeler) == version


@pytest.mark.parametrize(
    ("groups", "majority"),
    [
        (GROUPS, "b"),
        ([["a"], ["b"], ["c"]], None),  # split evenly
        ([["c", "d"], ["a", "b"]], None),
        ([["z"]], "z"),
        ([], None),
    ],
)
def test_majority_version(groups: list[list[str]], majority: str | None) -> None:
    assert majority_version(groups) == majority

"""How many must agree (labeler and reviewer quorums), the task's IoU threshold, and how task
validation applies them (domain/review_rules.py, domain/task_rules.py)."""

from __future__ import annotations

import math
from typing import Any

import pytest
from clarifai_grpc.grpc.api import resources_pb2 as r
from google.protobuf import json_format

from labeldesk.domain import errors
from labeldesk.domain.review_rules import consensus_iou_threshold, labeler_quorum, reviewer_quorum
from labeldesk.domain.task_rules import normalise_task


@pytest.mark.parametrize(
    ("raw", "population", "quorum"),
    [
        (0, 3, 1),  # 0 means 1
        (-1, 3, 3),  # -1 means all
        (2, 3, 2),
        (3, 3, 3),
        (2, 1, None),  # workers_per_input 1, threshold 2: labelers can never settle it
        (4, 3, None),
        (-1, 1, 1),
        (0, 1, 1),
    ],
)
def test_labeler_quorum(raw: int, population: int, quorum: int | None) -> None:
    assert labeler_quorum(raw, population) == quorum


def test_labeler_quorum_below_minus_one_is_refused() -> None:
    with pytest.raises(errors.ApiError, match="between -1 and 3"):
        labeler_quorum(-2, 3)


@pytest.mark.parametrize(
    ("raw", "reviewers", "eligible", "quorum"),
    [
        (0, 3, 3, 1),
        (1, 3, 3, 1),
        (2, 3, 3, 2),
        (-1, 3, 3, 3),
        (-1, 3, 2, 2),  # one reviewer labeled the work: all means all who may review it
        (3, 3, 2, 2),  # capped at the eligible reviewers, so the work cannot wait forever
        (5, 2, 2, 2),  # above the reviewers (some were removed): all of them
        (0, 1, 1, 1),
    ],
)
def test_reviewer_quorum(raw: int, reviewers: int, eligible: int, quorum: int) -> None:
    assert reviewer_quorum(raw, reviewers, eligible) == quorum


def test_reviewer_quorum_needs_an_eligible_reviewer() -> None:
    with pytest.raises(errors.ApiError, match="labeled it themselves"):
        reviewer_quorum(1, 1, 0)


@pytest.mark.parametrize(
    ("metadata", "threshold"),
    [
        (None, 0.5),
        ({}, 0.5),
        ({"other": 1}, 0.5),
        ({"consensus_iou_threshold": 0.75}, 0.75),
        ({"consensus_iou_threshold": 1}, 1.0),
        ({"consensus_iou_threshold": 0.01}, 0.01),
    ],
)
def test_consensus_iou_threshold(metadata: dict[str, Any] | None, threshold: float) -> None:
    assert consensus_iou_threshold(metadata) == threshold


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (0, "greater than 0 and at most 1"),
        (-0.5, "greater than 0 and at most 1"),
        (1.01, "greater than 0 and at most 1"),
        (math.nan, "not a number"),
        ("0.5", "not a number"),
        (True, "not a number"),
        ([0.5], "not a number"),
    ],
)
def test_consensus_iou_threshold_refused(value: Any, message: str) -> None:
    with pytest.raises(errors.ApiError) as caught:
        consensus_iou_threshold({"consensus_iou_threshold": value}, "tasks[0].metadata")
    assert caught.value.description.startswith("tasks[0].metadata.consensus_iou_threshold: ")
    assert message in caught.value.description


# --------------------------------------------------------------------------- task validation


def norm(**fields: Any) -> Any:
    return normalise_task(json_format.ParseDict(fields, r.Task()), "tasks[0]")


def manual(**info: Any) -> dict[str, Any]:
    return {"strategy": "MANUAL", "user_ids": ["r1", "r2"], "manual_strategy_info": info}


@pytest.mark.parametrize("sample", [0, 0.05, 0.5, 1, 1.5, 30, 100])
def test_sample_percentage_accepts_fractions_and_percentages(sample: float) -> None:
    spec = norm(review=manual(sample_percentage=sample)).spec
    assert spec.review.manual_strategy_info.sample_percentage == pytest.approx(sample), "stored as given"


@pytest.mark.parametrize("sample", [-0.01, 100.5, 150])
def test_sample_percentage_out_of_scale_names_the_field_and_the_rule(sample: float) -> None:
    with pytest.raises(errors.ApiError) as caught:
        norm(review=manual(sample_percentage=sample))
    text = caught.value.description
    assert text.startswith("tasks[0].review.manual_strategy_info.sample_percentage")
    assert "0.5 means 50 %" in text and "30 means 30 %" in text


@pytest.mark.parametrize(
    ("threshold", "accepted"), [(0, True), (2, True), (-1, True), (3, False), (-2, False)]
)
def test_manual_approval_threshold_is_checked_against_the_reviewers(threshold: int, accepted: bool) -> None:
    review = manual(sample_percentage=10, approval_threshold=threshold)
    if accepted:
        assert norm(review=review).spec.review.manual_strategy_info.approval_threshold == threshold
        return
    with pytest.raises(errors.ApiError, match=r"manual_strategy_info\.approval_threshold"):
        norm(review=review)


def test_task_metadata_iou_threshold_is_validated_and_computed_keys_are_dropped() -> None:
    spec = norm(metadata={"consensus_iou_threshold": 0.7, "agreement": {"labelers": []}, "mine": "kept"}).spec
    assert json_format.MessageToDict(spec.metadata) == {"consensus_iou_threshold": 0.7, "mine": "kept"}
    with pytest.raises(errors.ApiError, match=r"tasks\[0\]\.metadata\.consensus_iou_threshold"):
        norm(metadata={"consensus_iou_threshold": 2})

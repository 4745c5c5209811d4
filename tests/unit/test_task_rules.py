"""Table tests of task validation and normalisation (domain/task_rules.py): every accepted shape
is normalised the same way, every refused one names the field path and what to fix."""

from __future__ import annotations

from typing import Any

import pytest
from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api.status import status_code_pb2 as sc
from google.protobuf import json_format

from labeldesk.domain import errors
from labeldesk.domain.task_rules import merged_ids, normalise_task


def task(**fields: Any) -> r.Task:
    return json_format.ParseDict(fields, r.Task())


def norm(**fields: Any) -> Any:
    return normalise_task(task(**fields), "tasks[0]")


def partitioned(users: list[str], k: int = 1, **info: Any) -> dict[str, Any]:
    return {
        "strategy": "PARTITIONED",
        "user_ids": users,
        "partitioned_strategy_info": {"workers_per_input": k, **info},
    }


def test_defaults_of_a_minimal_task() -> None:
    n = norm()
    s = n.spec
    assert s.type == r.Task.CONCEPTS_CLASSIFICATION
    assert s.worker.strategy == r.TaskWorker.FULL
    assert s.review.strategy == r.TaskReview.NONE
    assert s.input_source.type == r.TaskInputSource.ALL_INPUTS
    assert s.status.code == sc.TASK_IN_PROGRESS
    assert (n.worker_ids, n.reviewer_ids, n.concept_ids, n.weights) == ((), (), (), {})


@pytest.mark.parametrize(
    "worker",
    [
        {"user_ids": ["a", "b"]},
        {"users": [{"id": "a"}, {"id": "b"}]},
        {"workers": [{"user": {"id": "a"}}, {"user": {"id": "b"}}]},
        {"user_ids": ["a"], "users": [{"id": "a"}, {"id": "b"}], "workers": [{"user": {"id": "b"}}]},
    ],
)
def test_worker_field_names_are_merged_and_all_answered(worker: dict[str, Any]) -> None:
    n = norm(worker={"strategy": "FULL", **worker})
    assert n.worker_ids == ("a", "b")
    assert list(n.spec.worker.user_ids) == ["a", "b"]
    assert [u.id for u in n.spec.worker.users] == ["a", "b"]
    assert [w.user.id for w in n.spec.worker.workers] == ["a", "b"]


def test_old_and_new_names_of_reviewers_and_concepts() -> None:
    n = norm(
        review={
            "strategy": "MANUAL",
            "users": [{"id": "r"}],
            "manual_strategy_info": {"sample_percentage": 10},
        },
        concepts=[{"concept": {"id": "tree"}}],
        concept_ids=["water"],
    )
    assert list(n.spec.review.user_ids) == ["r"] and [u.id for u in n.spec.review.users] == ["r"]
    assert n.concept_ids == ("water", "tree")
    assert [c.concept.id for c in n.spec.concepts] == ["water", "tree"]


def test_weighted_partition_keeps_relative_weights() -> None:
    n = norm(worker=partitioned(["a", "b"], type="WEIGHTED", weights={"a": 90, "b": 10}))
    assert n.weights == {"a": 90.0, "b": 10.0}
    assert n.spec.worker.partitioned_strategy_info.type == r.TaskWorkerPartitionedStrategyInfo.WEIGHTED


def test_partition_type_and_k_defaults() -> None:
    evenly = norm(worker={"strategy": "PARTITIONED", "user_ids": ["a", "b"]})
    info = evenly.spec.worker.partitioned_strategy_info
    assert (info.type, info.workers_per_input) == (r.TaskWorkerPartitionedStrategyInfo.EVENLY, 1)
    assert evenly.weights == {"a": 1.0, "b": 1.0}
    weighted = norm(
        worker={"user_ids": ["a", "b"], "partitioned_strategy_info": {"weights": {"a": 3, "b": 1}}}
    )
    assert weighted.spec.worker.strategy == r.TaskWorker.PARTITIONED
    assert weighted.spec.worker.partitioned_strategy_info.type == r.TaskWorkerPartitionedStrategyInfo.WEIGHTED


def test_consensus_threshold_names_are_both_answered() -> None:
    n = norm(
        worker=partitioned(["a", "b", "c"]),
        review={
            "strategy": "CONSENSUS",
            "user_ids": ["r"],
            "consensus_strategy_info": {"approval_threshold": 2},
        },
    )
    info = n.spec.review.consensus_strategy_info
    assert (info.approval_threshold, info.approval_threshold_labelers) == (2, 2)


def test_status_and_source_are_kept() -> None:
    n = norm(status={"code": "TASK_DONE"}, input_source={"type": "DATASET", "id": "ds"})
    assert n.spec.status.code == sc.TASK_DONE
    assert (n.spec.input_source.type, n.spec.input_source.id) == (r.TaskInputSource.DATASET, "ds")


BAD: list[tuple[dict[str, Any], str]] = [
    (
        {"worker": partitioned(["a", "b"], type="WEIGHTED", weights={"a": 1, "b": 1, "bob": 2})},
        "tasks[0].worker.partitioned_strategy_info.weights",
    ),
    ({"worker": partitioned(["a", "b"], type="WEIGHTED", weights={"a": 1, "b": -1})}, "positive"),
    ({"worker": partitioned(["a", "b"], type="WEIGHTED", weights={"a": 1})}, "no weight for 'b'"),
    ({"worker": partitioned(["a", "b"], k=3)}, "tasks[0].worker.partitioned_strategy_info.workers_per_input"),
    ({"worker": {"strategy": "PARTITIONED"}}, "tasks[0].worker.user_ids is empty"),
    (
        {"worker": {"strategy": "FULL", "user_ids": ["a", "a"]}},
        "tasks[0].worker.user_ids: 'a' is listed more",
    ),
    ({"worker": {"strategy": "FULL", "user_ids": [""]}}, "tasks[0].worker.user_ids[0]"),
    ({"worker": {"strategy": "FULL", "partitioned_strategy_info": {"weights": {"x": 1}}}}, "no workers"),
    (
        {"worker": {"workers": [{"workflow": {"id": "w"}}]}},
        "tasks[0].worker.workers[0]: workers are users or models",
    ),
    ({"worker": {"workers": [{"model": {}}]}}, "tasks[0].worker.workers[0].model.id"),
    ({"worker": {"type": "WORKER_AUTO"}}, "tasks[0].worker.type"),
    (
        {"review": {"strategy": "MANUAL", "manual_strategy_info": {"sample_percentage": 150}}},
        "tasks[0].review.manual_strategy_info.sample_percentage",
    ),
    (
        {
            "worker": {"strategy": "FULL", "user_ids": ["a", "b"]},
            "review": {
                "strategy": "CONSENSUS",
                "consensus_strategy_info": {"approval_threshold_labelers": 3},
            },
        },
        "tasks[0].review.consensus_strategy_info.approval_threshold_labelers",
    ),
    (
        {
            "review": {
                "strategy": "CONSENSUS",
                "user_ids": ["r"],
                "consensus_strategy_info": {"approval_threshold_reviewers": 2},
            }
        },
        "tasks[0].review.consensus_strategy_info.approval_threshold_reviewers",
    ),
    ({"input_source": {"type": "SAVED_SEARCH"}}, "tasks[0].input_source.id"),
    ({"input_source": {"type": "DATASET"}}, "tasks[0].input_source.id"),
    ({"status": {"code": "SUCCESS"}}, "tasks[0].status.code"),
    ({"concept_ids": ["tree", "tree"]}, "tasks[0].concept_ids"),
]


@pytest.mark.parametrize(("fields", "text"), BAD)
def test_refusals_name_the_field(fields: dict[str, Any], text: str) -> None:
    with pytest.raises(errors.ApiError) as e:
        norm(**fields)
    assert e.value.code == sc.CONN_INVALID_REQUEST
    assert text in e.value.description, e.value.description


@pytest.mark.parametrize(
    ("field", "value"),
    [("type", 9), ("priority", 9)],
)
def test_unknown_enum_numbers_are_refused(field: str, value: int) -> None:
    t = r.Task()
    setattr(t, field, value)
    with pytest.raises(errors.ApiError) as e:
        normalise_task(t, "tasks[2]")
    assert f"tasks[2].{field}" in e.value.description


def test_the_input_task_is_not_modified() -> None:
    t = task(worker={"users": [{"id": "a"}]})
    normalise_task(t, "tasks[0]")
    assert list(t.worker.user_ids) == []


def test_merged_ids_keeps_order() -> None:
    assert merged_ids([("x", ["b", "a"]), ("y", ["a", "c"])]) == ("b", "a", "c")

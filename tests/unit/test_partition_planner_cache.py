"""The per-process cache of partition planners (services/seat_plans.py): a kept planner plans
exactly as a fresh one, and any change of the task's workers, weights or k gets another."""

from __future__ import annotations

from labeldesk.domain.assignment import PartitionPlanner
from labeldesk.services.seat_plans import partition_planner

WORKERS = {f"w{i}": 1.0 for i in range(32)}
INPUTS = [f"in-{i}" for i in range(700)]


def test_a_kept_planner_plans_as_a_fresh_one() -> None:
    kept = partition_planner("task-a", WORKERS, 1)
    kept.plan(INPUTS[:300])  # its layouts are built and kept
    assert partition_planner("task-a", dict(WORKERS), 1) is kept
    assert kept.plan(INPUTS) == PartitionPlanner("task-a", WORKERS, 1).plan(INPUTS)


def test_another_task_workers_weights_or_k_get_another_planner() -> None:
    kept = partition_planner("task-b", WORKERS, 1)
    fewer = {w: 1.0 for w in list(WORKERS)[:31]}
    weighted = {**WORKERS, "w0": 3.0}
    for task_id, weights, k in (
        ("task-c", WORKERS, 1),
        ("task-b", fewer, 1),
        ("task-b", weighted, 1),
        ("task-b", WORKERS, 2),
    ):
        other = partition_planner(task_id, weights, k)
        assert other is not kept
        assert other.plan(INPUTS) == PartitionPlanner(task_id, weights, k).plan(INPUTS)

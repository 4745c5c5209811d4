"""Pre-label rules: the assistant named by a task, which predictions become pre-labels, and the
kept / changed / removed outcome of each pre-label against a labeler's regions."""

from __future__ import annotations

import pytest
from clarifai_grpc.grpc.api import resources_pb2
from hypothesis import given
from hypothesis import strategies as st

from labeldesk.domain import errors
from labeldesk.domain import prelabels as rules

R = resources_pb2


def box(rid: str, concept: str, left: float = 0.1, top: float = 0.1, value: float = 0.9) -> R.Region:
    r = R.Region(id=rid, value=value)
    b = r.region_info.bounding_box
    b.left_col, b.top_row, b.right_col, b.bottom_row = left, top, left + 0.2, top + 0.2
    r.data.concepts.add(id=concept, value=value)
    return r


@pytest.mark.parametrize(
    ("assistant", "params", "expected"),
    [
        ({"workflow_id": "m"}, {}, rules.Assistant("m", "", 0.0, 1.0)),
        ({"workflow": {"id": "m"}}, {"min_threshold": 0.5}, rules.Assistant("m", "", 0.5, 1.0)),
        (
            {"workflow": {"nodes": [{"id": "n", "model": {"id": "m", "model_version": {"id": "v"}}}]}},
            {"min_threshold": 0.25, "max_threshold": 0.75},
            rules.Assistant("m", "v", 0.25, 0.75),
        ),
        ({}, {"min_threshold": 0.5}, None),
    ],
)
def test_the_assistant_of_a_task(assistant: dict, params: dict, expected: rules.Assistant | None) -> None:  # type: ignore[type-arg]
    from google.protobuf import json_format

    task = json_format.ParseDict({"ai_assistant": assistant, "ai_assist_params": params}, R.Task())
    assert rules.assistant_of(task, "tasks[0]") == expected


@pytest.mark.parametrize(
    ("task", "field"),
    [
        (
            R.Task(ai_assistant=R.TaskAIAssistant(workflow_id="a", workflow=R.Workflow(id="b"))),
            "tasks[0].ai_assistant",
        ),
        (
            R.Task(
                ai_assistant=R.TaskAIAssistant(workflow_id="a"),
                ai_assist_params=R.AiAssistParameters(min_threshold=0.9, max_threshold=0.1),
            ),
            "tasks[0].ai_assist_params",
        ),
        (
            R.Task(
                ai_assistant=R.TaskAIAssistant(
                    workflow=R.Workflow(nodes=[R.WorkflowNode(), R.WorkflowNode()])
                )
            ),
            "tasks[0].ai_assistant.workflow.nodes",
        ),
        (
            R.Task(
                ai_assistant=R.TaskAIAssistant(workflow_id="a"),
                worker=R.TaskWorker(workers=[R.Worker(model=R.Model(id="a"))]),
            ),
            "tasks[0].ai_assistant",
        ),
    ],
)
def test_inconsistent_assistants_are_refused_naming_the_field(task: R.Task, field: str) -> None:
    with pytest.raises(errors.ApiError) as e:
        rules.assistant_of(task, "tasks[0]")
    assert e.value.description.startswith(field) and e.value.code == errors.INVALID_REQUEST


def test_prelabels_keep_regions_above_the_threshold_of_the_task_concepts() -> None:
    pred = R.Data(
        regions=[box("", "face", value=0.9), box("", "face", value=0.3), box("", "hat", value=0.95)]
    )
    got = rules.prelabels_for(pred, rules.Assistant("m", "", 0.5, 1.0), {"face"}, "a1")
    assert [(r.id, r.data.concepts[0].id, r.value) for r in got.regions] == [
        ("a1-0", "face", pytest.approx(0.9))
    ]
    everything = rules.prelabels_for(pred, rules.Assistant("m", "", 0.0, 1.0), set(), "a1")
    assert len(everything.regions) == 3


@pytest.mark.parametrize(
    ("submitted", "expected"),
    [
        ([box("p1", "face"), box("p2", "face", left=0.5)], {"p1": "kept", "p2": "kept"}),
        ([box("p1", "face", left=0.15)], {"p1": "changed", "p2": "removed"}),
        ([box("p1", "hat"), box("p2", "face", left=0.5)], {"p1": "changed", "p2": "kept"}),
        ([box("x", "face", left=0.5)], {"p1": "removed", "p2": "kept"}),  # same shape, new id
        ([], {"p1": "removed", "p2": "removed"}),
    ],
)
def test_outcomes(submitted: list[R.Region], expected: dict[str, str]) -> None:
    pre = {r.id: rules.shape_of(r) for r in (box("p1", "face"), box("p2", "face", left=0.5))}
    assert rules.outcomes(pre, [(r.id, rules.shape_of(r)) for r in submitted]) == expected


coords = st.floats(0, 0.8, allow_nan=False)


@given(st.lists(st.tuples(coords, coords, st.sampled_from(["a", "b"])), max_size=6), st.data())
def test_every_prelabel_gets_exactly_one_outcome(
    shapes: list[tuple[float, float, str]], data: st.DataObject
) -> None:
    pre = {f"p{i}": rules.shape_of(box(f"p{i}", c, x, y)) for i, (x, y, c) in enumerate(shapes)}
    kept_ids = data.draw(st.sets(st.sampled_from(sorted(pre))) if pre else st.just(set()))
    submitted = [(rid, pre[rid]) for rid in sorted(kept_ids)]
    got = rules.outcomes(pre, submitted)
    assert set(got) == set(pre) and set(got.values()) <= set(rules.OUTCOMES)
    assert all(got[rid] == rules.KEPT for rid in kept_ids)
    summary = rules.acceptance({o: list(got.values()).count(o) for o in rules.OUTCOMES})
    assert summary["total"] == len(pre) and 0 <= summary["acceptance_rate"] <= 1

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


@pytest.mark.parametrize(
    ("task_type", "kinds"),
    [
        (R.Task.CONCEPTS_CLASSIFICATION, {rules.TAGS}),
        (R.Task.BOUNDING_BOX_DETECTION, {rules.REGIONS}),
        (R.Task.POLYGON_DETECTION, {rules.REGIONS}),
        (R.Task.TYPE_NOT_SET, {rules.TAGS, rules.REGIONS}),
    ],
)
def test_what_prelabels_a_task_depends_on_its_type(task_type: int, kinds: set[str]) -> None:
    assert rules.kinds_of(R.Task(type=task_type)) == kinds


def test_tags_above_the_threshold_of_the_task_concepts_become_prelabels() -> None:
    pred = R.Data(
        concepts=[
            R.Concept(id="cat", value=0.9),
            R.Concept(id="dog", value=0.4),
            R.Concept(id="car", value=0.95),
        ],
        regions=[box("r", "cat")],
    )
    assistant = rules.Assistant("m", "", 0.5, 1.0)
    tags = rules.prelabels_for(pred, assistant, {"cat", "dog"}, "a", {rules.TAGS})
    assert [(c.id, c.value) for c in tags.concepts] == [("cat", pytest.approx(0.9))] and not tags.regions
    both = rules.prelabels_for(pred, assistant, (), "a", {rules.TAGS, rules.REGIONS})
    assert [c.id for c in both.concepts] == ["cat", "car"] and len(both.regions) == 1
    assert not rules.prelabels_for(pred, assistant, (), "a").concepts  # regions only by default


@given(st.sets(st.sampled_from("abcdef")), st.sets(st.sampled_from("abcdefgh")))
def test_every_tag_is_kept_or_removed(prelabelled: set[str], submitted: set[str]) -> None:
    out = rules.tag_outcomes(sorted(prelabelled), submitted)
    assert set(out) == prelabelled
    assert {c for c, o in out.items() if o == rules.KEPT} == prelabelled & submitted
    assert all(o in (rules.KEPT, rules.REMOVED) for o in out.values())

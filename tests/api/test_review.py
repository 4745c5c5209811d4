"""Review strategies end to end through the official client on both channels: NONE, MANUAL
(sampling scale, approve / request changes with a comment / reject, several reviewers), CONSENSUS
on classification, bounding boxes and polygons (automatic agreement, dissenters, disputes decided by
reviewers, the IoU threshold of the task), agreement scores and where they are exposed.

Labelers work as a labeling UI does: LABEL_START, PostAnnotations with ``annotation_info.task_id``
(status PENDING), LABEL_SUBMIT; reviewers use REVIEW_START and REVIEW_*."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api import service_pb2 as s
from clarifai_grpc.grpc.api.status import status_code_pb2 as sc
from clarifai_grpc.grpc.api.status import status_pb2
from google.protobuf import json_format, struct_pb2
from sqlalchemy import select

from labeldesk.domain.review_sampling import is_sampled_for_review
from labeldesk.storage import tables as tb
from tests.api.test_assignments import A, Team, fails, make_team, ok
from tests.helpers import AppFixture, rest_listing_matches_grpc

BOX = (0.10, 0.10, 0.50, 0.50)
BOX_SHIFTED = (0.12, 0.11, 0.52, 0.50)  # IoU ≈ 0.87 with BOX
BOX_NUDGED = (0.11, 0.12, 0.51, 0.52)
FAR = (0.60, 0.60, 0.90, 0.90)
FAR_LEFT = (0.60, 0.00, 0.90, 0.30)
TRIANGLE = ((0.10, 0.10), (0.10, 0.50), (0.50, 0.10))
TRIANGLE_SHIFTED = ((0.11, 0.12), (0.11, 0.51), (0.50, 0.12))
SQUARE_FAR = ((0.60, 0.60), (0.60, 0.90), (0.90, 0.90), (0.90, 0.60))

SUCCESS, AWAITING, CONSENSUS, DENIED, PENDING = (
    sc.ANNOTATION_SUCCESS,
    sc.ANNOTATION_AWAITING_REVIEW,
    sc.ANNOTATION_AWAITING_CONSENSUS_REVIEW,
    sc.ANNOTATION_REVIEW_DENIED,
    sc.ANNOTATION_PENDING,
)

Label = dict[
    str, Any
]  # {"concepts": [...]} | {"boxes": [(concept, box)]} | {"polygons": [(concept, points)]}


@pytest.fixture
def team(stub: Any, app: AppFixture, request: pytest.FixtureRequest) -> Team:
    t = make_team(stub, app, transport=request.node.callspec.params["stub"])
    ok(t.call("PostConcepts", concepts=[r.Concept(id="dog")]))
    return t


# --------------------------------------------------------------------------- helpers


def task_of(team: Team, review: dict[str, Any], worker: dict[str, Any] | None = None, **extra: Any) -> None:
    team.create(worker or {"strategy": "FULL", "user_ids": team.workers}, review=review, **extra)


def consensus(labelers: int, reviewers: int = 0, **more: Any) -> dict[str, Any]:
    """-1 ("all labelers") travels as 2**32 - 1 in the uint32 field, as a client that casts it sends it."""
    info = {"approval_threshold_labelers": labelers & 0xFFFFFFFF, "approval_threshold_reviewers": reviewers}
    return {"strategy": "CONSENSUS", "consensus_strategy_info": info, **more}


def manual(sample: float, **more: Any) -> dict[str, Any]:
    return {"strategy": "MANUAL", "manual_strategy_info": {"sample_percentage": sample, **more}}


def data_of(label: Label) -> r.Data:
    def concept(cid: str) -> r.Data:
        return r.Data(concepts=[r.Concept(id=cid, value=1)])

    regions = [
        r.Region(
            region_info=r.RegionInfo(
                bounding_box=r.BoundingBox(top_row=b[0], left_col=b[1], bottom_row=b[2], right_col=b[3])
            ),
            data=concept(c),
        )
        for c, b in label.get("boxes", [])
    ] + [
        r.Region(
            region_info=r.RegionInfo(polygon=r.Polygon(points=[r.Point(row=y, col=x) for y, x in pts])),
            data=concept(c),
        )
        for c, pts in label.get("polygons", [])
    ]
    return r.Data(concepts=[r.Concept(id=c, value=1) for c in label.get("concepts", [])], regions=regions)


def post_label(team: Team, who: str, input_id: str, label: Label) -> str:
    """What a labeling UI does: the labeler's annotation, tagged with the task, PENDING."""
    info = struct_pb2.Struct()
    info.update({"task_id": team.task_id})
    ann = r.Annotation(
        input_id=input_id,
        data=data_of(label),
        annotation_info=info,
        status=status_pb2.Status(code=sc.ANNOTATION_PENDING),
    )
    return str(ok(team.call("PostAnnotations", who, annotations=[ann])).annotations[0].id)


def label(team: Team, who: str, input_id: str, lab: Label) -> r.TaskAssignment:
    """LABEL_START (the input must be among the labeler's work), annotate, LABEL_SUBMIT."""
    assert input_id in [a.input.id for a in ok(team.put(who, A.LABEL_START)).task_assignments]
    post_label(team, who, input_id, lab)
    return team.submit(who, input_id)


def label_all(team: Team, plan: dict[str, dict[str, Label]]) -> None:
    """``plan[input][labeler]``: each labels its inputs, input by input, in the order given."""
    for input_id, by_labeler in plan.items():
        for who, lab in by_labeler.items():
            label(team, who, input_id, lab)


def statuses(team: Team, input_id: str) -> dict[str, int]:
    """Annotation status per labeler on the input (every annotation of the task, via ListAnnotations)."""
    got = ok(team.call("ListAnnotations", task_id=team.task_id, input_ids=[input_id], per_page=100))
    out: dict[str, int] = {}
    for a in got.annotations:
        assert out.get(a.user_id, a.status.code) == a.status.code
        out[a.user_id] = a.status.code
    return out


def infos(team: Team, input_id: str) -> dict[str, dict[str, Any]]:
    """``consensus_info`` of each labeler's annotation on the input."""
    got = ok(team.call("ListAnnotations", task_id=team.task_id, input_ids=[input_id], per_page=100))
    return {a.user_id: json_format.MessageToDict(a.consensus_info) for a in got.annotations}


def counts(team: Team) -> dict[str, tuple[int, int, int, int, int]]:
    """GetTaskAnnotationCount: (pending, awaiting review, success, review denied, awaiting consensus)."""
    req = s.GetTaskCountRequest(user_app_id=team.app.uai, task_id=team.task_id)
    resp = ok(team.stub.GetTaskAnnotationCount(req, metadata=team.app.meta))
    return {
        c.user_id: (c.pending, c.awaiting_review, c.success, c.review_denied, c.awaiting_consensus_review)
        for c in resp.counts
    }


def review_start(team: Team, who: str) -> list[tuple[str, str]]:
    got = ok(team.put(who, A.REVIEW_START)).task_assignments
    return sorted((a.input.id, a.worker.user.id) for a in got)


def approve(team: Team, who: str, input_id: str, version: str = "") -> Any:
    workers = [r.Worker(user=r.User(id=version))] if version else []
    return team.put(
        who, A.REVIEW_APPROVE, input_id=input_id, review_approve_config=s.ReviewApproveConfig(workers=workers)
    )


def agreement(team: Team) -> dict[str, Any]:
    task = ok(team.call("GetTask", task_id=team.task_id, additional_fields=["agreement"])).task
    report: dict[str, Any] = json_format.MessageToDict(task.metadata)["agreement"]
    return report


def add_reviewer(team: Team, prefix: str = "rv") -> str:
    uid, meta = team.app.new_user(prefix)
    team.meta[uid] = meta
    return uid


# --------------------------------------------------------------------------- NONE


def test_none_submission_makes_the_labelers_annotations_success(team: Team) -> None:
    team.add_inputs("x", "y")
    task_of(team, {"strategy": "NONE"})
    for w in team.workers:
        assert team.start(w) == ["x", "y"]
        post_label(team, w, "x", {"concepts": ["cat"]})
    assert {w: (1, 0, 0, 0, 0) for w in team.workers} == counts(team)
    for w in team.workers:
        assert team.submit(w, "x").status.code == sc.TASK_ASSIGNMENT_SUCCESS
    assert statuses(team, "x") == dict.fromkeys(team.workers, SUCCESS)
    assert counts(team) == {w: (0, 0, 1, 0, 0) for w in team.workers}
    assert infos(team, "x") == {w: {} for w in team.workers}, "no consensus under NONE"


# --------------------------------------------------------------------------- MANUAL


@pytest.mark.parametrize(("given", "percent"), [(0.5, 50.0), (30, 30.0), (1, 100.0)])
def test_manual_sample_is_a_fraction_up_to_1_and_a_percentage_above(
    team: Team, given: float, percent: float
) -> None:
    a = team.workers[0]
    ids = [f"in-{i:02d}" for i in range(24)]
    team.add_inputs(*ids)
    task_of(team, manual(given), worker={"strategy": "FULL", "user_ids": [a]})
    sampled = [i for i in ids if is_sampled_for_review(team.task_id, i, percent)]
    assert 0 < len(sampled) <= len(ids)
    hits = ok(team.call("GetInputSamples", task_id=team.task_id)).hits
    assert [h.input.id for h in hits] == sampled
    assert sorted(team.drain(a)[a]) == ids
    handed = [x.input.id for x in ok(team.put(team.reviewer, A.REVIEW_START)).task_assignments]
    assert handed == sampled[:10], "reviewers get the sampled inputs, ten at a time"


def test_manual_sample_statuses_and_counts(team: Team) -> None:
    a = team.workers[0]
    ids = [f"in-{i:02d}" for i in range(12)]
    team.add_inputs(*ids)
    task_of(team, manual(0.5), worker={"strategy": "FULL", "user_ids": [a]})
    sampled = {i for i in ids if is_sampled_for_review(team.task_id, i, 50.0)}
    for i in ids:
        label(team, a, i, {"concepts": ["cat"]})
    got = ok(team.call("ListAnnotations", task_id=team.task_id, per_page=100)).annotations
    assert {x.input_id: x.status.code for x in got} == {i: AWAITING if i in sampled else SUCCESS for i in ids}
    assert counts(team)[a] == (0, len(sampled), len(ids) - len(sampled), 0, 0)


@pytest.mark.parametrize("bad", [150, -0.5])
def test_manual_sample_out_of_scale_is_refused(team: Team, bad: float) -> None:
    resp = team.call(
        "PostTasks",
        tasks=[json_format.ParseDict({"id": "bad", "review": manual(bad)}, r.Task())],
    )
    fails(resp, sc.CONN_INVALID_REQUEST, "sample_percentage", "0.5 means 50 %", "30 means 30 %")


def test_manual_review_approve_request_changes_with_comment_and_reject(team: Team) -> None:
    a, b, c = team.workers
    rv = team.reviewer
    team.add_inputs("x0", "x1", "x2")
    task_of(team, manual(1), worker={"strategy": "DYNAMIC", "user_ids": [a, b, c]})
    for i in ("x0", "x1", "x2"):
        assert label(team, a, i, {"concepts": ["cat"]}).status.code == sc.TASK_ASSIGNMENT_AWAITING_REVIEW
    assert statuses(team, "x0") == {a: AWAITING}
    assert review_start(team, rv) == [("x0", a), ("x1", a), ("x2", a)]
    # approve
    ok(approve(team, rv, "x0"))
    assert statuses(team, "x0") == {a: SUCCESS}
    # request changes, with a comment on the assignment: back to a, who reads the comment
    x1 = r.TaskAssignment(input=r.Input(id="x1"), status=status_pb2.Status(description="the cat is a dog"))
    back = ok(
        team.put(
            rv,
            A.REVIEW_REQUEST_CHANGES,
            review_request_changes_config=s.ReviewRequestChangesConfig(task_assignments=[x1]),
        )
    ).task_assignments
    assert [(x.input.id, x.worker.user.id, x.status.code) for x in back] == [
        ("x1", a, sc.TASK_ASSIGNMENT_PENDING)
    ]
    assert statuses(team, "x1") == {a: PENDING}
    assert ok(team.put(b, A.LABEL_START)).task_assignments == [], "x1 stays a's"
    mine = ok(team.put(a, A.LABEL_START)).task_assignments
    assert [(x.input.id, x.status.details) for x in mine] == [("x1", "the cat is a dog")]
    assert "changes requested" in mine[0].status.description
    assert team.submit(a, "x1").status.code == sc.TASK_ASSIGNMENT_AWAITING_REVIEW
    assert statuses(team, "x1") == {a: AWAITING}
    # reject: denied, and the input returns to the pool for another labeler
    ok(team.put(rv, A.REVIEW_REJECT, input_id="x2"))
    assert statuses(team, "x2") == {a: DENIED}
    assert [x.input.id for x in ok(team.put(a, A.LABEL_START)).task_assignments] == []
    assert label(team, b, "x2", {"concepts": ["cat"]}).status.code == sc.TASK_ASSIGNMENT_AWAITING_REVIEW
    assert counts(team)[a] == (0, 1, 1, 1, 0)
    assert counts(team)[b] == (0, 1, 0, 0, 0)


def test_manual_approval_threshold_needs_that_many_reviewers(team: Team) -> None:
    a = team.workers[0]
    rv1, rv2 = team.reviewer, add_reviewer(team)
    team.add_inputs("x", "y")
    task_of(
        team,
        {**manual(100, approval_threshold=2), "user_ids": [rv1, rv2]},
        worker={"strategy": "FULL", "user_ids": [a]},
    )
    for i in ("x", "y"):
        label(team, a, i, {"concepts": ["cat"]})
    first = ok(approve(team, rv1, "x"))
    assert "1 of 2 approvals" in first.status.description
    assert statuses(team, "x") == {a: AWAITING}, "one approval of two decides nothing"
    assert review_start(team, rv1) == [("y", a)], "rv1 has voted on x"
    assert review_start(team, rv2) == [("x", a)], "y is held by rv1"
    ok(approve(team, rv2, "x"))
    assert statuses(team, "x") == {a: SUCCESS}
    # a rejection by either reviewer makes two approvals impossible: rejected at once
    ok(team.put(rv1, A.REVIEW_REJECT, input_id="y"))
    assert statuses(team, "y") == {a: DENIED}


def review_metrics(team: Team) -> tuple[list[int], list[int], list[int]]:
    """GetTask's review metrics per reviewer: (reviewed, percent reviewed, reviewable), in reviewer order."""
    review = ok(team.call("GetTask", task_id=team.task_id, additional_fields=["metrics"])).task.metrics.review
    return (
        list(review.inputs_count_estimated_per_reviewer),
        list(review.inputs_percent_estimated_per_reviewer),
        list(review.inputs_reviewable_count_estimated_per_reviewer),
    )


def review_log(team: Team) -> list[tuple[str, str, str]]:
    """The task's review log as stored: (reviewer, input id, action), oldest first; every row timed."""
    log, tasks, apps, inputs = tb.task_review_log.c, tb.tasks.c, tb.apps.c, tb.inputs.c
    q = (
        select(log.reviewer_id, inputs.id, log.action, log.created_at)
        .join(tb.tasks, tasks.pk == log.task_pk)
        .join(tb.apps, apps.pk == tasks.app_pk)
        .join(tb.inputs, inputs.pk == log.input_pk)
        .where(apps.user_id == team.app.user_id, apps.id == team.app.app_id, tasks.id == team.task_id)
        .order_by(log.pk)
    )
    with team.app.server.app.db.read() as conn:
        rows = conn.execute(q).all()
    assert all(row.created_at is not None for row in rows)
    return [(row.reviewer_id, row.id, row.action) for row in rows]


def test_manual_review_metrics_per_reviewer(team: Team) -> None:
    """Per reviewer, in the task's reviewer order: the inputs they approved or rejected (each once,
    however often, decided or not yet), and that as a rounded-down percent of the inputs they may
    review. A request for changes is logged but not counted, as Clarifai counts: the redone work
    is reviewed again."""
    a = team.workers[0]
    first, idle, second = team.reviewer, add_reviewer(team, "idle"), add_reviewer(team, "second")
    ids = ["x0", "x1", "x2", "x3", "x4", "x5"]
    team.add_inputs(*ids)
    reviewers = [second, idle, first]
    task_of(team, {**manual(100), "user_ids": reviewers}, worker={"strategy": "FULL", "user_ids": [a]})
    assert review_metrics(team) == ([0, 0, 0], [0, 0, 0], [6, 6, 6])
    for i in ids:
        label(team, a, i, {"concepts": ["cat"]})
    ok(approve(team, first, "x0"))
    ok(approve(team, first, "x1"))
    ok(team.put(second, A.REVIEW_REJECT, input_id="x2"))
    assert statuses(team, "x2") == {a: AWAITING}, "with three reviewers one rejection decides nothing"
    assert review_metrics(team) == ([1, 0, 2], [16, 0, 33], [6, 6, 6])
    ok(approve(team, second, "x2"))  # changes their vote: approved, and still one input reviewed
    assert statuses(team, "x2") == {a: SUCCESS}
    ok(team.put(second, A.REVIEW_REQUEST_CHANGES, input_id="x3"))
    assert statuses(team, "x3") == {a: PENDING}
    assert review_metrics(team) == ([1, 0, 2], [16, 0, 33], [6, 6, 6])
    assert team.submit(a, "x3").status.code == sc.TASK_ASSIGNMENT_AWAITING_REVIEW
    ok(team.put(first, A.REVIEW_REJECT, input_id="x3"))
    assert review_metrics(team) == ([1, 0, 3], [16, 0, 50], [6, 6, 6])
    assert review_log(team) == [
        (first, "x0", "REVIEW_APPROVE"),
        (first, "x1", "REVIEW_APPROVE"),
        (second, "x2", "REVIEW_REJECT"),
        (second, "x2", "REVIEW_APPROVE"),
        (second, "x3", "REVIEW_REQUEST_CHANGES"),
        (first, "x3", "REVIEW_REJECT"),
    ]
    # only inputs the reviewers may review now count: none once the sample is 0 %
    ok(team.patch(review={**manual(0), "user_ids": reviewers}))
    assert review_metrics(team) == ([0, 0, 0], [0, 0, 0], [0, 0, 0])


def test_review_metrics_without_review_actions_or_reviewers(team: Team) -> None:
    team.add_inputs("x")
    task_of(team, {"strategy": "NONE"})
    label(team, team.workers[0], "x", {"concepts": ["cat"]})
    assert review_metrics(team) == ([], [], [])


def test_manual_approval_threshold_above_the_reviewers_is_refused(team: Team) -> None:
    resp = team.call(
        "PostTasks",
        tasks=[json_format.ParseDict({"id": "bad", "review": manual(10, approval_threshold=3)}, r.Task())],
    )
    fails(resp, sc.CONN_INVALID_REQUEST, "manual_strategy_info.approval_threshold")


# --------------------------------------------------------------------------- CONSENSUS: classification


def test_consensus_classification(team: Team) -> None:
    a, b, c = team.workers
    rv = team.reviewer
    team.add_inputs("agree", "split")
    task_of(team, consensus(2))
    label(team, a, "agree", {"concepts": ["cat"]})
    label(team, b, "agree", {"concepts": ["cat"]})
    assert statuses(team, "agree") == {a: CONSENSUS, b: CONSENSUS}, "waits for c"
    assert review_start(team, rv) == [], "nothing for reviewers while labelers are still at work"
    fails(approve(team, rv, "agree"), sc.CONN_INVALID_REQUEST, "waiting for its labelers")
    assert label(team, c, "agree", {"concepts": ["dog"]}).status.code == sc.TASK_ASSIGNMENT_REJECTED
    assert statuses(team, "agree") == {a: SUCCESS, b: SUCCESS, c: DENIED}
    info = infos(team, "agree")
    assert info[a]["state"] == "agreed" and info[a]["reached"] is True
    assert sorted(info[a]["agreeing_labelers"]) == sorted([a, b])
    assert info[a]["labeler_score"] == 1.0 and info[c]["labeler_score"] == 0.0
    assert info[a]["input_score"] == pytest.approx(1 / 3)  # pairs: a-b 1, a-c 0, b-c 0
    # no two labelers agree: the input goes to the reviewer
    label_all(
        team, {"split": {a: {"concepts": ["cat"]}, b: {"concepts": ["dog"]}, c: {"concepts": ["cat", "dog"]}}}
    )
    assert statuses(team, "split") == dict.fromkeys((a, b, c), CONSENSUS)
    assert infos(team, "split")[a]["state"] == "review"
    assert review_start(team, rv) == [("split", a), ("split", b), ("split", c)]
    fails(
        approve(team, rv, "split"), sc.CONN_INVALID_REQUEST, "split evenly", "review_approve_config.workers"
    )
    approved = ok(approve(team, rv, "split", version=b)).task_assignments
    assert sorted((x.worker.user.id, x.status.code) for x in approved) == sorted(
        [(a, sc.TASK_ASSIGNMENT_REJECTED), (b, sc.TASK_ASSIGNMENT_SUCCESS), (c, sc.TASK_ASSIGNMENT_REJECTED)]
    )
    assert statuses(team, "split") == {a: DENIED, b: SUCCESS, c: DENIED}
    assert infos(team, "split")[b]["approved_version"] == b
    assert counts(team) == {a: (0, 0, 1, 1, 0), b: (0, 0, 2, 0, 0), c: (0, 0, 0, 2, 0)}
    samples = ok(team.call("GetInputSamples", task_id=team.task_id, user_ids=[c])).hits
    assert {h.input.id: h.annotation.consensus_info["state"] for h in samples} == {
        "agree": "agreed",
        "split": "approved",
    }
    report = agreement(team)
    assert report["inputs"]["evaluated"] == 2 and report["inputs"]["reached"] == 1
    assert report["labelers"][0]["user_id"] == c, "c disagrees most"


def test_consensus_approved_by_several_reviewers(team: Team) -> None:
    a, b, c = team.workers
    rv1, rv2 = team.reviewer, add_reviewer(team)
    team.add_inputs("x")
    task_of(team, {**consensus(-1, reviewers=2), "user_ids": [rv1, rv2]})
    label_all(team, {"x": {a: {"concepts": ["cat"]}, b: {"concepts": ["cat"]}, c: {"concepts": ["dog"]}}})
    assert statuses(team, "x") == dict.fromkeys((a, b, c), CONSENSUS), "-1: all three must agree"
    note = ok(approve(team, rv1, "x")).status.description
    assert "1 of 2 approvals" in note, "without a name the majority's version (a and b) is approved"
    assert statuses(team, "x") == dict.fromkeys((a, b, c), CONSENSUS)
    assert review_start(team, rv1) == []
    ok(approve(team, rv2, "x", version=b))  # b handed in the same version as a
    assert statuses(team, "x") == {a: SUCCESS, b: SUCCESS, c: DENIED}


def test_reviewer_who_labeled_the_input_cannot_review_it(team: Team) -> None:
    a, b, c = team.workers
    team.add_inputs("x")
    task_of(team, {**consensus(3), "user_ids": [a, team.reviewer]})
    label_all(team, {"x": {a: {"concepts": ["cat"]}, b: {"concepts": ["cat"]}, c: {"concepts": ["dog"]}}})
    assert review_start(team, a) == []
    fails(approve(team, a, "x"), sc.CONN_INVALID_REQUEST, "their own work")
    fails(team.put(team.outsider, A.REVIEW_APPROVE, input_id="x"), sc.TASK_PERMISSION_DENIED)
    ok(team.put(team.reviewer, A.REVIEW_REJECT, input_id="x"))
    assert statuses(team, "x") == dict.fromkeys((a, b, c), DENIED)


def test_consensus_with_one_labeler_per_input_and_threshold_two_goes_to_reviewers(team: Team) -> None:
    """The seed's example: PARTITIONED, workers_per_input 1, approval_threshold 2. One labeler can
    never make two agree, so every input goes to the reviewers instead of waiting forever."""
    team.add_inputs("x", "y", "z")
    weights = dict.fromkeys(team.workers, 1)
    worker = {
        "strategy": "PARTITIONED",
        "user_ids": team.workers,
        "partitioned_strategy_info": {"type": "WEIGHTED", "workers_per_input": 1, "weights": weights},
    }
    task_of(
        team, {"strategy": "CONSENSUS", "consensus_strategy_info": {"approval_threshold": 2}}, worker=worker
    )
    holders = {}
    for w in team.workers:
        for a in ok(team.put(w, A.LABEL_START)).task_assignments:
            holders[a.input.id] = w
    assert sorted(holders) == ["x", "y", "z"]
    for i, w in holders.items():
        label(team, w, i, {"concepts": ["cat"]})
    assert sorted(i for i, _ in review_start(team, team.reviewer)) == ["x", "y", "z"]
    for i in ("x", "y", "z"):
        ok(approve(team, team.reviewer, i))
        assert statuses(team, i) == {holders[i]: SUCCESS}


def test_consensus_reject_returns_the_input_to_the_pool(team: Team) -> None:
    """Two labelers per input (of three) disagree; the reviewer rejects both versions: the input goes
    to the third labeler, whose lone submission (fewer labelers than the threshold) goes to review."""
    team.add_inputs("x")
    task_of(
        team,
        consensus(2),
        worker={
            "strategy": "DYNAMIC",
            "user_ids": team.workers,
            "partitioned_strategy_info": {"workers_per_input": 2},
        },
    )
    first, second, third = team.workers
    label_all(team, {"x": {first: {"concepts": ["cat"]}, second: {"concepts": ["dog"]}}})
    assert ok(team.put(third, A.LABEL_START)).task_assignments == [], "x has its two labelers"
    ok(team.put(team.reviewer, A.REVIEW_REJECT, input_id="x"))
    assert statuses(team, "x") == {first: DENIED, second: DENIED}
    assert (
        label(team, third, "x", {"concepts": ["cat"]}).status.code
        == sc.TASK_ASSIGNMENT_AWAITING_CONSENSUS_REVIEW
    )
    assert review_start(team, team.reviewer) == [("x", third)]
    ok(approve(team, team.reviewer, "x"))
    assert statuses(team, "x") == {first: DENIED, second: DENIED, third: SUCCESS}
    assert counts(team) == {first: (0, 0, 0, 1, 0), second: (0, 0, 0, 1, 0), third: (0, 0, 1, 0, 0)}


# --------------------------------------------------------------------------- CONSENSUS: regions


def test_consensus_bounding_boxes(team: Team, grpc_stub: Any) -> None:
    a, b, c = team.workers
    rv = team.reviewer
    team.add_inputs("shifted", "disjoint", "apart")
    task_of(team, consensus(2), type="BOUNDING_BOX_DETECTION")
    label_all(
        team,
        {
            "shifted": {
                a: {"boxes": [("cat", BOX)]},
                b: {"boxes": [("cat", BOX_SHIFTED)]},
                c: {"boxes": [("cat", BOX_NUDGED)]},
            },
            "disjoint": {
                a: {"boxes": [("cat", BOX)]},
                b: {"boxes": [("cat", BOX_SHIFTED)]},
                c: {"boxes": [("cat", FAR)]},
            },
            "apart": {
                a: {"boxes": [("cat", BOX)]},
                b: {"boxes": [("cat", FAR)]},
                c: {"boxes": [("cat", FAR_LEFT)]},
            },
        },
    )
    # boxes shifted slightly agree: settled without reviewers
    assert statuses(team, "shifted") == dict.fromkeys((a, b, c), SUCCESS)
    assert {w: i["labeler_score"] for w, i in infos(team, "shifted").items()} == dict.fromkeys((a, b, c), 1.0)
    # one disjoint box: its labeler is outvoted and scores 0
    assert statuses(team, "disjoint") == {a: SUCCESS, b: SUCCESS, c: DENIED}
    info = infos(team, "disjoint")
    assert info[c]["labeler_score"] == 0.0 and info[a]["labeler_score"] == 1.0
    assert info[a]["input_score"] == pytest.approx(1 / 3)
    # nobody agrees: reviewers
    assert statuses(team, "apart") == dict.fromkeys((a, b, c), CONSENSUS)
    assert sorted({i for i, _ in review_start(team, rv)}) == ["apart"]
    ok(team.put(rv, A.REVIEW_REJECT, input_id="apart"))
    assert statuses(team, "apart") == dict.fromkeys((a, b, c), DENIED)
    assert counts(team) == {a: (0, 0, 2, 1, 0), b: (0, 0, 2, 1, 0), c: (0, 0, 1, 2, 0)}
    report = agreement(team)
    by_user = {x["user_id"]: x for x in report["labelers"]}
    assert report["labelers"][0]["user_id"] == c, "c disagrees most"
    assert by_user[c]["outvoted"] == 1 and by_user[c]["no_consensus"] == 1 and by_user[c]["agreed"] == 1
    assert by_user[a]["mean_score"] > by_user[c]["mean_score"]
    # the REST listing (rendered from stored JSON) shows consensus_info as the printer does
    app = team.app
    base = app.server.base_url
    assert rest_listing_matches_grpc(base, grpc_stub, app.meta, app.uai, task_id=team.task_id) == 9


def test_consensus_iou_threshold_comes_from_the_task_metadata(team: Team) -> None:
    a, b, _ = team.workers
    team.add_inputs("x")
    strict = {"consensus_iou_threshold": 0.95}
    task_of(
        team,
        consensus(-1),
        worker={"strategy": "FULL", "user_ids": [a, b]},
        type="BOUNDING_BOX_DETECTION",
        metadata=strict,
    )
    label_all(team, {"x": {a: {"boxes": [("cat", BOX)]}, b: {"boxes": [("cat", BOX_SHIFTED)]}}})
    assert statuses(team, "x") == {a: CONSENSUS, b: CONSENSUS}, "IoU 0.87 is below 0.95: no agreement"
    for bad, text in ((0, "greater than 0"), (1.5, "at most 1"), ("high", "not a number")):
        task = json_format.ParseDict({"id": "bad", "metadata": {"consensus_iou_threshold": bad}}, r.Task())
        fails(
            team.call("PostTasks", tasks=[task]),
            sc.CONN_INVALID_REQUEST,
            "metadata.consensus_iou_threshold",
            text,
        )


def test_consensus_polygons_and_request_changes(team: Team) -> None:
    a, b, c = team.workers
    rv = team.reviewer
    team.add_inputs("tri", "odd")
    task_of(team, consensus(-1), type="POLYGON_DETECTION")
    label_all(
        team,
        {
            "tri": {
                a: {"polygons": [("cat", TRIANGLE)]},
                b: {"polygons": [("cat", TRIANGLE_SHIFTED)]},
                c: {"polygons": [("cat", TRIANGLE)]},
            },
            "odd": {
                a: {"polygons": [("cat", TRIANGLE)]},
                b: {"polygons": [("cat", TRIANGLE_SHIFTED)]},
                c: {"polygons": [("cat", SQUARE_FAR)]},
            },
        },
    )
    assert statuses(team, "tri") == dict.fromkeys((a, b, c), SUCCESS)
    assert statuses(team, "odd") == dict.fromkeys((a, b, c), CONSENSUS), "-1: all must agree"
    assert review_start(team, rv) == [("odd", a), ("odd", b), ("odd", c)]
    # the reviewer asks c to redo the outline, with a comment on c's assignment
    seat_c = next(x for x in ok(team.put(rv, A.REVIEW_START)).task_assignments if x.worker.user.id == c)
    comment = r.TaskAssignment(
        id=seat_c.id, status=status_pb2.Status(description="outline the cat, not the bowl")
    )
    back = ok(
        team.put(
            rv,
            A.REVIEW_REQUEST_CHANGES,
            input_id="odd",
            review_request_changes_config=s.ReviewRequestChangesConfig(task_assignments=[comment]),
        )
    ).task_assignments
    assert [(x.worker.user.id, x.status.code) for x in back] == [(c, sc.TASK_ASSIGNMENT_PENDING)]
    assert statuses(team, "odd") == {a: CONSENSUS, b: CONSENSUS, c: PENDING}
    assert review_start(team, rv) == [], "waiting for c again"
    again = ok(team.put(c, A.LABEL_START)).task_assignments
    assert [(x.input.id, x.status.details) for x in again] == [("odd", "outline the cat, not the bowl")]
    # c fixes its polygon and resubmits: now all three agree
    mine = ok(team.call("ListAnnotations", user_ids=[c], task_id=team.task_id, input_ids=["odd"])).annotations
    ok(team.call("DeleteAnnotation", c, input_id="odd", annotation_id=mine[0].id))
    post_label(team, c, "odd", {"polygons": [("cat", TRIANGLE_SHIFTED)]})
    assert team.submit(c, "odd").status.code == sc.TASK_ASSIGNMENT_SUCCESS
    assert statuses(team, "odd") == dict.fromkeys((a, b, c), SUCCESS)
    info = infos(team, "odd")[c]
    assert info["rounds"] == 2 and info["state"] == "agreed" and info["labeler_score"] == 1.0
    assert counts(team) == {w: (0, 0, 2, 0, 0) for w in (a, b, c)}


def test_patch_annotations_status_is_counted(team: Team) -> None:
    a, b, c = team.workers
    team.add_inputs("x")
    task_of(team, consensus(3))
    label_all(team, {"x": {a: {"concepts": ["cat"]}, b: {"concepts": ["cat"]}, c: {"concepts": ["dog"]}}})
    assert counts(team) == {w: (0, 0, 0, 0, 1) for w in (a, b, c)}
    req = s.PatchAnnotationsStatusRequest(
        user_app_id=team.app.uai,
        task_id=team.task_id,
        user_ids=[c],
        status_code=sc.ANNOTATION_REVIEW_DENIED,
        status_codes=[sc.ANNOTATION_AWAITING_CONSENSUS_REVIEW],
    )
    assert ok(team.stub.PatchAnnotationsStatus(req, metadata=team.meta[team.reviewer])).updated_count == 1
    assert counts(team)[c] == (0, 0, 0, 1, 0)


def test_concurrent_last_submissions_are_evaluated_once(team: Team) -> None:
    """The labelers of each input submit at the same time: whoever is last sees the others'
    submissions (the input's seats are locked in one order), so every input is decided."""
    ids = [f"c-{i:02d}" for i in range(12)]
    team.add_inputs(*ids)
    task_of(team, consensus(2))
    concepts = dict(zip(team.workers, (["cat"], ["cat"], ["dog"])))

    def work(who: str) -> None:
        for i in ids:
            label(team, who, i, {"concepts": concepts[who]})

    with ThreadPoolExecutor(len(team.workers)) as pool:
        list(pool.map(work, team.workers))
    a, b, c = team.workers
    for i in ids:
        assert statuses(team, i) == {a: SUCCESS, b: SUCCESS, c: DENIED}, i
    assert {w: i["rounds"] for w, i in infos(team, ids[-1]).items()} == dict.fromkeys(team.workers, 1)

"""Consensus rules: thresholds, agreement (classification and regions), scores, review statuses."""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labeldesk.domain import errors
from labeldesk.domain.consensus import (
    ConsensusResult,
    Kind,
    Region,
    Submission,
    evaluate,
    positive_concepts,
)
from labeldesk.domain.geometry import Box, Polygon, Shape
from labeldesk.domain.review_rules import (
    ANNOTATION_AWAITING_CONSENSUS_REVIEW,
    ANNOTATION_AWAITING_REVIEW,
    ANNOTATION_PENDING,
    ANNOTATION_REVIEW_DENIED,
    ANNOTATION_SUCCESS,
    ReviewAction,
    ReviewOutcome,
    effective_labeler_threshold,
    next_status_on_submit,
    on_review,
    resolve_threshold,
    reviewer_decision,
    status_after_consensus,
    status_after_review,
)

# --------------------------------------------------------------------------- helpers

CAT_BOX = Box(0.10, 0.10, 0.50, 0.50)
CAT_BOX_SHIFTED = Box(0.12, 0.11, 0.52, 0.50)  # IoU ≈ 0.87 with CAT_BOX
CAT_BOX_NUDGED = Box(0.11, 0.12, 0.51, 0.52)
FAR_BOX = Box(0.60, 0.60, 0.90, 0.90)
TRIANGLE = Polygon(((0.10, 0.10), (0.10, 0.50), (0.50, 0.10)))
TRIANGLE_SHIFTED = Polygon(((0.11, 0.12), (0.11, 0.51), (0.50, 0.12)))
CAT_BOX_AS_POLYGON = Polygon(((0.10, 0.11), (0.10, 0.50), (0.51, 0.50), (0.51, 0.11)))


def sub(labeler: str, *regions: tuple[str, Shape]) -> Submission:
    return Submission(labeler, regions=tuple(Region(c, s) for c, s in regions))


def cls(labeler: str, *concepts: str) -> Submission:
    return Submission(labeler, concepts=frozenset(concepts))


@dataclass(frozen=True)
class Case:
    submissions: tuple[Submission, ...]
    threshold: int
    reached: bool
    agreeing: frozenset[str] = frozenset()
    kind: Kind = "regions"
    iou_threshold: float = 0.5


REGION_CASES = {
    "slightly-shifted-boxes-agree": Case(
        (sub("a", ("cat", CAT_BOX)), sub("b", ("cat", CAT_BOX_SHIFTED))), -1, True, frozenset("ab")
    ),
    "disjoint-boxes-disagree": Case((sub("a", ("cat", CAT_BOX)), sub("b", ("cat", FAR_BOX))), -1, False),
    "polygon-vs-polygon-agree": Case(
        (sub("a", ("cat", TRIANGLE)), sub("b", ("cat", TRIANGLE_SHIFTED))), -1, True, frozenset("ab")
    ),
    "box-vs-polygon-agree": Case(
        (sub("a", ("cat", CAT_BOX)), sub("b", ("cat", CAT_BOX_AS_POLYGON))), -1, True, frozenset("ab")
    ),
    "iou-equal-to-threshold-matches": Case(  # the triangle is half the box: IoU 0.5 exactly
        (sub("a", ("cat", CAT_BOX)), sub("b", ("cat", TRIANGLE))), -1, True, frozenset("ab")
    ),
    "box-vs-triangle-below-threshold": Case(
        (sub("a", ("cat", CAT_BOX)), sub("b", ("cat", TRIANGLE))), -1, False, iou_threshold=0.6
    ),
    "missing-region-on-one-side": Case(
        (sub("a", ("cat", CAT_BOX), ("dog", FAR_BOX)), sub("b", ("cat", CAT_BOX_SHIFTED))), -1, False
    ),
    "different-concept-same-place": Case((sub("a", ("cat", CAT_BOX)), sub("b", ("dog", CAT_BOX))), -1, False),
    "three-labelers-threshold-2-two-agree": Case(
        (sub("a", ("cat", CAT_BOX)), sub("b", ("cat", CAT_BOX_SHIFTED)), sub("c", ("cat", FAR_BOX))),
        2,
        True,
        frozenset("ab"),
    ),
    "three-labelers-threshold-all-two-agree": Case(
        (sub("a", ("cat", CAT_BOX)), sub("b", ("cat", CAT_BOX_SHIFTED)), sub("c", ("cat", FAR_BOX))),
        -1,
        False,
    ),
    "three-labelers-all-agree-threshold-all": Case(
        (sub("a", ("cat", CAT_BOX)), sub("b", ("cat", CAT_BOX_SHIFTED)), sub("c", ("cat", CAT_BOX_NUDGED))),
        -1,
        True,
        frozenset("abc"),
    ),
    "threshold-0-means-1-single-labeler": Case((sub("a", ("cat", CAT_BOX)),), 0, True, frozenset("a")),
    "threshold-0-majority-wins": Case(
        (sub("a", ("cat", CAT_BOX)), sub("b", ("cat", CAT_BOX_SHIFTED)), sub("c", ("cat", FAR_BOX))),
        0,
        True,
        frozenset("ab"),
    ),
    "threshold-0-two-labelers-disagree-is-a-tie": Case(
        (sub("a", ("cat", CAT_BOX)), sub("b", ("cat", FAR_BOX))), 0, False
    ),
    "two-against-two-is-a-tie": Case(
        (
            sub("a", ("cat", CAT_BOX)),
            sub("b", ("cat", CAT_BOX_SHIFTED)),
            sub("c", ("cat", FAR_BOX)),
            sub("d", ("cat", FAR_BOX)),
        ),
        2,
        False,
    ),
    "extra-region-breaks-agreement-for-that-labeler": Case(
        (
            sub("a", ("cat", CAT_BOX)),
            sub("b", ("cat", CAT_BOX_SHIFTED)),
            sub("c", ("cat", CAT_BOX_NUDGED), ("dog", FAR_BOX)),
        ),
        2,
        True,
        frozenset("ab"),
    ),
    "all-agree-nothing-is-there": Case((sub("a"), sub("b")), -1, True, frozenset("ab")),
    "stricter-iou-threshold-rejects-shifted-boxes": Case(
        (sub("a", ("cat", CAT_BOX)), sub("b", ("cat", CAT_BOX_SHIFTED))), -1, False, iou_threshold=0.95
    ),
    "two-objects-matched-in-any-order": Case(
        (
            sub("a", ("cat", CAT_BOX), ("cat", FAR_BOX)),
            sub("b", ("cat", FAR_BOX), ("cat", CAT_BOX_SHIFTED)),
        ),
        -1,
        True,
        frozenset("ab"),
    ),
    "no-submissions": Case((), 0, False),
}

CLASSIFICATION_CASES = {
    "same-concepts": Case((cls("a", "cat", "dog"), cls("b", "dog", "cat")), -1, True, frozenset("ab")),
    "different-concepts": Case((cls("a", "cat"), cls("b", "dog")), -1, False),
    "subset-is-disagreement": Case((cls("a", "cat"), cls("b", "cat", "dog")), -1, False),
    "nothing-and-nothing-agree": Case((cls("a"), cls("b")), -1, True, frozenset("ab")),
    "three-threshold-2": Case((cls("a", "cat"), cls("b", "cat"), cls("c", "dog")), 2, True, frozenset("ab")),
    "three-threshold-all": Case((cls("a", "cat"), cls("b", "cat"), cls("c", "dog")), -1, False),
    "three-threshold-0-majority": Case(
        (cls("a", "cat"), cls("b", "cat"), cls("c", "dog")), 0, True, frozenset("ab")
    ),
    "three-all-different-threshold-0-tie": Case((cls("a", "cat"), cls("b", "dog"), cls("c")), 0, False),
}


@pytest.mark.parametrize(
    "case",
    [pytest.param(c, id=f"regions:{k}") for k, c in REGION_CASES.items()]
    + [pytest.param(Case(c.submissions, c.threshold, c.reached, c.agreeing, "classification"), id=f"cls:{k}")
       for k, c in CLASSIFICATION_CASES.items()],
)  # fmt: skip
def test_consensus_rule(case: Case) -> None:
    result = evaluate(case.submissions, case.kind, case.threshold, iou_threshold=case.iou_threshold)
    assert result.reached is case.reached
    assert result.agreeing_labelers == case.agreeing
    if case.reached:
        assert result.representative is not None
        assert result.representative.labeler in case.agreeing
        assert len(case.agreeing) >= result.threshold
        # every cluster of the agreeing group is agreed and contains all of the group
        for cluster in result.clusters:
            if cluster.labelers & case.agreeing:
                assert cluster.agreed
                assert case.agreeing <= cluster.labelers
    else:
        assert result.representative is None


def test_explicit_negatives_count_as_absent() -> None:
    a = Submission("a", concepts=positive_concepts([("cat", 1.0), ("dog", 0.0)]))
    b = Submission("b", concepts=positive_concepts([("cat", 1.0)]))
    assert a.concepts == frozenset({"cat"})
    assert evaluate([a, b], "classification", -1).reached


# --------------------------------------------------------------------------- scores and clusters


def test_scores_show_who_disagrees_regions() -> None:
    result = evaluate(
        [
            sub("a", ("cat", CAT_BOX)),
            sub("b", ("cat", CAT_BOX_SHIFTED)),
            sub("c", ("cat", CAT_BOX_NUDGED), ("dog", FAR_BOX)),
        ],
        "regions",
        2,
    )
    assert result.labeler_scores == {"a": 1.0, "b": 1.0, "c": 0.5}  # c's extra dog was not confirmed
    # pairs: a-b 1, a-c 1/2, b-c 1/2
    assert result.input_score == pytest.approx(2 / 3)
    assert [(c.concept_id, c.votes, c.agreed) for c in result.clusters] == [
        ("cat", 3, True),
        ("dog", 1, False),
    ]


def test_missed_object_lowers_the_labelers_score() -> None:
    result = evaluate(
        [
            sub("a", ("cat", CAT_BOX), ("dog", FAR_BOX)),
            sub("b", ("cat", CAT_BOX_SHIFTED), ("dog", FAR_BOX)),
            sub("c", ("cat", CAT_BOX_NUDGED)),
        ],
        "regions",
        2,
    )
    assert result.reached and result.agreeing_labelers == {"a", "b"}
    assert result.labeler_scores == {"a": 1.0, "b": 1.0, "c": 0.5}


def test_scores_classification() -> None:
    result = evaluate([cls("a", "cat"), cls("b", "cat"), cls("c", "cat", "dog")], "classification", 2)
    assert result.labeler_scores == {"a": 1.0, "b": 1.0, "c": 0.5}
    assert result.input_score == pytest.approx((1 + 0.5 + 0.5) / 3)
    assert [(c.concept_id, c.votes, c.agreed) for c in result.clusters] == [
        ("cat", 3, True),
        ("dog", 1, False),
    ]


def test_total_disagreement_scores_zero() -> None:
    result = evaluate([sub("a", ("cat", CAT_BOX)), sub("b", ("cat", FAR_BOX))], "regions", -1)
    assert result.input_score == 0.0
    assert result.labeler_scores == {"a": 0.0, "b": 0.0}


def test_cluster_representative_is_the_medoid() -> None:
    low, middle, high = Box(0.10, 0.10, 0.50, 0.50), Box(0.11, 0.11, 0.51, 0.51), Box(0.12, 0.12, 0.52, 0.52)
    result = evaluate(
        [sub("a", ("cat", low)), sub("b", ("cat", middle)), sub("c", ("cat", high))], "regions", -1
    )
    (cluster,) = result.clusters
    assert cluster.representative is not None and cluster.representative.labeler == "b"
    assert result.representative is not None and result.representative.labeler == "b"


def test_complete_linkage_does_not_chain_distant_regions() -> None:
    # a≈b and b≈c at IoU ≥ 0.5, but a and c barely overlap: they are not the same object
    a, b, c = Box(0.0, 0.0, 0.4, 0.4), Box(0.0, 0.1, 0.4, 0.5), Box(0.0, 0.2, 0.4, 0.6)
    result = evaluate([sub("a", ("cat", a)), sub("b", ("cat", b)), sub("c", ("cat", c))], "regions", -1)
    assert all(c.votes < 3 for c in result.clusters)
    assert not result.reached


def test_each_labeler_gets_at_most_one_region_per_cluster_and_the_best_match() -> None:
    good, poor = Box(0.11, 0.10, 0.51, 0.50), Box(0.15, 0.10, 0.55, 0.50)
    result = evaluate([sub("a", ("cat", CAT_BOX)), sub("b", ("cat", poor), ("cat", good))], "regions", 2)
    matched = next(c for c in result.clusters if c.votes == 2)
    assert {(m.labeler, m.index) for m in matched.members} == {("a", 0), ("b", 1)}
    assert not result.reached  # b's second box is unconfirmed, so b's submission differs from a's


def test_region_refs_point_back_to_the_submitted_annotation() -> None:
    subs = [
        sub("a", ("dog", FAR_BOX), ("cat", CAT_BOX)),
        sub("b", ("cat", CAT_BOX_SHIFTED), ("dog", FAR_BOX)),
    ]
    result = evaluate(subs, "regions", -1)
    by_labeler = {s.labeler: s for s in subs}
    for cluster in result.clusters:
        for ref in cluster.members:
            assert by_labeler[ref.labeler].regions[ref.index] == ref.region


def test_population_larger_than_submissions_waits() -> None:
    two = [cls("a", "cat"), cls("b", "cat")]
    assert not evaluate(two, "classification", -1, population=3).reached
    assert evaluate(two, "classification", 2, population=3).reached


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"submissions": [cls("a"), cls("a")]}, "labeler 'a' has more than one submission"),
        ({"kind": "keypoints"}, "consensus kind 'keypoints'"),
        ({"iou_threshold": 0.0}, "iou_threshold (0.0) must be greater than 0"),
        ({"iou_threshold": 1.5}, "iou_threshold (1.5)"),
        ({"threshold": 3}, "approval threshold (3) must be between -1 and 2"),
        ({"threshold": -2}, "approval threshold (-2) must be between -1 and 2"),
        ({"population": 1}, "population (1) is smaller than the 2 submissions"),
    ],
)
def test_evaluate_rejects_bad_arguments(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"submissions": [cls("a"), cls("b")], "kind": "classification", "threshold": 0}
    args.update(kwargs)
    with pytest.raises(errors.ApiError) as caught:
        evaluate(**args)  # type: ignore[arg-type]
    assert caught.value.code == errors.INVALID_REQUEST
    assert message in caught.value.description


# --------------------------------------------------------------------------- properties

LABELERS = ["ann", "bob", "cy", "dee", "eve"]
CONCEPTS = ["cat", "dog"]
unit = st.floats(min_value=0.0, max_value=1.0)


@st.composite
def shapes(draw: st.DrawFn) -> Shape:
    top = draw(st.floats(0.0, 0.7))
    left = draw(st.floats(0.0, 0.7))
    height = draw(st.floats(0.05, 0.3))
    width = draw(st.floats(0.05, 0.3))
    if draw(st.booleans()):
        return Box(top, left, top + height, left + width)
    return Polygon(((top, left), (top, left + width), (top + height, left + width / 2)))


@st.composite
def jittered(draw: st.DrawFn, shape: Shape) -> Shape:
    """The same object drawn by another hand: a small shift, sometimes none."""
    dr = draw(st.sampled_from([0.0, 0.0, 0.01, -0.02, 0.05]))
    dc = draw(st.sampled_from([0.0, 0.0, 0.01, -0.02, 0.05]))
    if isinstance(shape, Box):
        return Box(shape.top + dr, shape.left + dc, shape.bottom + dr, shape.right + dc)
    return Polygon(tuple((r + dr, c + dc) for r, c in shape.points))


@st.composite
def submissions(draw: st.DrawFn) -> list[Submission]:
    """Labelers drawing (subsets of, jittered copies of) a few shared objects, plus strays."""
    objects = draw(st.lists(st.tuples(st.sampled_from(CONCEPTS), shapes()), min_size=0, max_size=3))
    labelers = draw(st.lists(st.sampled_from(LABELERS), min_size=1, max_size=5, unique=True))
    result = []
    for labeler in labelers:
        regions = [
            Region(concept, draw(jittered(shape)))
            for concept, shape in objects
            if draw(st.integers(0, 4)) > 0
        ]
        regions += [
            Region(c, s)
            for c, s in draw(st.lists(st.tuples(st.sampled_from(CONCEPTS), shapes()), max_size=1))
        ]
        concepts = frozenset(draw(st.lists(st.sampled_from(CONCEPTS), max_size=2)))
        result.append(Submission(labeler, concepts, tuple(draw(st.permutations(regions)))))
    return result


kinds = st.sampled_from(["classification", "regions"])


def thresholds(n: int) -> st.SearchStrategy[int]:
    return st.integers(-1, n)


def decision(result: ConsensusResult) -> tuple[object, ...]:
    return (result.reached, result.agreeing_labelers, result.input_score, result.labeler_scores)


@settings(max_examples=150, deadline=None)
@given(submissions(), kinds, st.data())
def test_evaluate_is_invariant_under_permutation_of_submissions(
    subs: list[Submission], kind: Kind, data: st.DataObject
) -> None:
    threshold = data.draw(thresholds(len(subs)))
    shuffled = data.draw(st.permutations(subs))
    assert evaluate(shuffled, kind, threshold) == evaluate(subs, kind, threshold)


@settings(max_examples=100, deadline=None)
@given(submissions(), st.data())
def test_decision_is_invariant_under_reordering_regions(subs: list[Submission], data: st.DataObject) -> None:
    threshold = data.draw(thresholds(len(subs)))
    reordered = [
        Submission(s.labeler, s.concepts, tuple(data.draw(st.permutations(s.regions)))) for s in subs
    ]
    assert decision(evaluate(reordered, "regions", threshold)) == decision(
        evaluate(subs, "regions", threshold)
    )


@settings(max_examples=100, deadline=None)
@given(submissions(), kinds, st.data())
def test_identical_submissions_always_reach_consensus(
    subs: list[Submission], kind: Kind, data: st.DataObject
) -> None:
    template = subs[0]
    n = data.draw(st.integers(1, len(LABELERS)))
    same = [Submission(labeler, template.concepts, template.regions) for labeler in LABELERS[:n]]
    threshold = data.draw(thresholds(n))
    result = evaluate(same, kind, threshold)
    assert result.reached
    assert result.agreeing_labelers == frozenset(LABELERS[:n])
    assert result.input_score == 1.0
    assert set(result.labeler_scores.values()) == {1.0}


@settings(max_examples=100, deadline=None)
@given(submissions(), kinds, st.data())
def test_evaluate_is_deterministic_and_scores_are_bounded(
    subs: list[Submission], kind: Kind, data: st.DataObject
) -> None:
    threshold = data.draw(thresholds(len(subs)))
    first = evaluate(subs, kind, threshold)
    assert evaluate(list(subs), kind, threshold) == first
    assert 0.0 <= first.input_score <= 1.0
    assert all(0.0 <= v <= 1.0 for v in first.labeler_scores.values())
    assert set(first.labeler_scores) == {s.labeler for s in subs}
    if first.reached:
        assert len(first.agreeing_labelers) >= first.threshold
    # every region lands in exactly one cluster, once
    if kind == "regions":
        refs = [(m.labeler, m.index) for c in first.clusters for m in c.members]
        assert sorted(refs) == sorted((s.labeler, i) for s in subs for i in range(len(s.regions)))


def test_permutation_smoke_with_a_fixed_seed() -> None:
    subs = [
        sub("a", ("cat", CAT_BOX), ("cat", FAR_BOX)),
        sub("b", ("cat", CAT_BOX_SHIFTED), ("cat", FAR_BOX)),
        sub("c", ("cat", CAT_BOX_NUDGED)),
    ]
    expected = evaluate(subs, "regions", 2)
    rng = random.Random(7)
    for _ in range(10):
        rng.shuffle(subs)
        assert evaluate(subs, "regions", 2) == expected


# --------------------------------------------------------------------------- thresholds


@pytest.mark.parametrize(
    ("raw", "population", "expected"),
    [(0, 3, 1), (-1, 3, 3), (1, 3, 1), (2, 3, 2), (3, 3, 3), (0, 1, 1), (-1, 1, 1), (0, 0, 1), (-1, 0, 0)],
)
def test_resolve_threshold(raw: int, population: int, expected: int) -> None:
    assert resolve_threshold(raw, population) == expected


@pytest.mark.parametrize(("raw", "population"), [(-2, 3), (4, 3), (1, 0), (-100, 5)])
def test_resolve_threshold_rejects_out_of_range(raw: int, population: int) -> None:
    with pytest.raises(errors.ApiError) as caught:
        resolve_threshold(raw, population)
    assert caught.value.code == errors.INVALID_REQUEST
    assert f"must be between -1 and {population}" in caught.value.description


@pytest.mark.parametrize(
    ("labelers", "legacy", "expected"),
    [(0, 0, 0), (2, 0, 2), (0, 3, 3), (2, 3, 2), (0xFFFFFFFF, 0, -1), (0, 0xFFFFFFFF, -1), (-1, 2, -1)],
)
def test_effective_labeler_threshold(labelers: int, legacy: int, expected: int) -> None:
    assert effective_labeler_threshold(labelers, legacy) == expected


# --------------------------------------------------------------------------- reviewers


@pytest.mark.parametrize(
    ("approvals", "rejections", "threshold", "reviewers", "expected"),
    [
        ({}, 0, 0, 1, ReviewOutcome("pending")),
        ({"a": 1}, 0, 0, 1, ReviewOutcome("approved", "a")),
        ({}, 1, 0, 1, ReviewOutcome("rejected")),
        ({}, 1, 1, 3, ReviewOutcome("pending")),  # two reviewers may still approve
        ({}, 3, 1, 3, ReviewOutcome("rejected")),
        ({"a": 1}, 0, -1, 2, ReviewOutcome("pending")),
        ({"a": 2}, 0, -1, 2, ReviewOutcome("approved", "a")),
        ({"a": 1}, 1, -1, 2, ReviewOutcome("rejected")),  # all must approve; one rejected
        ({"a": 1, "b": 1}, 0, 2, 3, ReviewOutcome("pending")),
        ({"a": 2, "b": 1}, 0, 2, 3, ReviewOutcome("approved", "a")),
        ({"a": 1, "b": 1}, 1, 2, 3, ReviewOutcome("rejected")),  # split: nobody can reach 2
        ({"a": 2, "b": 2}, 0, 2, 5, ReviewOutcome("pending")),  # tie above threshold: next vote decides
        ({"a": 2, "b": 2}, 0, 2, 4, ReviewOutcome("rejected")),  # tie and no votes left
    ],
)
def test_reviewer_decision(
    approvals: dict[str, int], rejections: int, threshold: int, reviewers: int, expected: ReviewOutcome
) -> None:
    assert reviewer_decision(approvals, rejections, threshold, reviewers) == expected


@pytest.mark.parametrize(
    ("approvals", "rejections", "threshold", "reviewers", "message"),
    [
        ({}, 0, 0, 0, "at least one reviewer"),
        ({"a": 2}, 1, 0, 2, "3 votes cast but only 2 reviewers"),
        ({"a": -1}, 0, 0, 2, "must not be negative"),
        ({}, 0, 3, 2, "must be between -1 and 2"),
    ],
)
def test_reviewer_decision_rejects_impossible_tallies(
    approvals: dict[str, int], rejections: int, threshold: int, reviewers: int, message: str
) -> None:
    with pytest.raises(errors.ApiError) as caught:
        reviewer_decision(approvals, rejections, threshold, reviewers)
    assert message in caught.value.description


# --------------------------------------------------------------------------- statuses


@pytest.mark.parametrize(
    ("strategy", "sampled", "expected"),
    [
        ("NONE", False, ANNOTATION_SUCCESS),
        ("TASK_REVIEW_STRATEGY_NOT_SET", False, ANNOTATION_SUCCESS),
        ("MANUAL", True, ANNOTATION_AWAITING_REVIEW),
        ("MANUAL", False, ANNOTATION_SUCCESS),
        ("CONSENSUS", False, ANNOTATION_AWAITING_CONSENSUS_REVIEW),
        ("CONSENSUS", True, ANNOTATION_AWAITING_CONSENSUS_REVIEW),
    ],
)
def test_next_status_on_submit(strategy: str, sampled: bool, expected: str) -> None:
    assert next_status_on_submit(strategy, sampled) == expected


def test_unknown_strategy_is_rejected() -> None:
    with pytest.raises(errors.ApiError, match="review strategy 'AUTO'"):
        next_status_on_submit("AUTO")


@pytest.mark.parametrize(
    ("current", "action", "expected"),
    [
        (ANNOTATION_AWAITING_REVIEW, "approve", ANNOTATION_SUCCESS),
        (ANNOTATION_AWAITING_REVIEW, "reject", ANNOTATION_REVIEW_DENIED),
        (ANNOTATION_AWAITING_REVIEW, "request_changes", ANNOTATION_PENDING),
        (ANNOTATION_AWAITING_CONSENSUS_REVIEW, "approve", ANNOTATION_SUCCESS),
        (ANNOTATION_AWAITING_CONSENSUS_REVIEW, "reject", ANNOTATION_REVIEW_DENIED),
    ],
)
def test_on_review(current: str, action: ReviewAction, expected: str) -> None:
    assert on_review(current, action) == expected


@pytest.mark.parametrize("current", [ANNOTATION_SUCCESS, ANNOTATION_PENDING, ANNOTATION_REVIEW_DENIED])
def test_decided_annotations_cannot_be_reviewed_again(current: str) -> None:
    with pytest.raises(errors.ApiError, match="cannot be reviewed"):
        on_review(current, "approve")


@pytest.mark.parametrize(
    ("reached", "in_group", "expected"),
    [
        (True, True, ANNOTATION_SUCCESS),
        (True, False, ANNOTATION_REVIEW_DENIED),
        (False, True, ANNOTATION_AWAITING_CONSENSUS_REVIEW),
        (False, False, ANNOTATION_AWAITING_CONSENSUS_REVIEW),
    ],
)
def test_status_after_consensus(reached: bool, in_group: bool, expected: str) -> None:
    assert status_after_consensus(reached, in_group) == expected


@pytest.mark.parametrize(
    ("outcome", "version", "expected"),
    [
        (ReviewOutcome("approved", "a"), "a", ANNOTATION_SUCCESS),
        (ReviewOutcome("approved", "a"), "b", ANNOTATION_REVIEW_DENIED),
        (ReviewOutcome("rejected"), "a", ANNOTATION_REVIEW_DENIED),
        (ReviewOutcome("pending"), "a", None),
    ],
)
def test_status_after_review(outcome: ReviewOutcome, version: str, expected: str | None) -> None:
    assert status_after_review(outcome, version) == expected

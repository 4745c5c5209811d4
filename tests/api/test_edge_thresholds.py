"""PatchTasks changing review thresholds, through the official client on both channels: inputs not
yet decided are decided again by the new thresholds (lowering the labelers' threshold settles
inputs whose labelers now agree enough; votes already cast are tallied again), decided ones keep
their decision (docs/review.md)."""

from __future__ import annotations

from typing import Any

import pytest
from clarifai_grpc.grpc.api import resources_pb2 as r

from tests.api.test_assignments import A, Team, make_team, ok
from tests.api.test_review import (
    AWAITING,
    CONSENSUS,
    DENIED,
    SUCCESS,
    add_reviewer,
    approve,
    consensus,
    label,
    label_all,
    manual,
    statuses,
    task_of,
)
from tests.helpers import AppFixture

AWAITING_MANUAL = AWAITING


@pytest.fixture
def team(stub: Any, app: AppFixture, request: pytest.FixtureRequest) -> Team:
    """Three labelers, a reviewer, concepts cat and dog."""
    made = make_team(stub, app, transport=request.node.callspec.params["stub"])
    ok(made.call("PostConcepts", concepts=[r.Concept(id="dog")]))
    return made


def _patch_review(team: Team, review: dict[str, Any]) -> None:
    ok(team.patch(review=review))


def test_lowering_the_labelers_threshold_settles_undecided_inputs_only(team: Team) -> None:
    a, b, c = team.workers
    rv = team.reviewer
    team.add_inputs("undecided", "decided", "waiting")
    task_of(team, {**consensus(-1), "user_ids": [rv]})  # all three labelers must agree
    cat, dog = {"concepts": ["cat"]}, {"concepts": ["dog"]}
    label_all(team, {"undecided": {a: cat, b: cat, c: dog}, "decided": {a: cat, b: cat, c: dog}})
    label(team, a, "waiting", cat)
    label(team, b, "waiting", cat)
    assert statuses(team, "undecided") == dict.fromkeys((a, b, c), CONSENSUS)
    ok(approve(team, rv, "decided", version=c))  # the reviewer decided for the minority's version
    assert statuses(team, "decided") == {a: DENIED, b: DENIED, c: SUCCESS}

    _patch_review(team, {**consensus(2), "user_ids": [rv]})
    assert statuses(team, "undecided") == {a: SUCCESS, b: SUCCESS, c: DENIED}, "two agree: settled"
    assert statuses(team, "decided") == {a: DENIED, b: DENIED, c: SUCCESS}, "decided work keeps its decision"
    assert statuses(team, "waiting") == {a: CONSENSUS, b: CONSENSUS}, "still waits for c"
    assert ok(team.put(rv, A.REVIEW_START)).task_assignments == []
    label(team, c, "waiting", dog)
    assert statuses(team, "waiting") == {a: SUCCESS, b: SUCCESS, c: DENIED}, "compared with the new threshold"


def test_raising_the_labelers_threshold_leaves_agreed_inputs_agreed(team: Team) -> None:
    a, b, c = team.workers
    rv = team.reviewer
    team.add_inputs("x")
    task_of(team, {**consensus(2), "user_ids": [rv]})
    label_all(team, {"x": {a: {"concepts": ["cat"]}, b: {"concepts": ["cat"]}, c: {"concepts": ["dog"]}}})
    assert statuses(team, "x") == {a: SUCCESS, b: SUCCESS, c: DENIED}
    _patch_review(team, {**consensus(-1), "user_ids": [rv]})
    assert statuses(team, "x") == {a: SUCCESS, b: SUCCESS, c: DENIED}


def test_changing_the_reviewers_threshold_tallies_the_votes_cast_again(team: Team) -> None:
    a = team.workers[0]
    rv1, rv2, rv3 = team.reviewer, add_reviewer(team), add_reviewer(team)
    reviewers = [rv1, rv2, rv3]
    team.add_inputs("approved-later", "rejected-later", "untouched")
    task_of(
        team,
        {**manual(100, approval_threshold=2), "user_ids": reviewers},
        worker={"strategy": "FULL", "user_ids": [a]},
    )
    for i in ("approved-later", "rejected-later", "untouched"):
        label(team, a, i, {"concepts": ["cat"]})
    assert "1 of 2 approvals" in ok(approve(team, rv1, "approved-later")).status.description
    ok(team.put(rv1, A.REVIEW_REJECT, input_id="rejected-later"))  # two approvals still possible
    assert statuses(team, "rejected-later") == {a: AWAITING_MANUAL}

    _patch_review(team, {**manual(100, approval_threshold=1), "user_ids": reviewers})
    assert statuses(team, "approved-later") == {a: SUCCESS}, "one approval is enough now"
    assert statuses(team, "rejected-later") == {a: AWAITING_MANUAL}, "one approval is still possible"
    assert statuses(team, "untouched") == {a: AWAITING_MANUAL}

    _patch_review(team, {**manual(100, approval_threshold=-1), "user_ids": reviewers})
    assert statuses(team, "rejected-later") == {a: DENIED}, "all three must approve: out of reach"
    assert statuses(team, "untouched") == {a: AWAITING_MANUAL}

"""The rules for inputs leaving and re-joining a task's source (``domain/assignment_source.py``)
and for PatchTasks threshold changes (``domain/review_rules.py``): table tests and properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as hs

from labeldesk.domain.assignment_source import (
    kept_on_leaving,
    live_seats,
    may_take_over,
    reopens_on_reject,
    seats_missing,
    source_changes,
)
from labeldesk.domain.label_orders import listed, made_by_label_order
from labeldesk.domain.review_rules import Thresholds, reevaluated_after_patch, threshold_change
from labeldesk.domain.statuses import (
    AWAITING_CONSENSUS_REVIEW,
    AWAITING_REVIEW,
    OPEN,
    PENDING,
    REJECTED,
    SUCCESS,
)


@pytest.mark.parametrize(
    ("status", "leased", "kept"),
    [
        (OPEN, False, False),  # a DYNAMIC seat nobody took
        (PENDING, False, False),  # planned, never handed out
        (PENDING, True, True),  # started
        (SUCCESS, False, True),
        (AWAITING_REVIEW, False, True),
        (AWAITING_CONSENSUS_REVIEW, True, True),
        (REJECTED, False, True),
    ],
)
def test_kept_on_leaving(status: int, leased: bool, kept: bool) -> None:
    assert kept_on_leaving(status, leased) is kept


@pytest.mark.parametrize(
    ("status", "expired", "off_source", "had_input", "taken"),
    [
        (PENDING, True, False, False, True),
        (PENDING, True, True, False, False),  # the input left the source
        (PENDING, False, False, False, False),  # lease still running
        (PENDING, True, False, True, False),  # the taker had the input before
        (SUCCESS, True, False, False, False),  # handed in
    ],
)
def test_may_take_over(status: int, expired: bool, off_source: bool, had_input: bool, taken: bool) -> None:
    assert may_take_over(status, expired, off_source, had_input) is taken


@pytest.mark.parametrize(
    ("rejected", "off_source", "reopened"),
    [(True, False, True), (True, True, False), (False, False, False), (False, True, False)],
)
def test_reopens_on_reject(rejected: bool, off_source: bool, reopened: bool) -> None:
    assert reopens_on_reject(rejected, off_source) is reopened


@pytest.mark.parametrize(
    ("statuses", "k", "missing"),
    [
        ([PENDING], 3, 2),  # one started seat kept, two dropped
        ([PENDING, REJECTED], 2, 1),  # rejected seats do not count
        ([SUCCESS, SUCCESS, PENDING], 2, 0),  # never negative
        ([], 1, 1),
    ],
)
def test_seats_missing(statuses: list[int], k: int, missing: int) -> None:
    assert seats_missing(live_seats(statuses), k) == missing


def test_source_changes() -> None:
    changes = source_changes(on_source={1, 2, 3}, off_source={4, 5}, live=[2, 3, 5, 6])
    assert changes.left == {1} and changes.back == {5}


@given(
    hs.sets(hs.integers(0, 30)),
    hs.sets(hs.integers(0, 30)),
    hs.sets(hs.integers(0, 30)),
)
def test_source_changes_properties(on: set[int], off: set[int], live: set[int]) -> None:
    off = off - on
    changes = source_changes(on, off, live)
    assert changes.left <= on and not changes.left & live  # only planned inputs leave, none that match
    assert changes.back <= off and changes.back <= live
    assert on - changes.left <= live  # whatever stays on the source is in it


@given(hs.integers(0, 10), hs.integers(1, 10))
def test_seats_missing_tops_up_exactly(live: int, k: int) -> None:
    assert live + seats_missing(live, k) == max(live, k)


@pytest.mark.parametrize(
    ("old", "new", "consensus", "labelers", "reviewers"),
    [
        (Thresholds(2, 1), Thresholds(1, 1), True, True, False),
        (Thresholds(2, 1), Thresholds(1, 1), False, False, False),  # labeler agreement is CONSENSUS's
        (Thresholds(0, 2), Thresholds(0, 1), False, False, True),
        (Thresholds(0, 2), Thresholds(0, 2), True, False, False),
    ],
)
def test_threshold_change(
    old: Thresholds, new: Thresholds, consensus: bool, labelers: bool, reviewers: bool
) -> None:
    change = threshold_change(old, new, consensus)
    assert (change.labelers, change.reviewers) == (labelers, reviewers)
    assert bool(change) is (labelers or reviewers)


@pytest.mark.parametrize(
    ("state", "again"),
    [("review", True), ("waiting", False), ("agreed", False), ("approved", False), ("rejected", False)],
)
def test_only_undecided_inputs_are_reevaluated(state: str, again: bool) -> None:
    assert reevaluated_after_patch(state) is again


@pytest.mark.parametrize(
    ("made_by_label_order", "including", "shown"),
    [(False, False, True), (False, True, True), (True, False, False), (True, True, True)],
)
def test_label_order_tasks_are_listed_only_when_asked_for(
    made_by_label_order: bool, including: bool, shown: bool
) -> None:
    assert listed(made_by_label_order, including) is shown


def test_labeldesk_tasks_are_never_made_by_a_label_order() -> None:
    assert made_by_label_order("") is False and made_by_label_order("order-1") is False

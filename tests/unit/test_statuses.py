"""The task-assignment state machine (domain/statuses.py), as a table: every (status, event) pair
is either the documented transition or refused with an error naming the status."""

from __future__ import annotations

import itertools

import pytest
from clarifai_grpc.grpc.api.status import status_code_pb2 as sc

from labeldesk.domain import errors
from labeldesk.domain import statuses as st
from labeldesk.domain.statuses import Event

ALL = (st.OPEN, st.PENDING, st.SUCCESS, st.AWAITING_REVIEW, st.AWAITING_CONSENSUS_REVIEW, st.REJECTED)

# (from, event) -> to, for every event but SUBMIT
ALLOWED = {
    (st.OPEN, Event.CLAIM): st.PENDING,
    (st.PENDING, Event.CLAIM): st.PENDING,  # an expired DYNAMIC lease taken over
    (st.PENDING, Event.START): st.PENDING,
    (st.AWAITING_REVIEW, Event.APPROVE): st.SUCCESS,
    (st.AWAITING_REVIEW, Event.REQUEST_CHANGES): st.PENDING,
    (st.AWAITING_REVIEW, Event.REJECT): st.REJECTED,
    (st.AWAITING_CONSENSUS_REVIEW, Event.APPROVE): st.SUCCESS,
    (st.AWAITING_CONSENSUS_REVIEW, Event.REQUEST_CHANGES): st.PENDING,
    (st.AWAITING_CONSENSUS_REVIEW, Event.REJECT): st.REJECTED,
}
NOT_SUBMIT = [e for e in Event if e is not Event.SUBMIT]


def test_codes_are_clarifais() -> None:
    assert (st.PENDING, st.SUCCESS, st.AWAITING_REVIEW, st.AWAITING_CONSENSUS_REVIEW, st.REJECTED) == (
        sc.TASK_ASSIGNMENT_PENDING,
        sc.TASK_ASSIGNMENT_SUCCESS,
        sc.TASK_ASSIGNMENT_AWAITING_REVIEW,
        sc.TASK_ASSIGNMENT_AWAITING_CONSENSUS_REVIEW,
        sc.TASK_ASSIGNMENT_REJECTED,
    )
    assert st.OPEN not in st.LISTED and set(ALL) - {st.OPEN} == st.LISTED


def test_the_table_is_exactly_the_documented_transitions() -> None:
    assert dict(st.TRANSITIONS) == ALLOWED


@pytest.mark.parametrize(("current", "event"), list(itertools.product(ALL, NOT_SUBMIT)))
def test_every_pair_is_allowed_or_refused_with_a_reason(current: int, event: Event) -> None:
    if (current, event) in ALLOWED:
        assert st.next_status(current, event) == ALLOWED[(current, event)]
        return
    with pytest.raises(errors.ApiError) as e:
        st.next_status(current, event, subject="input 'x' of 'w'")
    assert e.value.code == errors.INVALID_REQUEST
    assert f"input 'x' of 'w' is {st.name(current)}" in e.value.description
    assert e.value.details, "says what to do instead"


@pytest.mark.parametrize(
    ("strategy", "sampled", "expected"),
    [
        ("NONE", False, st.SUCCESS),
        ("TASK_REVIEW_STRATEGY_NOT_SET", False, st.SUCCESS),
        ("MANUAL", False, st.SUCCESS),
        ("MANUAL", True, st.AWAITING_REVIEW),
        ("CONSENSUS", False, st.AWAITING_CONSENSUS_REVIEW),
        ("CONSENSUS", True, st.AWAITING_CONSENSUS_REVIEW),
    ],
)
def test_where_a_submission_goes(strategy: str, sampled: bool, expected: int) -> None:
    assert st.status_on_submit(strategy, sampled) == expected


@pytest.mark.parametrize(("current", "target"), list(itertools.product(ALL, sorted(st.SUBMITTED))))
def test_submit_from_pending_or_as_a_retry_only(current: int, target: int) -> None:
    if current in (st.PENDING, target):
        assert st.next_status(current, Event.SUBMIT, target) == target
    else:
        with pytest.raises(errors.ApiError, match=st.name(current)):
            st.next_status(current, Event.SUBMIT, target)


def test_submit_needs_a_submitted_target() -> None:
    with pytest.raises(ValueError):
        st.next_status(st.PENDING, Event.SUBMIT)
    with pytest.raises(ValueError):
        st.next_status(st.PENDING, Event.SUBMIT, st.PENDING)


def test_unknown_review_strategy_is_refused() -> None:
    with pytest.raises(errors.ApiError, match="MAJORITY"):
        st.status_on_submit("MAJORITY")


def test_annotation_statuses_follow_the_assignment() -> None:
    assert st.ANNOTATION_FOR == {
        st.PENDING: sc.ANNOTATION_PENDING,
        st.SUCCESS: sc.ANNOTATION_SUCCESS,
        st.AWAITING_REVIEW: sc.ANNOTATION_AWAITING_REVIEW,
        st.AWAITING_CONSENSUS_REVIEW: sc.ANNOTATION_AWAITING_CONSENSUS_REVIEW,
        st.REJECTED: sc.ANNOTATION_REVIEW_DENIED,
    }


def test_names() -> None:
    assert st.name(st.OPEN) == "OPEN"
    assert st.name(st.REJECTED) == "TASK_ASSIGNMENT_REJECTED"
    assert st.name(123456) == "123456"

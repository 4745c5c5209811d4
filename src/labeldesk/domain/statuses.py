"""The task-assignment state machine: what ``PutTaskAssignments`` actions do to one assignment.

An *assignment* is one place ("seat") of one input in one task: ``workers_per_input`` seats per
input. Its status is a Clarifai ``TASK_ASSIGNMENT_*`` code, plus one internal state, ``OPEN``, for
a DYNAMIC seat nobody has taken yet (never shown to clients). Whether a ``PENDING`` assignment
has been *started* (handed out by ``LABEL_START``) is its lease, not its status.

=============================  ==================  =============================================
from                           event               to
=============================  ==================  =============================================
OPEN                           CLAIM               PENDING (the claiming worker, leased)
PENDING (DYNAMIC, lease over)  CLAIM               PENDING (another worker takes the seat over)
PENDING                        START               PENDING (lease set / renewed)
PENDING                        SUBMIT              SUCCESS | AWAITING_REVIEW |
                                                   AWAITING_CONSENSUS_REVIEW (by review strategy,
                                                   :func:`status_on_submit`)
X (already submitted)          SUBMIT to X         X (a retried submission changes nothing)
AWAITING_REVIEW                APPROVE             SUCCESS
AWAITING_REVIEW                REQUEST_CHANGES     PENDING (same worker, who gets it back first)
AWAITING_REVIEW                REJECT              REJECTED (the seat is re-opened for another
                                                   worker where the strategy allows)
AWAITING_CONSENSUS_REVIEW      APPROVE / REQUEST_  as AWAITING_REVIEW; APPROVE of one version:
                               CHANGES / REJECT    its labelers SUCCESS, the others REJECTED
AWAITING_CONSENSUS_REVIEW      (all of the input's SUCCESS (agreeing group) | REJECTED (outvoted),
                               labelers submitted, without a reviewer (services/review.py)
                               consensus reached)
=============================  ==================  =============================================

Every other pair is refused with an ``ApiError`` (11102) that names the status and what to do.
The annotation side of the same events (``ANNOTATION_*`` statuses) is decided by
:mod:`labeldesk.domain.review_rules`; :data:`FOR_ANNOTATION` / :data:`ANNOTATION_FOR` translate
between the two so that each rule lives in one place.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

from clarifai_grpc.grpc.api.status import status_code_pb2 as sc

from labeldesk.domain import errors, review_rules

__all__ = [
    "ANNOTATION_FOR",
    "AWAITING_CONSENSUS_REVIEW",
    "AWAITING_REVIEW",
    "FOR_ANNOTATION",
    "LISTED",
    "OPEN",
    "PENDING",
    "REJECTED",
    "REVIEWABLE",
    "SUBMITTED",
    "SUCCESS",
    "TRANSITIONS",
    "Event",
    "name",
    "next_status",
    "status_on_submit",
]

#: internal: a DYNAMIC seat no worker holds yet (not a Clarifai code; never returned)
OPEN = 0
PENDING: int = sc.TASK_ASSIGNMENT_PENDING
SUCCESS: int = sc.TASK_ASSIGNMENT_SUCCESS
AWAITING_REVIEW: int = sc.TASK_ASSIGNMENT_AWAITING_REVIEW
AWAITING_CONSENSUS_REVIEW: int = sc.TASK_ASSIGNMENT_AWAITING_CONSENSUS_REVIEW
REJECTED: int = sc.TASK_ASSIGNMENT_REJECTED

#: the statuses a client can see (stored per task, worker and input)
LISTED: frozenset[int] = frozenset({PENDING, SUCCESS, AWAITING_REVIEW, AWAITING_CONSENSUS_REVIEW, REJECTED})
#: work handed in by its worker
SUBMITTED: frozenset[int] = frozenset({SUCCESS, AWAITING_REVIEW, AWAITING_CONSENSUS_REVIEW})
#: what a reviewer may act on
REVIEWABLE: frozenset[int] = frozenset({AWAITING_REVIEW, AWAITING_CONSENSUS_REVIEW})


class Event(enum.Enum):
    CLAIM = "claim"  #: LABEL_START takes a seat no live worker holds
    START = "start"  #: LABEL_START hands out the worker's own pending work (lease renewed)
    SUBMIT = "submit"  #: LABEL_SUBMIT
    APPROVE = "approve"  #: REVIEW_APPROVE
    REQUEST_CHANGES = "request_changes"  #: REVIEW_REQUEST_CHANGES
    REJECT = "reject"  #: REVIEW_REJECT


#: The fixed transitions. SUBMIT is not here: its target depends on the review strategy.
TRANSITIONS: Mapping[tuple[int, Event], int] = {
    (OPEN, Event.CLAIM): PENDING,
    (PENDING, Event.CLAIM): PENDING,
    (PENDING, Event.START): PENDING,
    **{(s, Event.APPROVE): SUCCESS for s in REVIEWABLE},
    **{(s, Event.REQUEST_CHANGES): PENDING for s in REVIEWABLE},
    **{(s, Event.REJECT): REJECTED for s in REVIEWABLE},
}

#: annotation status (review_rules names) → assignment status
FOR_ANNOTATION: Mapping[str, int] = {
    review_rules.ANNOTATION_PENDING: PENDING,
    review_rules.ANNOTATION_SUCCESS: SUCCESS,
    review_rules.ANNOTATION_AWAITING_REVIEW: AWAITING_REVIEW,
    review_rules.ANNOTATION_AWAITING_CONSENSUS_REVIEW: AWAITING_CONSENSUS_REVIEW,
    review_rules.ANNOTATION_REVIEW_DENIED: REJECTED,
}
#: assignment status → the status code its worker's task annotations get
ANNOTATION_FOR: Mapping[int, int] = {a: int(sc.StatusCode.Value(n)) for n, a in FOR_ANNOTATION.items()}


_NAMES: Mapping[int, str] = {int(v): str(n) for n, v in sc.StatusCode.items()} | {OPEN: "OPEN"}


def name(status: int) -> str:
    """``TASK_ASSIGNMENT_PENDING`` etc. (``OPEN`` for the internal state)."""
    return _NAMES.get(status, str(status))


def status_on_submit(review_strategy: str, sampled: bool = False) -> int:
    """Where a submission goes under a ``TaskReview`` strategy name (``NONE``, ``MANUAL``,
    ``CONSENSUS``, ``TASK_REVIEW_STRATEGY_NOT_SET``); ``sampled``: the input is in the MANUAL
    review sample. The rule itself is :func:`review_rules.next_status_on_submit`."""
    return FOR_ANNOTATION[review_rules.next_status_on_submit(review_strategy, sampled)]


_HINT: Mapping[Event, str] = {
    Event.CLAIM: "the input is not free; call LABEL_START for other work",
    Event.START: "only pending work can be handed out; call LABEL_START for other work",
    Event.SUBMIT: "only pending (started) work can be submitted; call LABEL_START for new work",
    Event.APPROVE: "only work awaiting review can be approved; REVIEW_START lists it",
    Event.REQUEST_CHANGES: "only work awaiting review can be sent back; REVIEW_START lists it",
    Event.REJECT: "only work awaiting review can be rejected; REVIEW_START lists it",
}


def next_status(
    current: int, event: Event, submit_to: int | None = None, subject: str = "this assignment"
) -> int:
    """The status after ``event``, or ApiError 11102 naming ``subject``, its status and what to do.

    ``submit_to`` (SUBMIT only) is :func:`status_on_submit` for the task and input. Submitting
    again what is already in that status is a harmless retry and keeps it.
    """
    if event is Event.SUBMIT:
        if submit_to is None or submit_to not in SUBMITTED:
            raise ValueError("SUBMIT needs submit_to, one of the submitted statuses")
        if current in (PENDING, submit_to):
            return submit_to
    else:
        target = TRANSITIONS.get((current, event))
        if target is not None:
            return target
    raise errors.invalid(
        f"{subject} is {name(current)}: {event.value.replace('_', ' ')} is not possible", _HINT[event]
    )

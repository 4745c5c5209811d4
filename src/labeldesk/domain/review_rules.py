"""Review thresholds and annotation-status transitions under a task's review strategy.

Pure rules, no I/O: services decide *when* to call them (on submit, once every labeler of an
input has submitted, on each reviewer action) and persist what they return. Status names are the
Clarifai ``status_code_pb2`` enum names, as plain strings, so this module needs no protobuf.

The flow, per input of a task:

* ``NONE`` (or ``TASK_REVIEW_STRATEGY_NOT_SET``): a submitted annotation is ``ANNOTATION_SUCCESS``.
* ``MANUAL``: a sampled input (see :mod:`labeldesk.domain.review_sampling`) waits as
  ``ANNOTATION_AWAITING_REVIEW``; the others are ``ANNOTATION_SUCCESS`` at once.
* ``CONSENSUS``: every submission waits as ``ANNOTATION_AWAITING_CONSENSUS_REVIEW`` until all of
  the input's labelers have submitted; then :func:`labeldesk.domain.consensus.evaluate` decides.
  If consensus is reached the agreeing labelers' annotations become ``ANNOTATION_SUCCESS`` and the
  dissenters' ``ANNOTATION_REVIEW_DENIED`` (:func:`status_after_consensus`); otherwise everything
  stays ``AWAITING_CONSENSUS_REVIEW`` and reviewers vote (:func:`reviewer_decision`).

How many must agree (stated precisely):

* labelers: the raw ``approval_threshold_labelers`` (legacy ``approval_threshold``,
  :func:`effective_labeler_threshold`) is resolved against the input's *population*, the number
  of labelers assigned to it (``workers_per_input`` places, all submitted): 0 → 1, -1 → all.
  A threshold above the population can never be met by labelers, so every such input goes to
  reviewers (:func:`labeler_quorum` answers ``None``) — e.g. ``workers_per_input`` 1 with threshold 2;
* reviewers: the raw ``approval_threshold_reviewers`` (CONSENSUS) or ``approval_threshold``
  (MANUAL) is resolved against the task's reviewers, then capped at the reviewers *eligible* for
  the work — a reviewer never reviews their own labels (:func:`reviewer_quorum`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from labeldesk.domain import errors

__all__ = [
    "ANNOTATION_AWAITING_CONSENSUS_REVIEW",
    "ANNOTATION_AWAITING_REVIEW",
    "ANNOTATION_PENDING",
    "ANNOTATION_REVIEW_DENIED",
    "ANNOTATION_SUCCESS",
    "DEFAULT_IOU_THRESHOLD",
    "IOU_THRESHOLD_KEY",
    "REVIEW_STRATEGIES",
    "ReviewAction",
    "ReviewOutcome",
    "ThresholdChange",
    "Thresholds",
    "consensus_iou_threshold",
    "effective_labeler_threshold",
    "labeler_quorum",
    "next_status_on_submit",
    "on_review",
    "reevaluated_after_patch",
    "resolve_threshold",
    "reviewer_decision",
    "reviewer_quorum",
    "status_after_consensus",
    "status_after_review",
    "threshold_change",
]

ANNOTATION_SUCCESS = "ANNOTATION_SUCCESS"
ANNOTATION_PENDING = "ANNOTATION_PENDING"
ANNOTATION_AWAITING_REVIEW = "ANNOTATION_AWAITING_REVIEW"
ANNOTATION_AWAITING_CONSENSUS_REVIEW = "ANNOTATION_AWAITING_CONSENSUS_REVIEW"
ANNOTATION_REVIEW_DENIED = "ANNOTATION_REVIEW_DENIED"

#: ``TaskReview.TaskReviewStrategy`` names. ``NOT_SET`` behaves as ``NONE``: a task created without
#: a review section must not leave its annotations waiting for a reviewer who does not exist.
REVIEW_STRATEGIES = ("TASK_REVIEW_STRATEGY_NOT_SET", "NONE", "MANUAL", "CONSENSUS")

#: Statuses a reviewer may act on.
REVIEWABLE = frozenset({ANNOTATION_AWAITING_REVIEW, ANNOTATION_AWAITING_CONSENSUS_REVIEW})

ReviewAction = Literal["approve", "reject", "request_changes"]

#: where a task keeps the IoU two regions need to count as the same object (``Task.metadata``)
IOU_THRESHOLD_KEY = "consensus_iou_threshold"
DEFAULT_IOU_THRESHOLD = 0.5

_INT32_WRAP = 1 << 32
_INT32_MAX = (1 << 31) - 1


def resolve_threshold(raw: int, population: int) -> int:
    """The number of agreeing votes required: ``0`` means 1, ``-1`` means everyone, else ``raw``.

    ``population`` is how many can vote (the input's labelers, or the task's reviewers). Raises
    ``ApiError`` 11102 if ``raw`` is below -1 or above ``population`` — a threshold nobody can
    meet would park inputs forever, so it is rejected when the task is written, not discovered later.
    """
    if population < 0:
        raise errors.invalid(f"population ({population}) must not be negative")
    if raw < -1 or raw > population:
        raise errors.invalid(
            f"approval threshold ({raw}) must be between -1 and {population} "
            f"(-1 means all {population}, 0 means 1)"
        )
    if raw == 0:
        return 1
    if raw == -1:
        return population
    return raw


def effective_labeler_threshold(approval_threshold_labelers: int, approval_threshold: int = 0) -> int:
    """The raw labeler threshold of a ``TaskReviewConsensusStrategyInfo``, before resolving.

    ``approval_threshold`` is the legacy name of ``approval_threshold_labelers``; proto3 cannot
    tell an unset field from 0, so the new field wins whenever it is non-zero. Both are ``uint32``
    on the wire, where ``-1`` cannot be written: a client that casts ``-1`` gets ``4294967295``,
    so values above ``INT32_MAX`` are read back as two's-complement int32 (``0xFFFFFFFF`` → ``-1``).
    """

    def as_int32(value: int) -> int:
        return value - _INT32_WRAP if value > _INT32_MAX else value

    labelers = as_int32(approval_threshold_labelers)
    return labelers if labelers != 0 else as_int32(approval_threshold)


def labeler_quorum(raw: int, population: int) -> int | None:
    """How many of an input's ``population`` labelers must agree, from the raw (effective) labeler
    threshold; ``None`` when ``raw`` exceeds the population: labelers can never settle such an
    input, reviewers do. Raises ApiError 11102 for ``raw`` below -1."""
    if raw > population:
        return None
    return resolve_threshold(raw, population)


def reviewer_quorum(raw: int, reviewers: int, eligible: int) -> int:
    """Approvals a piece of work needs: ``raw`` (0 → 1, -1 → all) resolved against the task's
    ``reviewers``, capped at the ``eligible`` ones (reviewers who did not label it), so that a
    reviewer who is also a labeler cannot leave work waiting for a vote nobody may cast. A
    threshold above the number of reviewers (left after PatchTasks removed some) means all."""
    if eligible < 1:
        raise errors.invalid("no reviewer of the task may review this work (they labeled it themselves)")
    needed = resolve_threshold(min(raw, reviewers), reviewers)
    return min(needed, eligible)


def consensus_iou_threshold(metadata: Mapping[str, Any] | None, path: str = "metadata") -> float:
    """The IoU at which two regions count as the same object: ``metadata.consensus_iou_threshold``
    of the task (a number in (0, 1]), :data:`DEFAULT_IOU_THRESHOLD` when absent."""
    value = (metadata or {}).get(IOU_THRESHOLD_KEY)
    if value is None:
        return DEFAULT_IOU_THRESHOLD
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise errors.invalid(
            f"{path}.{IOU_THRESHOLD_KEY}: {value!r} is not a number",
            "give the IoU two regions need to count as the same object, e.g. 0.5",
        )
    if not 0.0 < value <= 1.0:
        raise errors.invalid(
            f"{path}.{IOU_THRESHOLD_KEY}: {value} must be greater than 0 and at most 1",
            "0.5 (the default) matches regions that overlap by half of their union",
        )
    return float(value)


def next_status_on_submit(strategy: str, sampled: bool = False) -> str:
    """Status of an annotation a labeler submits in a task with review ``strategy``.

    ``sampled`` only matters for ``MANUAL``: whether the input is in the review sample.
    """
    if strategy in ("NONE", "TASK_REVIEW_STRATEGY_NOT_SET"):
        return ANNOTATION_SUCCESS
    if strategy == "MANUAL":
        return ANNOTATION_AWAITING_REVIEW if sampled else ANNOTATION_SUCCESS
    if strategy == "CONSENSUS":
        return ANNOTATION_AWAITING_CONSENSUS_REVIEW
    raise errors.invalid(f"review strategy '{strategy}' is not one of {', '.join(REVIEW_STRATEGIES)}")


def on_review(current: str, action: ReviewAction) -> str:
    """Status of one annotation after a reviewer's final ``action`` on it.

    ``approve`` → SUCCESS, ``reject`` → REVIEW_DENIED, ``request_changes`` → PENDING (back to its
    labeler, who resubmits it into review). Only annotations awaiting review can be acted on, so a
    stale or replayed review cannot flip an already-decided annotation.
    """
    if current not in REVIEWABLE:
        raise errors.invalid(
            f"annotation status {current} cannot be reviewed; only "
            f"{ANNOTATION_AWAITING_REVIEW} or {ANNOTATION_AWAITING_CONSENSUS_REVIEW} can"
        )
    if action == "approve":
        return ANNOTATION_SUCCESS
    if action == "reject":
        return ANNOTATION_REVIEW_DENIED
    if action == "request_changes":
        return ANNOTATION_PENDING
    raise errors.invalid(f"review action '{action}' is not one of approve, reject, request_changes")


def status_after_consensus(reached: bool, in_agreeing_group: bool) -> str:
    """Status of a labeler's consensus-held annotations once all labelers of the input submitted.

    Reached: the agreeing group's annotations are SUCCESS; a dissenter's are REVIEW_DENIED, so
    only agreed labels count as ground truth. Not reached: everything stays
    AWAITING_CONSENSUS_REVIEW and the input goes to the reviewers.
    """
    if not reached:
        return ANNOTATION_AWAITING_CONSENSUS_REVIEW
    return ANNOTATION_SUCCESS if in_agreeing_group else ANNOTATION_REVIEW_DENIED


@dataclass(frozen=True)
class ReviewOutcome:
    """Where reviewer voting on an input stands; ``version`` is the approved one, if any."""

    state: Literal["approved", "rejected", "pending"]
    version: str | None = None


def reviewer_decision(
    approvals: Mapping[str, int], rejections: int, threshold: int, reviewers: int
) -> ReviewOutcome:
    """Tally reviewer votes for one input.

    Each reviewer casts at most one vote: approve one *version* (a key of ``approvals``; in
    consensus review a version is a labeler's submission, in manual review there is just one) or
    reject. ``threshold`` is the raw ``approval_threshold_reviewers`` (0 → 1, -1 → all
    ``reviewers``).

    * ``approved`` as soon as a version has ``threshold`` approvals (with thresholds ≤ half the
      reviewers two versions could both get there; the one with more approvals wins, a tie
      stays ``pending`` until another vote breaks it or makes it impossible);
    * ``rejected`` once no version can reach ``threshold`` even if every reviewer who has not
      voted yet approved it — so one rejection is final for a lone reviewer, but with three
      reviewers and threshold 1 the two others still get their say;
    * ``pending`` otherwise.
    """
    if reviewers < 1:
        raise errors.invalid("review needs at least one reviewer")
    needed = resolve_threshold(threshold, reviewers)
    if rejections < 0 or any(v < 0 for v in approvals.values()):
        raise errors.invalid("vote counts must not be negative")
    cast = rejections + sum(approvals.values())
    if cast > reviewers:
        raise errors.invalid(f"{cast} votes cast but only {reviewers} reviewers")
    best = max(approvals.values(), default=0)
    leaders = sorted(v for v, n in approvals.items() if n == best)
    if best >= needed:
        if len(leaders) == 1:
            return ReviewOutcome("approved", leaders[0])
        remaining = reviewers - cast
        return ReviewOutcome("pending" if remaining > 0 else "rejected")
    if best + (reviewers - cast) < needed:
        return ReviewOutcome("rejected")
    return ReviewOutcome("pending")


def status_after_review(outcome: ReviewOutcome, version: str) -> str | None:
    """Status of the annotations of ``version`` once voting is decided; ``None`` while pending."""
    if outcome.state == "pending":
        return None
    if outcome.state == "approved" and outcome.version == version:
        return ANNOTATION_SUCCESS
    return ANNOTATION_REVIEW_DENIED


# --------------------------------------------------------------------------- PatchTasks


@dataclass(frozen=True)
class Thresholds:
    """A task's raw review thresholds: ``labelers`` (CONSENSUS ``approval_threshold_labelers``, or
    the legacy ``approval_threshold``) and ``reviewers`` (MANUAL ``approval_threshold``, CONSENSUS
    ``approval_threshold_reviewers``)."""

    labelers: int
    reviewers: int


@dataclass(frozen=True)
class ThresholdChange:
    """What a PatchTasks changed: re-compare the labelers of undecided inputs (``labelers``),
    re-tally the reviewer votes cast on undecided work (``reviewers``)."""

    labelers: bool
    reviewers: bool

    def __bool__(self) -> bool:
        return self.labelers or self.reviewers


def threshold_change(old: Thresholds, new: Thresholds, consensus: bool) -> ThresholdChange:
    """Which re-evaluations a threshold change calls for (labeler agreement only under CONSENSUS)."""
    return ThresholdChange(
        labelers=consensus and old.labelers != new.labelers, reviewers=old.reviewers != new.reviewers
    )


def reevaluated_after_patch(state: str) -> bool:
    """Whether a CONSENSUS input in ``state`` is re-evaluated when thresholds change: only inputs
    not yet decided and whose labelers have all handed in (``review``: waiting for reviewers).
    Decided inputs (``agreed``, ``approved``, ``rejected``) keep their decision; inputs still
    ``waiting`` for labelers are compared with the new threshold when the last one submits."""
    return state == "review"

"""Review and consensus: what becomes of submitted work under the task's review strategy.

The assignment engine (``services/assignments.py``) moves seats through the state machine of
``domain/statuses.py``; :class:`ReviewEngine` decides the review side of it, in the same
transaction, holding the row locks of the input's seats:

* **CONSENSUS, on submit** (:meth:`ReviewEngine.after_submit`): once every labeler assigned to an
  input has submitted (no seat of it is still pending), their annotations of the task on the
  input are compared (``domain/submissions.py`` → ``domain/consensus.py``). Consensus reached:
  the agreeing labelers' work becomes SUCCESS and the others' REVIEW_DENIED, with no reviewer.
  Not reached: the input waits for reviewers (REVIEW_START hands it out).
* **Reviewer verdicts** (:meth:`ReviewEngine.decide`): REVIEW_APPROVE and REVIEW_REJECT are votes,
  tallied by ``review_rules.reviewer_decision`` against MANUAL's ``approval_threshold`` or
  CONSENSUS's ``approval_threshold_reviewers`` (0 → 1, -1 → all, capped at the reviewers who did
  not label the work). With one approval needed the first approval decides. CONSENSUS approval
  picks a *version* (``domain/submissions.py``): the one of the labeler named in
  ``review_approve_config.workers`` or ``.task_assignments``, else the majority's.
  Decided: approved work is SUCCESS; rejected work is REVIEW_DENIED and the input returns to the
  pool for labelers who did not have it. REVIEW_REQUEST_CHANGES sends the work back to its
  labeler(s) at once, with the reviewer's comment (``task_assignments[].status.description`` of
  the config, shown to the labeler in the assignment's ``status.details``).
* **Scores** are stored per input and labeler (``storage/repos/reviews.py``) and read back by
  :func:`consensus_infos` (``Annotation.consensus_info``) and :func:`agreement` (GetTask
  ``additional_fields: ["agreement"]`` → ``Task.metadata.agreement``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2
from sqlalchemy import Connection, Row

from labeldesk.config import Settings
from labeldesk.domain import errors
from labeldesk.domain import statuses as st
from labeldesk.domain.review_rules import (
    ReviewOutcome,
    Thresholds,
    reevaluated_after_patch,
    reviewer_decision,
    reviewer_quorum,
    status_after_consensus,
    status_after_review,
    threshold_change,
)
from labeldesk.domain.submissions import consensus_kind, decide, majority_version, submission_of, version_of
from labeldesk.services.task_record import TaskRecord
from labeldesk.storage.clock import utcnow
from labeldesk.storage.repos import annotations as annotations_repo
from labeldesk.storage.repos import assignments as repo
from labeldesk.storage.repos import reviews as reviews_repo
from labeldesk.storage.repos.assignments import SourceInput

#: the subject of a CONSENSUS vote: the whole input (MANUAL votes are on one labeler's work)
WHOLE_INPUT = ""


@dataclass(frozen=True)
class Verdict:
    """One reviewer's REVIEW_* action on one input.

    ``named``: labelers the request named (``workers``, or the workers of the ``task_assignments``
    given by id); empty when it named none. ``comment``: the reviewer's comment for the input;
    ``seat_comments``: comments given on single assignments (by seat pk), which win.
    """

    reviewer: str
    event: st.Event
    named: frozenset[str] = frozenset()
    comment: str = ""
    seat_comments: Mapping[int, str] = field(default_factory=dict)

    def comment_for(self, seat: Row[Any]) -> str:
        return self.seat_comments.get(int(seat.pk)) or self.comment


@dataclass(frozen=True)
class Tally:
    """Where reviewer voting on a piece of work stands, and that in words (for a pending answer)."""

    outcome: ReviewOutcome
    standing: str


@dataclass
class Decision:
    """What a verdict did: the seats it concerned, whether the input returns to the pool for
    other labelers (the caller plans their seats), and a note for the answer's status."""

    seat_pks: list[int]
    reopen: bool = False
    note: str | None = None


def _own_work(reviewer: str, inp: SourceInput) -> errors.ApiError:
    return errors.invalid(
        f"'{reviewer}' cannot review their own work on input '{inp.id}'",
        "another of the task's reviewers has to decide on it",
    )


def _nothing_to_review(inp: SourceInput, task: TaskRecord, named: Collection[str]) -> errors.ApiError:
    who = f" by {', '.join(repr(w) for w in sorted(named))}" if named else ""
    return errors.invalid(
        f"input '{inp.id}' has no work{who} awaiting review in task '{task.id}'",
        "REVIEW_START lists the inputs awaiting review",
    )


class ReviewEngine:
    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()

    # ----------------------------------------------------------------------- submit

    def after_submit(self, conn: Connection, task: TaskRecord, inp: SourceInput, status: int) -> None:
        """A labeler's submission of ``inp`` is now ``status``: under CONSENSUS, compare the input's
        submissions once none of its seats is pending any more."""
        if status != st.AWAITING_CONSENSUS_REVIEW:
            return
        live = [s for s in repo.seats_of_input(conn, task.pk, inp.pk) if s.status != st.REJECTED]
        if any(s.status in (st.OPEN, st.PENDING) for s in live):
            return  # waits for its other labelers
        self.evaluate(conn, task, inp, [s for s in live if s.status == st.AWAITING_CONSENSUS_REVIEW])

    def evaluate(
        self, conn: Connection, task: TaskRecord, inp: SourceInput, seats: Sequence[Row[Any]]
    ) -> None:
        """Compare the submissions of ``seats`` (all of the input's labelers), store the decision and
        the scores, and settle the input if the labelers agree."""
        self._store(conn, task, inp, seats, self._compare(conn, task, inp, seats))

    @staticmethod
    def _compare(conn: Connection, task: TaskRecord, inp: SourceInput, seats: Sequence[Row[Any]]) -> Any:
        workers = [s.worker_id for s in seats]
        datas: dict[str, list[resources_pb2.Data]] = {w: [] for w in workers}
        held = st.ANNOTATION_FOR[st.AWAITING_CONSENSUS_REVIEW]
        for row in annotations_repo.of_task_input(conn, task.app_pk, task.id, inp.pk, workers, held):
            datas[row.user_id].append(resources_pb2.Data.FromString(row.data))
        kind = consensus_kind(task.spec.type)
        return decide(
            [submission_of(w, datas[w], kind) for w in workers],
            kind,
            task.labeler_threshold,
            task.iou_threshold,
        )

    @staticmethod
    def _store(
        conn: Connection, task: TaskRecord, inp: SourceInput, seats: Sequence[Row[Any]], result: Any
    ) -> None:
        evaluation = reviews_repo.Evaluation(
            state=reviews_repo.AGREED if result.reached else reviews_repo.REVIEW,
            reached=result.reached,
            input_score=result.input_score,
            threshold=result.threshold,
            agreeing=sorted(result.agreeing_labelers),
            groups=[sorted(g) for g in result.groups],
            labeler_scores=result.labeler_scores,
        )
        reviews_repo.save_evaluation(conn, task.pk, inp.pk, evaluation)
        reviews_repo.clear_votes(conn, task.pk, inp.pk, [WHOLE_INPUT])
        if result.reached:
            for s in seats:
                agreed = s.worker_id in result.agreeing_labelers
                move_seat(conn, task, inp, s, st.FOR_ANNOTATION[status_after_consensus(True, agreed)])

    # ----------------------------------------------------------------------- PatchTasks

    def reevaluate(self, conn: Connection, task: TaskRecord, old: TaskRecord) -> list[SourceInput]:
        """PatchTasks changed the review thresholds of ``old`` into ``task``'s: inputs not yet
        decided are decided again by the new thresholds (``review_rules.threshold_change``,
        ``reevaluated_after_patch``) -- CONSENSUS inputs waiting for reviewers are compared again
        (now agreeing: settled without a reviewer), and the reviewer votes already cast on
        undecided work are tallied again (enough approvals now: approved; approval out of reach:
        rejected). Decided work keeps its decision. Answers the inputs rejected now (the caller
        returns them to the pool)."""
        change = threshold_change(
            Thresholds(old.labeler_threshold, old.reviewer_threshold),
            Thresholds(task.labeler_threshold, task.reviewer_threshold),
            task.review_strategy == resources_pb2.TaskReview.CONSENSUS,
        )
        rejected: list[SourceInput] = []
        if not change:
            return rejected
        if change.labelers:
            for inp in repo.source_inputs(
                conn, reviews_repo.inputs_in_state(conn, task.pk, reviews_repo.REVIEW)
            ):
                row = reviews_repo.input_review(conn, task.pk, inp.pk)
                if row is None or not reevaluated_after_patch(row.state):
                    continue
                seats = repo.seats_of_input(conn, task.pk, inp.pk, statuses=[st.AWAITING_CONSENSUS_REVIEW])
                result = self._compare(conn, task, inp, seats)
                if result.reached:  # still disagreeing: the votes cast so far stay
                    self._store(conn, task, inp, seats, result)
        if change.reviewers:
            for input_pk, subject in reviews_repo.voted_subjects(conn, task.pk):
                [inp] = repo.source_inputs(conn, [input_pk])
                if self._retally(conn, task, inp, subject):
                    rejected.append(inp)
        return rejected

    def _retally(self, conn: Connection, task: TaskRecord, inp: SourceInput, subject: str) -> bool:
        """Tally the votes on ``subject`` of the input again and settle the work if that decides it;
        answers whether it was rejected."""
        consensus = subject == WHOLE_INPUT
        status = st.AWAITING_CONSENSUS_REVIEW if consensus else st.AWAITING_REVIEW
        workers = () if consensus else [subject]
        awaiting = repo.seats_of_input(conn, task.pk, inp.pk, worker_ids=workers, statuses=[status])
        row = reviews_repo.input_review(conn, task.pk, inp.pk) if consensus else None
        if not awaiting or (consensus and (row is None or not reevaluated_after_patch(row.state))):
            return False
        labelers = {s.worker_id for s in awaiting}
        if not set(task.reviewer_ids) - labelers:
            return False  # no reviewer may decide it any more: it waits for one to be added
        tally = self._tally(conn, task, inp, subject, labelers)
        if tally.outcome.state == "pending":
            return False
        last = next((s.reviewer_id for s in awaiting if s.reviewer_id), "")
        groups: list[list[str]] = row.groups if row is not None else []
        self._apply(conn, task, inp, awaiting, tally, Verdict(last, st.Event.APPROVE), Decision([]), groups)
        if row is not None:
            state = reviews_repo.APPROVED if tally.outcome.state == "approved" else reviews_repo.REJECTED
            reviews_repo.set_state(conn, task.pk, inp.pk, state, tally.outcome.version)
        return tally.outcome.state == "rejected"

    # ----------------------------------------------------------------------- review

    def decide(
        self,
        conn: Connection,
        task: TaskRecord,
        inp: SourceInput,
        awaiting: Sequence[Row[Any]],
        verdict: Verdict,
    ) -> Decision:
        """Apply ``verdict`` to the input whose seats awaiting review are ``awaiting`` (locked)."""
        if any(s.status == st.AWAITING_CONSENSUS_REVIEW for s in awaiting):
            return self._consensus(conn, task, inp, awaiting, verdict)
        named = [s for s in awaiting if not verdict.named or s.worker_id in verdict.named]
        seats = [s for s in named if s.worker_id != verdict.reviewer]  # nobody reviews their own labels
        if named and not seats:
            raise _own_work(verdict.reviewer, inp)
        if not seats:
            raise _nothing_to_review(inp, task, verdict.named)
        if verdict.event is st.Event.REQUEST_CHANGES:
            return Decision(self._send_back(conn, task, inp, seats, verdict))
        decision = Decision([])
        for s in seats:
            tally = self._vote(conn, task, inp, s.worker_id, {s.worker_id}, verdict, "")
            self._apply(conn, task, inp, [s], tally, verdict, decision)
        return decision

    def _consensus(
        self,
        conn: Connection,
        task: TaskRecord,
        inp: SourceInput,
        awaiting: Sequence[Row[Any]],
        verdict: Verdict,
    ) -> Decision:
        labelers = {s.worker_id for s in awaiting}
        if verdict.reviewer in labelers:
            raise _own_work(verdict.reviewer, inp)
        row = reviews_repo.input_review(conn, task.pk, inp.pk)
        if row is None or row.state != reviews_repo.REVIEW:
            raise errors.invalid(
                f"input '{inp.id}' is waiting for its labelers in task '{task.id}': reviewers decide only "
                "once all of them have submitted and they disagree",
                "REVIEW_START lists the inputs awaiting review",
            )
        if verdict.named - labelers:
            raise _nothing_to_review(inp, task, verdict.named - labelers)
        if verdict.event is st.Event.REQUEST_CHANGES:
            back = [s for s in awaiting if not verdict.named or s.worker_id in verdict.named]
            reviews_repo.set_state(conn, task.pk, inp.pk, reviews_repo.WAITING)
            reviews_repo.clear_votes(conn, task.pk, inp.pk, [WHOLE_INPUT])
            return Decision(self._send_back(conn, task, inp, back, verdict))
        groups: list[list[str]] = row.groups
        version = ""
        if verdict.event is st.Event.APPROVE:
            version = _chosen_version(inp, groups, verdict.named)
        tally = self._vote(conn, task, inp, WHOLE_INPUT, labelers, verdict, version)
        decision = Decision([])
        self._apply(conn, task, inp, awaiting, tally, verdict, decision, groups)
        outcome = tally.outcome
        if outcome.state != "pending":
            state = reviews_repo.APPROVED if outcome.state == "approved" else reviews_repo.REJECTED
            reviews_repo.set_state(conn, task.pk, inp.pk, state, outcome.version)
        return decision

    def _vote(
        self,
        conn: Connection,
        task: TaskRecord,
        inp: SourceInput,
        subject: str,
        labelers: Collection[str],
        verdict: Verdict,
        version: str,
    ) -> Tally:
        """Record the verdict as a vote on ``subject`` and tally the votes of the reviewers who may
        review it (everyone listed but its labelers)."""
        approve = verdict.event is st.Event.APPROVE
        reviews_repo.cast_vote(conn, task.pk, inp.pk, subject, verdict.reviewer, approve, version)
        return self._tally(conn, task, inp, subject, labelers)

    @staticmethod
    def _tally(
        conn: Connection, task: TaskRecord, inp: SourceInput, subject: str, labelers: Collection[str]
    ) -> Tally:
        """Tally the votes on ``subject`` of the reviewers who may review it (all but its labelers);
        a decided tally forgets the votes."""
        eligible = [r for r in task.reviewer_ids if r not in labelers]
        cast = [v for v in reviews_repo.votes(conn, task.pk, inp.pk, subject) if v.reviewer_id in eligible]
        approvals = Counter(v.version for v in cast if v.approve)
        rejections = sum(1 for v in cast if not v.approve)
        needed = reviewer_quorum(task.reviewer_threshold, len(task.reviewer_ids), len(eligible))
        outcome = reviewer_decision(dict(approvals), rejections, needed, len(eligible))
        if outcome.state != "pending":
            reviews_repo.clear_votes(conn, task.pk, inp.pk, [subject])
        best = max(approvals.values(), default=0)
        return Tally(outcome, f"{best} of {needed} approvals needed, {rejections} rejection(s)")

    def _apply(
        self,
        conn: Connection,
        task: TaskRecord,
        inp: SourceInput,
        seats: Sequence[Row[Any]],
        tally: Tally,
        verdict: Verdict,
        decision: Decision,
        groups: Sequence[Sequence[str]] = (),
    ) -> None:
        """Settle ``seats`` by the voting outcome (nothing moves while it is pending)."""
        outcome = tally.outcome
        decision.seat_pks.extend(int(s.pk) for s in seats)
        if outcome.state == "pending":
            for s in seats:  # the reviewer's turn is over: the work is free for the next reviewer
                repo.update_seat(conn, int(s.pk), reviewer_id=verdict.reviewer, review_lease_until=None)
            decision.note = f"vote recorded on input '{inp.id}': {tally.standing}; it awaits more reviewers"
            return
        for s in seats:
            version = (version_of(groups, s.worker_id) if groups else "") or ""
            after = status_after_review(outcome, version)  # decided, so never None
            if after is not None:
                move_seat(conn, task, inp, s, st.FOR_ANNOTATION[after], reviewer_id=verdict.reviewer)
        decision.reopen = decision.reopen or outcome.state == "rejected"

    def _send_back(
        self,
        conn: Connection,
        task: TaskRecord,
        inp: SourceInput,
        seats: Sequence[Row[Any]],
        verdict: Verdict,
    ) -> list[int]:
        """REVIEW_REQUEST_CHANGES: the seats go back to their labelers (first in their queues, held
        for them for a lease) with the reviewer's comment; votes on them are forgotten."""
        until = utcnow() + timedelta(seconds=self.settings.lease_seconds)
        for s in seats:
            new = st.next_status(s.status, st.Event.REQUEST_CHANGES, subject=f"the work of '{s.worker_id}'")
            comment = verdict.comment_for(s)
            move_seat(
                conn, task, inp, s, new, reviewer_id=verdict.reviewer, lease_until=until, comment=comment
            )
        reviews_repo.clear_votes(conn, task.pk, inp.pk, [s.worker_id for s in seats])
        return [int(s.pk) for s in seats]


def _chosen_version(inp: SourceInput, groups: Sequence[Sequence[str]], named: Collection[str]) -> str:
    """The version a REVIEW_APPROVE approves: the named labelers' (all of one version), else the
    majority's; an error says how to name one when that is ambiguous."""
    if named:
        versions = {version_of(groups, w) for w in named}
        if len(versions) == 1 and None not in versions:
            return str(versions.pop())
        raise errors.invalid(
            f"review_approve_config names labelers of input '{inp.id}' who handed in different versions "
            f"({', '.join(sorted(named))})",
            "name one labeler (or one assignment) whose version you approve",
        )
    majority = majority_version(groups)
    if majority is None:
        split = "; ".join(", ".join(g) for g in groups)
        raise errors.invalid(
            f"the labelers of input '{inp.id}' are split evenly ({split}): say whose version to approve",
            "name its labeler in review_approve_config.workers, or its assignment in "
            "review_approve_config.task_assignments",
        )
    return majority


def move_seat(
    conn: Connection, task: TaskRecord, inp: SourceInput, seat: Row[Any], new: int, **values: Any
) -> None:
    """Move a seat to ``new`` and its worker's task annotations on the input with it."""
    repo.update_seat(conn, int(seat.pk), status=new, review_lease_until=None, **values)
    repo.set_task_annotation_status(
        conn,
        task.app_pk,
        task.id,
        inp.pk,
        seat.worker_id,
        [st.ANNOTATION_FOR[seat.status]],
        st.ANNOTATION_FOR[new],
    )


# --------------------------------------------------------------------------- reading the scores


def consensus_infos(
    conn: Connection, app_pk: int, keys: Sequence[tuple[str | None, int, str]]
) -> list[dict[str, Any] | None]:
    """``Annotation.consensus_info`` for annotations given as ``(task id, input pk, user id)``:
    the consensus decision on the input in that task and the author's score; None where the
    annotation is in no task or its input was never compared."""
    task_ids = {k[0] for k in keys if k[0]}
    decisions, scores = reviews_repo.for_annotations(conn, app_pk, task_ids, {k[1] for k in keys if k[0]})
    out: list[dict[str, Any] | None] = []
    for task_id, input_pk, user_id in keys:
        row = decisions.get((task_id or "", input_pk))
        if row is None:
            out.append(None)
            continue
        info: dict[str, Any] = {
            "state": row.state,
            "reached": bool(row.reached),
            "input_score": float(row.input_score),
            "agreeing_labelers": list(row.agreeing),
            "groups": [list(g) for g in row.groups],
            "threshold": int(row.threshold),
            "rounds": int(row.rounds),
        }
        score = scores.get((row.task_id, input_pk, user_id))
        if score is not None:
            info["labeler_score"] = score
        if row.approved_version:
            info["approved_version"] = row.approved_version
        out.append(info)
    return out


def fill_consensus_info(
    conn: Connection,
    app_pk: int,
    rows: Sequence[Mapping[Any, Any]],
    annotations: Sequence[resources_pb2.Annotation],
) -> None:
    """Set ``consensus_info`` of ``annotations``, rendered from ``rows`` (annotation rows with
    ``task_id``, ``input_pk`` and ``user_id``, in the same order)."""
    for annotation, info in zip(annotations, consensus_infos_of(conn, app_pk, rows)):
        if info is not None:
            annotation.consensus_info.update(info)


def consensus_infos_of(
    conn: Connection, app_pk: int, rows: Sequence[Mapping[Any, Any]]
) -> list[dict[str, Any] | None]:
    """:func:`consensus_infos` of annotation rows (with ``task_id``, ``input_pk``, ``user_id``)."""
    return consensus_infos(conn, app_pk, [(m["task_id"], int(m["input_pk"]), m["user_id"]) for m in rows])


def agreement(conn: Connection, task: TaskRecord) -> dict[str, Any]:
    """The task's agreement report: inputs compared (by review state, mean score) and, per labeler,
    inputs compared, mean and lowest score, and how often they agreed, were outvoted or were on an
    input without consensus -- lowest mean score (the labelers who disagree most) first."""
    labelers = [
        {
            "user_id": r.worker_id,
            "inputs": int(r.inputs),
            "mean_score": float(r.mean_score),
            "min_score": float(r.min_score),
            "agreed": int(r.agreed or 0),
            "outvoted": int(r.outvoted or 0),
            "no_consensus": int(r.no_consensus or 0),
        }
        for r in reviews_repo.labeler_summary(conn, task.pk)
    ]
    return {"inputs": reviews_repo.input_summary(conn, task.pk), "labelers": labelers}

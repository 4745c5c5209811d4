"""The staged workflow (Deepen-style tasks API): one task per work unit per stage, and its states.

A dataset has ordered stages (default ``Labelling`` → ``QA``). Each *work unit* (an input, a tracked
object of a sequence, a frame or dataset attribute) has one task per stage. Pure rules, no I/O: the
service looks up states, asks :func:`plan` what an action does to the whole unit, and persists the
steps (each step is one history entry).

One task (``first`` = stage 0, ``review`` = any later stage):

===========  ===========  ===========  =================================================
from         action       to           when / who
===========  ===========  ===========  =================================================
Ready        start        In progress  the assignee (or the owner)
Ready,       submit       Submitted    the assignee (or the owner); opens the next stage
In progress
Ready,       accept       Accepted     review stages: the assignee or the owner; the
In progress                            previous stage's Submitted task becomes Accepted,
                                       the next stage opens (on the last: unit complete)
Ready,       reject       Rejected     review stages: the assignee or the owner; the unit
In progress                            goes back to the first stage (send_back), the
                                       stages in between are reset to Waiting, and a
                                       later stage still Rejected from an earlier round
                                       is reset to Waiting too
Waiting,     open         Ready        system: the previous stage was submitted/accepted
Rejected
Submitted    approve      Accepted     system: the next stage accepted this work
Submitted,   send_back    Ready        system: a later stage rejected the unit (stage 0)
Accepted
Submitted,   reset        Waiting      system: a later stage rejected the unit (stages
Accepted                               between the first and the rejecting one)
Rejected     reset        Waiting      system: an earlier stage rejected the unit, so this
                                       stage's old rejection no longer marks the unit
Waiting,     assign       same state   the owner (re)assigns, or auto-reassign moves
Ready,                    (In progress overdue Ready work; In progress work goes back to
In progress,              → Ready)     Ready for its new assignee
Rejected
===========  ===========  ===========  =================================================

Everything else is refused with :class:`IllegalTransition` (409) naming the state and the actions
that are possible. A unit is *consistent* (:func:`is_consistent`) when exactly the stages before its
active stage are handed in (Submitted/Accepted), the active one is Ready/In progress and the later
ones Waiting (or Rejected: the stage that sent it back) — or when every stage is handed in
(the unit is complete).

The invariant :func:`plan` keeps: **at most one stage is Rejected, and it is a stage after the
active one** — the stage whose rejection sent the unit back. When an earlier stage rejects the
resubmitted work, a later stage still Rejected from an earlier round is reset to Waiting (with
stages Labelling → QA → QA2: QA2 rejects, Labelling resubmits, QA rejects → ``[Ready, Rejected,
Waiting]``, not ``[Ready, Rejected, Rejected]``).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from clarifai_grpc.grpc.api.status import status_code_pb2 as sc

from labeldesk.domain import errors

CONFLICT: int = sc.TASK_CONFLICT
DEFAULT_STAGES = ("Labelling", "QA")
MAX_STAGES = 20
MAX_STAGE_NAME = 64
#: the longest relative deadline a stage may set (about a century): beyond it no date exists
MAX_DUE_HOURS = 24 * 366 * 100


class State(str, enum.Enum):
    WAITING = "Waiting"
    READY = "Ready"
    IN_PROGRESS = "In progress"
    SUBMITTED = "Submitted"
    ACCEPTED = "Accepted"
    REJECTED = "Rejected"


class Action(str, enum.Enum):
    START = "start"
    SUBMIT = "submit"
    ACCEPT = "accept"
    REJECT = "reject"
    ASSIGN = "assign"
    OPEN = "open"
    APPROVE = "approve"
    SEND_BACK = "send_back"
    RESET = "reset"


class UnitKind(str, enum.Enum):
    FILE = "file"
    LABEL = "label"
    FRAME_ATTRIBUTE = "frame_attribute"
    DATASET_ATTRIBUTE = "dataset_attribute"


#: what a caller may ask for on one task (the others are consequences or the owner's assignment)
CALLER_ACTIONS = (Action.START, Action.SUBMIT, Action.ACCEPT, Action.REJECT)
REVIEW_ONLY = frozenset({Action.ACCEPT, Action.REJECT})
DONE = frozenset({State.SUBMITTED, State.ACCEPTED})
ACTIVE = frozenset({State.READY, State.IN_PROGRESS})

S, A = State, Action
TRANSITIONS: Mapping[tuple[State, Action], State] = {
    (S.READY, A.START): S.IN_PROGRESS,
    **{(s, A.SUBMIT): S.SUBMITTED for s in ACTIVE},
    **{(s, A.ACCEPT): S.ACCEPTED for s in ACTIVE},
    **{(s, A.REJECT): S.REJECTED for s in ACTIVE},
    (S.WAITING, A.OPEN): S.READY,
    (S.REJECTED, A.OPEN): S.READY,
    (S.SUBMITTED, A.APPROVE): S.ACCEPTED,
    **{(s, A.SEND_BACK): S.READY for s in DONE},
    **{(s, A.RESET): S.WAITING for s in (*DONE, S.REJECTED)},
    (S.WAITING, A.ASSIGN): S.WAITING,
    (S.READY, A.ASSIGN): S.READY,
    (S.IN_PROGRESS, A.ASSIGN): S.READY,
    (S.REJECTED, A.ASSIGN): S.REJECTED,
}

_HINT: Mapping[State, str] = {
    S.WAITING: "the previous stage has not handed this unit in yet; wait for it",
    S.READY: "start it, submit it, or (review stages) accept or reject it",
    S.IN_PROGRESS: "submit it, or (review stages) accept or reject it",
    S.SUBMITTED: "it is handed in; the next stage decides (accept or reject its own task)",
    S.ACCEPTED: "it is accepted; nothing is left to do here",
    S.REJECTED: "the unit went back to the first stage; this task opens again when it is resubmitted",
}


class IllegalTransition(errors.ApiError):
    """An action the task's state (or stage) does not allow: Clarifai TASK_CONFLICT, HTTP 409."""

    def __init__(self, subject: str, state: State, action: Action, allowed: Sequence[Action], why: str = ""):
        names = ", ".join(a.value for a in allowed) or "none"
        super().__init__(
            CONFLICT,
            f"{subject} is {state.value}: {action.value} is not possible{why}; allowed actions: {names}",
            _HINT[state],
        )
        self.state = state
        self.action = action


def parse_state(value: str, where: str = "state") -> State:
    """A state from its name, case- and separator-insensitive ("in_progress", "In progress")."""
    wanted = value.strip().lower().replace("_", " ").replace("-", " ")
    for s in State:
        if s.value.lower() == wanted:
            return s
    raise errors.invalid(
        f"{where}: '{value[:40]}' is not a task state", f"use one of: {', '.join(s.value for s in State)}"
    )


def allowed_actions(state: State, stage: int) -> list[Action]:
    """The caller actions possible on a task in ``state`` at ``stage`` (0 = the first stage)."""
    return [a for a in CALLER_ACTIONS if (state, a) in TRANSITIONS and not (a in REVIEW_ONLY and stage == 0)]


def next_state(state: State, action: Action, stage: int, subject: str = "this task") -> State:
    """The state after ``action``, or :class:`IllegalTransition`."""
    target = TRANSITIONS.get((state, action))
    if action in REVIEW_ONLY and stage == 0:
        raise IllegalTransition(
            subject,
            state,
            action,
            allowed_actions(state, stage),
            " (the first stage is submitted; its work is accepted or rejected by the next stage's task)",
        )
    if target is None:
        raise IllegalTransition(subject, state, action, allowed_actions(state, stage))
    return target


@dataclass(frozen=True)
class Step:
    """One transition of one task of a unit: what a history entry records."""

    stage: int
    action: Action
    before: State
    after: State


def _step(states: Sequence[State], stage: int, action: Action, subject: str = "this task") -> Step:
    return Step(stage, action, states[stage], next_state(states[stage], action, stage, subject))


def plan(states: Sequence[State], stage: int, action: Action, subject: str = "this task") -> list[Step]:
    """Every transition ``action`` on the task of ``stage`` causes in its unit (``states``: one per
    stage), the acted-on task first; raises :class:`IllegalTransition` when it is not allowed.

    Keeps the invariant of :func:`is_consistent` for a consistent unit: handed-in stages, one
    active stage, then Waiting ones with at most one Rejected (the stage that sent the unit back).
    A reject therefore also resets any later stage still Rejected from an earlier round.
    """
    if not 0 <= stage < len(states):
        raise ValueError(f"stage {stage} out of range for {len(states)} stages")
    steps = [_step(states, stage, action, subject)]
    last = len(states) - 1
    if action in (A.SUBMIT, A.ACCEPT) and stage < last:
        steps.append(_step(states, stage + 1, A.OPEN))
    if action is A.ACCEPT and states[stage - 1] is S.SUBMITTED:
        steps.append(_step(states, stage - 1, A.APPROVE))
    if action is A.REJECT:
        steps.append(_step(states, 0, A.SEND_BACK))
        steps += [_step(states, i, A.RESET) for i in range(1, stage)]
        steps += [_step(states, i, A.RESET) for i in range(stage + 1, len(states)) if states[i] is S.REJECTED]
    return steps


def apply(states: Sequence[State], steps: Sequence[Step]) -> list[State]:
    out = list(states)
    for s in steps:
        out[s.stage] = s.after
    return out


def is_consistent(states: Sequence[State]) -> bool:
    """Handed-in stages, then one active stage, then waiting ones (or the rejecting one); or all
    handed in."""
    active = [i for i, s in enumerate(states) if s in ACTIVE]
    if not active:
        return all(s in DONE for s in states)
    k = active[0]
    before_ok = all(s in DONE for s in states[:k])
    after = states[k + 1 :]
    return (
        len(active) == 1
        and before_ok
        and all(s in (S.WAITING, S.REJECTED) for s in after)
        and sum(s is S.REJECTED for s in after) <= 1
    )


def is_complete(states: Sequence[State]) -> bool:
    return all(s in DONE for s in states)


# ----------------------------------------------------------------------- the Clarifai-side view

ANNOTATION_SUCCESS = "ANNOTATION_SUCCESS"
ANNOTATION_AWAITING_REVIEW = "ANNOTATION_AWAITING_REVIEW"
ANNOTATION_PENDING = "ANNOTATION_PENDING"


def annotation_status_after(action: Action, stage: int, stage_count: int) -> str | None:
    """The status the unit's annotations get after a caller action (None: unchanged).

    Submitting the first stage puts the work up for review (or finishes it when there is no later
    stage); handing in the last stage (accept, or submit) finishes it; a rejection sends it back
    for rework, which Clarifai calls ANNOTATION_PENDING (REVIEW_DENIED would be final).
    """
    last = stage == stage_count - 1
    if action is A.SUBMIT and stage == 0:
        return ANNOTATION_SUCCESS if last else ANNOTATION_AWAITING_REVIEW
    if action in (A.SUBMIT, A.ACCEPT) and last:
        return ANNOTATION_SUCCESS
    if action is A.REJECT:
        return ANNOTATION_PENDING
    return None


# ----------------------------------------------------------------------- stages, deadlines


@dataclass(frozen=True)
class StageSpec:
    name: str
    due_at: datetime | None = None
    """every task of the stage is due then (unless its unit got its own due time)"""
    due_in_hours: float | None = None
    """…or this long after the task became Ready"""

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "due_at": format_time(self.due_at), "due_in_hours": self.due_in_hours}


def default_stages() -> list[StageSpec]:
    return [StageSpec(n) for n in DEFAULT_STAGES]


def parse_time(value: Any, where: str) -> datetime | None:
    """An ISO 8601 time (``2030-01-31T12:00:00Z``; no offset means UTC) as aware UTC; None/"" → None."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise errors.invalid(f"{where}: expected an ISO 8601 time string, got {type(value).__name__}")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise errors.invalid(
            f"{where}: '{value[:40]}' is not an ISO 8601 time", 'e.g. "2030-01-31T12:00:00Z"'
        ) from None
    try:
        return as_utc(dt)
    except OverflowError:  # its UTC form falls before year 1 or after year 9999
        raise errors.invalid(
            f"{where}: '{value[:40]}' is out of range", "give a time whose UTC form is within years 1-9999"
        ) from None


def as_utc(dt: datetime) -> datetime:
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)


def format_time(dt: datetime | None) -> str | None:
    if dt is None:
        return None
    return as_utc(dt).isoformat().replace("+00:00", "Z")


def _stage_spec(value: Any, where: str) -> StageSpec:
    if isinstance(value, str):
        value = {"name": value}
    if not isinstance(value, dict):
        raise errors.invalid(f'{where}: a stage is a name or an object {{"name": ...}}')
    unknown = set(value) - {"name", "due_at", "due_in_hours"}
    if unknown:
        raise errors.invalid(
            f"{where}: unknown field(s) {sorted(unknown)}", "a stage has name, due_at, due_in_hours"
        )
    name = value.get("name")
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > MAX_STAGE_NAME:
        raise errors.invalid(f"{where}.name: give a stage name of 1-{MAX_STAGE_NAME} characters")
    hours = value.get("due_in_hours")
    if hours is not None and (
        isinstance(hours, bool) or not isinstance(hours, (int, float)) or not 0 < hours <= MAX_DUE_HOURS
    ):
        shown = repr(hours)[:40]
        raise errors.invalid(
            f"{where}.due_in_hours: give a positive number of hours up to {MAX_DUE_HOURS}, got {shown}"
        )
    due_at = parse_time(value.get("due_at"), f"{where}.due_at")
    if due_at is not None and hours is not None:
        raise errors.invalid(f"{where}: give due_at or due_in_hours, not both")
    return StageSpec(name.strip(), due_at, float(hours) if hours is not None else None)


def parse_stages(value: Any, where: str = "stages") -> list[StageSpec]:
    """The stage list of a dataset, validated: 1-20 distinct names (case-insensitive)."""
    if not isinstance(value, list) or not value:
        raise errors.invalid(
            f"{where}: give a non-empty list of stages", 'e.g. {"stages": ["Labelling", "QA"]}'
        )
    if len(value) > MAX_STAGES:
        raise errors.invalid(f"{where}: at most {MAX_STAGES} stages, got {len(value)}")
    specs = [_stage_spec(v, f"{where}[{i}]") for i, v in enumerate(value)]
    seen: set[str] = set()
    for i, s in enumerate(specs):
        if s.name.lower() in seen:
            raise errors.invalid(
                f"{where}[{i}].name: stage '{s.name}' appears twice", "stage names must differ"
            )
        seen.add(s.name.lower())
    return specs


def stages_from_json(value: Sequence[Mapping[str, Any]]) -> list[StageSpec]:
    """Stored stage specs (as written by :meth:`StageSpec.to_json`) back as objects."""
    return [
        StageSpec(v["name"], parse_time(v.get("due_at"), "stored stage"), v.get("due_in_hours"))
        for v in value
    ]


def stage_index(stages: Sequence[StageSpec], name: str, where: str = "stage") -> int:
    for i, s in enumerate(stages):
        if s.name.lower() == name.strip().lower():
            return i
    raise errors.invalid(
        f"{where}: '{name[:60]}' is not a stage of this dataset",
        f"its stages are: {', '.join(s.name for s in stages)}",
    )


def effective_due(explicit: datetime | None, spec: StageSpec, ready_at: datetime | None) -> datetime | None:
    """When a task is due: its unit's own due time, else the stage's due_at, else due_in_hours
    after it became Ready (None while it has not)."""
    if explicit is not None:
        return explicit
    if spec.due_at is not None:
        return spec.due_at
    if spec.due_in_hours is not None and ready_at is not None:
        try:
            return as_utc(ready_at) + timedelta(hours=spec.due_in_hours)
        except OverflowError:  # stored before due_in_hours was capped: a due time past the calendar
            return None
    return None


def is_overdue(state: State, due_at: datetime | None, now: datetime) -> bool:
    return state not in DONE and due_at is not None and as_utc(due_at) < now


@dataclass(frozen=True)
class Candidate:
    user_id: str
    email: str
    open_tasks: int


def least_loaded(candidates: Sequence[Candidate], exclude: str) -> Candidate | None:
    """Who takes over overdue work: fewest open tasks in the stage, ties by email (then user id)."""
    pool = [c for c in candidates if c.user_id != exclude]
    return min(pool, key=lambda c: (c.open_tasks, c.email.lower(), c.user_id), default=None)


def may_auto_reassign(
    state: State, due_at: datetime | None, reassigned_at: datetime | None, now: datetime
) -> bool:
    """Overdue, unstarted work not already moved since it became overdue."""
    if state is not S.READY or not is_overdue(state, due_at, now):
        return False
    assert due_at is not None
    return reassigned_at is None or as_utc(reassigned_at) < as_utc(due_at)

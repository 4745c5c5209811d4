"""The staged-workflow state machine (domain/stages.py): the documented table, what an action does to
a whole unit, the Clarifai-side statuses, stages and deadlines — and, by property, that random action
sequences keep every unit consistent with a history that replays to its states."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as hs

from labeldesk.domain import errors
from labeldesk.domain import stages as st
from labeldesk.domain.stages import Action, State, Step

W, R, P, S, AC, RJ = (
    State.WAITING,
    State.READY,
    State.IN_PROGRESS,
    State.SUBMITTED,
    State.ACCEPTED,
    State.REJECTED,
)
NOW = datetime(2030, 1, 1, 12, tzinfo=timezone.utc)

# (from, action) -> to: the table of the module docstring, written out independently
EXPECTED = {
    (R, Action.START): P,
    (R, Action.SUBMIT): S,
    (P, Action.SUBMIT): S,
    (R, Action.ACCEPT): AC,
    (P, Action.ACCEPT): AC,
    (R, Action.REJECT): RJ,
    (P, Action.REJECT): RJ,
    (W, Action.OPEN): R,
    (RJ, Action.OPEN): R,
    (S, Action.APPROVE): AC,
    (S, Action.SEND_BACK): R,
    (AC, Action.SEND_BACK): R,
    (S, Action.RESET): W,
    (AC, Action.RESET): W,
    (RJ, Action.RESET): W,
    (W, Action.ASSIGN): W,
    (R, Action.ASSIGN): R,
    (P, Action.ASSIGN): R,
    (RJ, Action.ASSIGN): RJ,
}


def test_the_table_is_exactly_the_documented_transitions() -> None:
    assert dict(st.TRANSITIONS) == EXPECTED


@pytest.mark.parametrize(("state", "action", "stage"), list(itertools.product(State, Action, (0, 1))))
def test_every_pair_is_allowed_or_refused_naming_state_and_allowed_actions(
    state: State, action: Action, stage: int
) -> None:
    review_only_on_first = action in st.REVIEW_ONLY and stage == 0
    if (state, action) in EXPECTED and not review_only_on_first:
        assert st.next_state(state, action, stage) is EXPECTED[(state, action)]
        return
    with pytest.raises(st.IllegalTransition) as e:
        st.next_state(state, action, stage, subject="task 't1' (QA)")
    assert e.value.code == st.CONFLICT
    message = e.value.description
    assert f"task 't1' (QA) is {state.value}: {action.value} is not possible" in message
    allowed = [a.value for a in st.allowed_actions(state, stage)]
    assert message.endswith("allowed actions: " + (", ".join(allowed) or "none"))
    assert e.value.details, "says what to do instead"


@pytest.mark.parametrize(
    ("state", "stage", "expected"),
    [
        (R, 0, ["start", "submit"]),
        (P, 0, ["submit"]),
        (R, 1, ["start", "submit", "accept", "reject"]),
        (P, 1, ["submit", "accept", "reject"]),
        (W, 1, []),
        (S, 0, []),
        (AC, 1, []),
        (RJ, 1, []),
    ],
)
def test_allowed_actions(state: State, stage: int, expected: list[str]) -> None:
    assert [a.value for a in st.allowed_actions(state, stage)] == expected


@pytest.mark.parametrize(
    ("states", "stage", "action", "expected"),
    [
        # two stages: Labelling → QA
        ([R, W], 0, Action.START, [Step(0, Action.START, R, P)]),
        ([R, W], 0, Action.SUBMIT, [Step(0, Action.SUBMIT, R, S), Step(1, Action.OPEN, W, R)]),
        ([S, R], 1, Action.ACCEPT, [Step(1, Action.ACCEPT, R, AC), Step(0, Action.APPROVE, S, AC)]),
        ([S, P], 1, Action.REJECT, [Step(1, Action.REJECT, P, RJ), Step(0, Action.SEND_BACK, S, R)]),
        ([R, RJ], 0, Action.SUBMIT, [Step(0, Action.SUBMIT, R, S), Step(1, Action.OPEN, RJ, R)]),
        ([S, R], 1, Action.SUBMIT, [Step(1, Action.SUBMIT, R, S)]),
        # three stages: Labelling → Review → QA
        (
            [S, R, W],
            1,
            Action.ACCEPT,
            [Step(1, Action.ACCEPT, R, AC), Step(2, Action.OPEN, W, R), Step(0, Action.APPROVE, S, AC)],
        ),
        (
            [AC, AC, R],
            2,
            Action.REJECT,
            [Step(2, Action.REJECT, R, RJ), Step(0, Action.SEND_BACK, AC, R), Step(1, Action.RESET, AC, W)],
        ),
        ([AC, AC, R], 2, Action.ACCEPT, [Step(2, Action.ACCEPT, R, AC)]),
        # QA rejects resubmitted work while QA2 is still Rejected from the round before: QA2 waits again
        (
            [S, R, RJ],
            1,
            Action.REJECT,
            [Step(1, Action.REJECT, R, RJ), Step(0, Action.SEND_BACK, S, R), Step(2, Action.RESET, RJ, W)],
        ),
        # one stage: submitting completes the unit
        ([R], 0, Action.SUBMIT, [Step(0, Action.SUBMIT, R, S)]),
    ],
)
def test_plan(states: list[State], stage: int, action: Action, expected: list[Step]) -> None:
    assert st.plan(states, stage, action) == expected
    after = st.apply(states, expected)
    assert st.is_consistent(after)


@pytest.mark.parametrize(
    ("states", "stage", "action"),
    [
        ([R, W], 1, Action.START),  # QA waits for labelling
        ([R, W], 0, Action.ACCEPT),  # the first stage is never accepted by its own task
        ([S, R], 0, Action.SUBMIT),  # handed in already
        ([AC, AC], 1, Action.REJECT),  # the unit is complete
    ],
)
def test_plan_refuses(states: list[State], stage: int, action: Action) -> None:
    with pytest.raises(st.IllegalTransition):
        st.plan(states, stage, action)


@pytest.mark.parametrize(
    ("action", "stage", "count", "expected"),
    [
        (Action.SUBMIT, 0, 2, "ANNOTATION_AWAITING_REVIEW"),
        (Action.SUBMIT, 0, 1, "ANNOTATION_SUCCESS"),
        (Action.ACCEPT, 1, 2, "ANNOTATION_SUCCESS"),
        (Action.SUBMIT, 1, 2, "ANNOTATION_SUCCESS"),
        (Action.ACCEPT, 1, 3, None),  # still awaiting the last stage
        (Action.REJECT, 1, 2, "ANNOTATION_PENDING"),
        (Action.REJECT, 2, 3, "ANNOTATION_PENDING"),
        (Action.START, 0, 2, None),
    ],
)
def test_annotation_status_after(action: Action, stage: int, count: int, expected: str | None) -> None:
    assert st.annotation_status_after(action, stage, count) == expected


# Labelling → QA → QA2: QA2 rejects, Labelling resubmits, QA rejects (issue 12: this ended
# [Ready, Rejected, Rejected], two stages claiming to have sent the unit back)
THREE_STAGE_REJECTS = [
    (0, Action.SUBMIT, [S, R, W]),
    (1, Action.ACCEPT, [AC, AC, R]),
    (2, Action.REJECT, [R, W, RJ]),
    (0, Action.SUBMIT, [S, R, RJ]),
    (1, Action.REJECT, [R, RJ, W]),
    (0, Action.SUBMIT, [S, R, W]),
    (1, Action.ACCEPT, [AC, AC, R]),
    (2, Action.ACCEPT, [AC, AC, AC]),
]


def test_a_later_rejection_is_cleared_when_an_earlier_stage_rejects() -> None:
    states = [R, W, W]
    for stage, action, expected in THREE_STAGE_REJECTS:
        states = st.apply(states, st.plan(states, stage, action))
        assert states == expected, (stage, action)
        assert st.is_consistent(states)
    assert st.is_complete(states)


def test_consistency() -> None:
    assert st.is_consistent([R, W, W])
    assert st.is_consistent([S, AC, R])
    assert st.is_consistent([R, W, RJ])
    assert st.is_consistent([S, AC, S])
    assert not st.is_consistent([R, R])
    assert not st.is_consistent([W, R])
    assert not st.is_consistent([R, RJ, RJ])
    assert not st.is_consistent([S, W])


# ------------------------------------------------------------------------------- stages, deadlines


def test_parse_stages_accepts_names_and_objects() -> None:
    specs = st.parse_stages(
        [
            "Labelling",
            {"name": " Review ", "due_in_hours": 24},
            {"name": "QA", "due_at": "2030-01-31T12:00:00Z"},
        ]
    )
    assert [s.name for s in specs] == ["Labelling", "Review", "QA"]
    assert specs[1].due_in_hours == 24.0
    assert specs[2].due_at == datetime(2030, 1, 31, 12, tzinfo=timezone.utc)
    assert st.stages_from_json([s.to_json() for s in specs]) == specs


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ([], "non-empty list"),
        ("Labelling", "non-empty list"),
        (["A", "a"], "appears twice"),
        ([""], "stage name"),
        ([{"name": "A", "due_in_hours": -1}], "positive number"),
        ([{"name": "A", "due_in_hours": True}], "positive number"),
        ([{"name": "A", "due_at": "tomorrow"}], "ISO 8601"),
        ([{"name": "A", "due_in_hours": 1e300}], "stages[0].due_in_hours: give a positive number"),
        ([{"name": "A", "due_in_hours": 10**400}], "stages[0].due_in_hours: give a positive number"),
        ([{"name": "A", "due_in_hours": float("inf")}], "up to 878400"),
        (
            [{"name": "A", "due_at": "0001-01-01T00:00:00+05:00"}],
            "stages[0].due_at: '0001-01-01T00:00:00+05:00' is out",
        ),
        (
            [{"name": "A", "due_at": "9999-12-31T23:00:00-05:00"}],
            "stages[0].due_at: '9999-12-31T23:00:00-05:00' is out",
        ),
        ([{"name": "A", "due_at": "2030-01-01", "due_in_hours": 1}], "not both"),
        ([{"name": "A", "colour": "red"}], "unknown field"),
        ([str(i) for i in range(21)], "at most 20"),
    ],
)
def test_parse_stages_says_what_is_wrong(value: object, text: str) -> None:
    with pytest.raises(errors.ApiError) as e:
        st.parse_stages(value)
    assert e.value.code == errors.INVALID_REQUEST
    assert text in e.value.description


def test_parse_time_and_state() -> None:
    assert st.parse_time("2030-01-01T10:00:00+02:00", "x") == datetime(2030, 1, 1, 8, tzinfo=timezone.utc)
    assert st.parse_time("2030-01-01T10:00:00", "x") == datetime(2030, 1, 1, 10, tzinfo=timezone.utc)
    assert st.parse_time(None, "x") is None
    assert st.format_time(datetime(2030, 1, 1, 8, tzinfo=timezone.utc)) == "2030-01-01T08:00:00Z"
    assert st.parse_state("in_progress") is P and st.parse_state("ACCEPTED") is AC
    with pytest.raises(errors.ApiError, match="not a task state"):
        st.parse_state("Done")


def test_stage_index() -> None:
    specs = st.default_stages()
    assert st.stage_index(specs, "qa") == 1
    with pytest.raises(errors.ApiError) as e:
        st.stage_index(specs, "Review")
    assert "Labelling, QA" in e.value.details


def test_effective_due_and_overdue() -> None:
    later = NOW + timedelta(days=1)
    relative = st.StageSpec("L", due_in_hours=2)
    assert st.effective_due(later, relative, NOW) == later  # the unit's own due time wins
    assert st.effective_due(None, st.StageSpec("L", due_at=later), None) == later
    assert st.effective_due(None, relative, NOW) == NOW + timedelta(hours=2)
    assert st.effective_due(None, relative, None) is None  # not Ready yet
    # stored before due_in_hours was capped: no due time rather than a failure on every transition
    assert st.effective_due(None, st.StageSpec("L", due_in_hours=1e300), NOW) is None
    assert st.effective_due(None, st.StageSpec("L", due_in_hours=st.MAX_DUE_HOURS), NOW) is not None
    assert st.is_overdue(R, NOW - timedelta(seconds=1), NOW)
    assert not st.is_overdue(S, NOW - timedelta(days=1), NOW)
    assert not st.is_overdue(R, None, NOW)


def test_least_loaded_breaks_ties_by_email_and_skips_the_current_assignee() -> None:
    c = [st.Candidate("u1", "b@x", 1), st.Candidate("u2", "a@x", 1), st.Candidate("u3", "c@x", 0)]
    assert st.least_loaded(c, exclude="u3") == c[1]
    assert st.least_loaded(c, exclude="u1") == c[2]
    assert st.least_loaded([c[0]], exclude="u1") is None


def test_may_auto_reassign_moves_overdue_ready_work_once_per_due_time() -> None:
    due = NOW - timedelta(hours=1)
    assert st.may_auto_reassign(R, due, None, NOW)
    assert not st.may_auto_reassign(P, due, None, NOW)  # started work stays
    assert not st.may_auto_reassign(R, NOW + timedelta(hours=1), None, NOW)
    assert not st.may_auto_reassign(R, due, NOW - timedelta(minutes=5), NOW)  # moved already
    assert st.may_auto_reassign(R, due, due - timedelta(days=1), NOW)  # moved before an older due


# ------------------------------------------------------------------------------- properties

ACTIONS = [*st.CALLER_ACTIONS, Action.ASSIGN]


@settings(max_examples=300, deadline=None)
@given(
    count=hs.integers(min_value=1, max_value=4),
    moves=hs.lists(hs.tuples(hs.integers(min_value=0, max_value=3), hs.sampled_from(ACTIONS)), max_size=40),
)
@example(count=3, moves=[(s, a) for s, a, _ in THREE_STAGE_REJECTS])
def test_random_actions_never_reach_an_illegal_state(count: int, moves: list[tuple[int, Action]]) -> None:
    initial = [R] + [W] * (count - 1)
    states = list(initial)
    history: list[Step] = []
    accepted = 0
    for stage, action in moves:
        stage %= count
        if action in st.CALLER_ACTIONS:  # the advertised actions are exactly the possible ones
            possible = action in st.allowed_actions(states[stage], stage)
        else:
            possible = (states[stage], action) in st.TRANSITIONS
        try:
            steps = st.plan(states, stage, action)
        except st.IllegalTransition as e:
            assert not possible
            assert states[stage].value in e.description
            continue
        assert possible
        states = st.apply(states, steps)
        history += steps
        accepted += len(steps)
        assert st.is_consistent(states), (states, steps)
    assert len(history) == accepted
    # the history replays, task by task, from the initial states to the current ones
    for stage in range(count):
        state = initial[stage]
        for step in (h for h in history if h.stage == stage):
            assert step.before is state
            assert st.TRANSITIONS[(step.before, step.action)] is step.after
            state = step.after
        assert state is states[stage]


@settings(max_examples=100, deadline=None)
@given(count=hs.integers(min_value=1, max_value=4), rejects=hs.lists(hs.booleans(), max_size=6))
def test_a_unit_always_completes_when_every_review_accepts_at_last(count: int, rejects: list[bool]) -> None:
    """Whatever the rejections on the way, submitting and accepting stage by stage completes a unit."""
    states = [R] + [W] * (count - 1)
    pending = list(rejects)
    stage = 0
    while not st.is_complete(states):
        if stage == 0:
            action = Action.SUBMIT
        elif pending and pending.pop(0):
            action = Action.REJECT
        else:
            action = Action.ACCEPT
        states = st.apply(states, st.plan(states, stage, action))
        stage = 0 if action is Action.REJECT else stage + 1
    assert all(s in st.DONE for s in states)

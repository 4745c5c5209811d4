"""Review and consensus state: per-input decisions, per-labeler agreement scores, reviewer votes,
and the log of reviewer actions.

Callers hold the row locks of the input's seats (``repos/assignments.seats_of_input``) while they
read and write an input's rows here, so one input is decided by one transaction at a time and the
read-then-write upserts below cannot race.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any, NamedTuple

from sqlalchemy import Connection, Row, and_, case, delete, func, insert, select, update

from labeldesk.storage import tables as t
from labeldesk.storage.clock import utcnow

R = t.task_input_reviews.c
S = t.task_labeler_scores.c
V = t.task_review_votes.c
L = t.task_review_log.c
T = t.tasks.c

WAITING, AGREED, REVIEW, APPROVED, REJECTED = "waiting", "agreed", "review", "approved", "rejected"
_CHUNK = 500


class Evaluation(NamedTuple):
    """One consensus evaluation of an input, as stored."""

    state: str
    reached: bool
    input_score: float
    threshold: int
    agreeing: Sequence[str]
    groups: Sequence[Sequence[str]]
    labeler_scores: Mapping[str, float]


# --------------------------------------------------------------------------- per-input decisions


def input_review(conn: Connection, task_pk: int, input_pk: int) -> Row[Any] | None:
    return conn.execute(
        select(t.task_input_reviews).where(R.task_pk == task_pk, R.input_pk == input_pk)
    ).first()


def save_evaluation(conn: Connection, task_pk: int, input_pk: int, ev: Evaluation) -> None:
    """Store an evaluation of the input (a re-evaluation replaces the decision and counts a round)
    and the scores of the labelers evaluated (other labelers' earlier scores stay)."""
    now = utcnow()
    values: dict[str, Any] = {
        "state": ev.state,
        "reached": ev.reached,
        "input_score": ev.input_score,
        "threshold": ev.threshold,
        "agreeing": sorted(ev.agreeing),
        "groups": [sorted(g) for g in ev.groups],
        "approved_version": None,
        "evaluated_at": now,
        "modified_at": now,
    }
    key = (R.task_pk == task_pk, R.input_pk == input_pk)
    if input_review(conn, task_pk, input_pk) is None:
        conn.execute(
            insert(t.task_input_reviews).values(task_pk=task_pk, input_pk=input_pk, rounds=1, **values)
        )
    else:
        conn.execute(update(t.task_input_reviews).where(*key).values(rounds=R.rounds + 1, **values))
    workers = list(ev.labeler_scores)
    conn.execute(
        delete(t.task_labeler_scores).where(
            S.task_pk == task_pk, S.input_pk == input_pk, S.worker_id.in_(workers)
        )
    )
    if workers:
        conn.execute(
            insert(t.task_labeler_scores),
            [
                {
                    "task_pk": task_pk,
                    "input_pk": input_pk,
                    "worker_id": w,
                    "score": score,
                    "reached": ev.reached,
                    "agreed": w in ev.agreeing,
                    "modified_at": now,
                }
                for w, score in ev.labeler_scores.items()
            ],
        )


def set_state(
    conn: Connection, task_pk: int, input_pk: int, state: str, approved_version: str | None = None
) -> None:
    """Move an evaluated input to ``state`` (no-op for an input never evaluated)."""
    conn.execute(
        update(t.task_input_reviews)
        .where(R.task_pk == task_pk, R.input_pk == input_pk)
        .values(state=state, approved_version=approved_version, modified_at=utcnow())
    )


def inputs_in_state(conn: Connection, task_pk: int, state: str) -> list[int]:
    """The task's evaluated inputs in ``state``, in pk order."""
    q = select(R.input_pk).where(R.task_pk == task_pk, R.state == state).order_by(R.input_pk)
    return [int(p) for p in conn.execute(q).scalars()]


# --------------------------------------------------------------------------- votes


def voted_subjects(conn: Connection, task_pk: int) -> list[tuple[int, str]]:
    """(input pk, subject) of every piece of the task's work with votes cast and not yet decided
    (a decided tally forgets its votes)."""
    q = select(V.input_pk, V.subject).where(V.task_pk == task_pk).distinct().order_by(V.input_pk, V.subject)
    return [(int(i), str(sub)) for i, sub in conn.execute(q)]


def cast_vote(
    conn: Connection, task_pk: int, input_pk: int, subject: str, reviewer_id: str, approve: bool, version: str
) -> None:
    """Record the reviewer's vote on ``subject`` of the input, replacing an earlier one."""
    conn.execute(
        delete(t.task_review_votes).where(
            V.task_pk == task_pk, V.input_pk == input_pk, V.subject == subject, V.reviewer_id == reviewer_id
        )
    )
    conn.execute(
        insert(t.task_review_votes).values(
            task_pk=task_pk,
            input_pk=input_pk,
            subject=subject,
            reviewer_id=reviewer_id,
            approve=approve,
            version=version,
            created_at=utcnow(),
        )
    )


def votes(conn: Connection, task_pk: int, input_pk: int, subject: str) -> list[Row[Any]]:
    q = select(V.reviewer_id, V.approve, V.version).where(
        V.task_pk == task_pk, V.input_pk == input_pk, V.subject == subject
    )
    return list(conn.execute(q.order_by(V.reviewer_id)))


def clear_votes(conn: Connection, task_pk: int, input_pk: int, subjects: Collection[str]) -> None:
    """Forget the votes on these subjects of the input (the work was decided or sent back)."""
    conn.execute(
        delete(t.task_review_votes).where(
            V.task_pk == task_pk, V.input_pk == input_pk, V.subject.in_(list(subjects))
        )
    )


# --------------------------------------------------------------------------- review log


def log_reviews(
    conn: Connection, task_pk: int, reviewer_id: str, action: str, input_pks: Sequence[int]
) -> None:
    """Record that the reviewer took ``action`` on each of the inputs, in one batched INSERT."""
    if not input_pks:
        return
    now = utcnow()
    conn.execute(
        insert(t.task_review_log),
        [
            {
                "task_pk": task_pk,
                "input_pk": p,
                "reviewer_id": reviewer_id,
                "action": action,
                "created_at": now,
            }
            for p in input_pks
        ],
    )


def reviewed_inputs(conn: Connection, task_pk: int, actions: Collection[str]) -> dict[str, set[int]]:
    """Per reviewer, the inputs of the task they took one of ``actions`` on, each once (one grouped
    query, answered from the covering index ``ix_task_review_log_task_reviewer``)."""
    q = (
        select(L.reviewer_id, L.input_pk)
        .where(L.task_pk == task_pk, L.action.in_(sorted(actions)))
        .group_by(L.reviewer_id, L.input_pk)
    )
    out: dict[str, set[int]] = {}
    for reviewer_id, input_pk in conn.execute(q):
        out.setdefault(reviewer_id, set()).add(int(input_pk))
    return out


# --------------------------------------------------------------------------- reading for the API


def for_annotations(
    conn: Connection, app_pk: int, task_ids: Collection[str], input_pks: Collection[int]
) -> tuple[dict[tuple[str, int], Row[Any]], dict[tuple[str, int, str], float]]:
    """The decisions of the given tasks (by id) on the given inputs, by ``(task id, input pk)``, and
    the labelers' scores by ``(task id, input pk, worker id)``."""
    decisions: dict[tuple[str, int], Row[Any]] = {}
    scores: dict[tuple[str, int, str], float] = {}
    if not task_ids or not input_pks:
        return decisions, scores
    pks = sorted(input_pks)
    for start in range(0, len(pks), _CHUNK):
        chunk = pks[start : start + _CHUNK]
        tasks = and_(T.app_pk == app_pk, T.id.in_(list(task_ids)))
        q = (
            select(T.id.label("task_id"), t.task_input_reviews)
            .join(t.tasks, T.pk == R.task_pk)
            .where(tasks, R.input_pk.in_(chunk))
        )
        decisions.update({(r.task_id, int(r.input_pk)): r for r in conn.execute(q)})
        q2 = (
            select(T.id.label("task_id"), S.input_pk, S.worker_id, S.score)
            .join(t.tasks, T.pk == S.task_pk)
            .where(tasks, S.input_pk.in_(chunk))
        )
        scores.update({(r.task_id, int(r.input_pk), r.worker_id): float(r.score) for r in conn.execute(q2)})
    return decisions, scores


def labeler_summary(conn: Connection, task_pk: int) -> list[Row[Any]]:
    """Per labeler of the task: inputs compared, mean score, and how often the labeler was in the
    agreeing group, outvoted by it, or on an input without consensus; lowest mean score first."""

    def count(cond: Any) -> Any:
        return func.sum(case((cond, 1), else_=0))

    q = (
        select(
            S.worker_id,
            func.count().label("inputs"),
            func.avg(S.score).label("mean_score"),
            func.min(S.score).label("min_score"),
            count(S.agreed).label("agreed"),
            count(and_(S.reached, ~S.agreed)).label("outvoted"),
            count(~S.reached).label("no_consensus"),
        )
        .where(S.task_pk == task_pk)
        .group_by(S.worker_id)
        .order_by(func.avg(S.score), S.worker_id)
    )
    return list(conn.execute(q))


def input_summary(conn: Connection, task_pk: int) -> dict[str, Any]:
    """How many of the task's inputs are in each review state, and their mean agreement score."""
    q = select(R.state, func.count(), func.avg(R.input_score)).where(R.task_pk == task_pk).group_by(R.state)
    by_state: dict[str, int] = {}
    total, weighted = 0, 0.0
    for state, n, mean in conn.execute(q):
        by_state[state] = int(n)
        total += int(n)
        weighted += float(mean or 0.0) * int(n)
    reached = conn.execute(select(func.count()).where(R.task_pk == task_pk, R.reached.is_(True))).scalar_one()
    return {
        "evaluated": total,
        "reached": int(reached),
        "mean_score": weighted / total if total else None,
        "states": by_state,
    }

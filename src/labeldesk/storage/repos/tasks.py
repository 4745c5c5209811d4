"""Task rows, their users (workers / reviewers), the inputs a task's source selects, and the
per-task annotation counts the task RPCs report."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, Select, bindparam, delete, func, insert, select, update

from labeldesk.storage import tables as t
from labeldesk.storage.clock import utcnow

T = t.tasks.c
TU = t.task_users.c
A = t.annotations.c
TA = t.task_assignments.c
I = t.inputs.c  # noqa: E741 - the inputs table's columns, as elsewhere

#: ``domain/statuses.OPEN``: a DYNAMIC seat nobody holds (not a worker's work)
OPEN_SEAT = 0
WORKER = "worker"
REVIEWER = "reviewer"


@dataclass(frozen=True)
class TaskUser:
    user_id: str
    role: str
    weight: float = 1.0


# --------------------------------------------------------------------------- tasks


def by_ids(conn: Connection, app_pk: int, ids: Collection[str]) -> dict[str, Row[Any]]:
    if not ids:
        return {}
    q = select(t.tasks).where(T.app_pk == app_pk, T.id.in_(list(ids)))
    return {r.id: r for r in conn.execute(q)}


def by_id(conn: Connection, app_pk: int, task_id: str) -> Row[Any] | None:
    return conn.execute(_BY_ID, {"app_pk": app_pk, "id": task_id}).first()


# built once: every work-queue call loads its task (docs/performance.md)
_BY_ID = select(t.tasks).where(T.app_pk == bindparam("app_pk"), T.id == bindparam("id"))


def insert_one(conn: Connection, app_pk: int, values: dict[str, Any]) -> int:
    ts = utcnow()
    res = conn.execute(insert(t.tasks).values(app_pk=app_pk, created_at=ts, modified_at=ts, **values))
    pk = res.inserted_primary_key
    assert pk is not None
    return int(pk[0])


def update_one(conn: Connection, pk: int, values: dict[str, Any]) -> None:
    conn.execute(update(t.tasks).where(T.pk == pk).values(modified_at=utcnow(), **values))


def delete_pks(conn: Connection, pks: Collection[int]) -> None:
    """Delete tasks with their ``task_users`` and ``task_assignments`` (explicitly, not relying on
    the FK cascade). Annotations keep their ``task_id`` (see services/tasks.py, DeleteTasks)."""
    pk_list = list(pks)
    if pk_list:
        conn.execute(delete(t.task_users).where(TU.task_pk.in_(pk_list)))
        conn.execute(delete(t.task_assignments).where(TA.task_pk.in_(pk_list)))
        conn.execute(delete(t.tasks).where(T.pk.in_(pk_list)))


@dataclass(frozen=True)
class TaskFilter:
    """What ListTasks filters on; empty fields do not filter."""

    ids: Sequence[str] = ()
    worker_user_ids: Sequence[str] = ()
    review_user_ids: Sequence[str] = ()
    input_source_type: int = 0
    input_source_ids: Sequence[str] = ()
    label_order_ids: Sequence[str] = ()


def _has_user(role: str, user_ids: Sequence[str]) -> Any:
    return T.pk.in_(select(TU.task_pk).where(TU.role == role, TU.user_id.in_(list(user_ids))))


def page_query(app_pk: int, f: TaskFilter) -> Select[Any]:
    """Tasks of an app matching ``f``, oldest first."""
    q = select(t.tasks).where(T.app_pk == app_pk)
    if f.ids:
        q = q.where(T.id.in_(list(f.ids)))
    if f.worker_user_ids:
        q = q.where(_has_user(WORKER, f.worker_user_ids))
    if f.review_user_ids:
        q = q.where(_has_user(REVIEWER, f.review_user_ids))
    if f.input_source_type:
        q = q.where(T.input_source_type == f.input_source_type)
    if f.input_source_ids:
        q = q.where(T.input_source_id.in_(list(f.input_source_ids)))
    if f.label_order_ids:
        q = q.where(T.label_order_id.in_(list(f.label_order_ids)))
    return q.order_by(T.pk)


# --------------------------------------------------------------------------- task users


def replace_users(conn: Connection, task_pk: int, users: Sequence[TaskUser]) -> None:
    conn.execute(delete(t.task_users).where(TU.task_pk == task_pk))
    if users:
        conn.execute(
            insert(t.task_users),
            [{"task_pk": task_pk, "user_id": u.user_id, "role": u.role, "weight": u.weight} for u in users],
        )


# --------------------------------------------------------------------------- input sources


def all_input_pks(conn: Connection, app_pk: int) -> list[int]:
    return list(conn.execute(select(I.pk).where(I.app_pk == app_pk).order_by(I.pk)).scalars())


def input_pks_in(conn: Connection, app_pk: int, subquery: Select[Any]) -> list[int]:
    """Input pks of the app that ``subquery`` (a one-column select of input pks) selects, oldest first."""
    q = select(I.pk).where(I.app_pk == app_pk, I.pk.in_(subquery)).order_by(I.pk)
    return list(conn.execute(q).scalars())


def input_pk_of(conn: Connection, app_pk: int, input_id: str) -> list[int]:
    return list(conn.execute(select(I.pk).where(I.app_pk == app_pk, I.id == input_id)).scalars())


# --------------------------------------------------------------------------- task annotations


def _task_annotations(app_pk: int, task_id: str) -> Any:
    # people's work only: a model's annotations (auto-annotations, pre-labels) are nobody's progress
    return (
        (A.app_pk == app_pk) & (A.task_id == task_id) & A.input_level.is_(False) & (A.model_version_id == "")
    )


def annotation_counts(
    conn: Connection, app_pk: int, task_id: str, user_ids: Sequence[str] = ()
) -> dict[str, dict[int, int]]:
    """user id → annotation status → number of the task's annotations (``annotations.task_id``)."""
    q = select(A.user_id, A.status, func.count()).where(_task_annotations(app_pk, task_id))
    if user_ids:
        q = q.where(A.user_id.in_(list(user_ids)))
    out: dict[str, dict[int, int]] = {}
    for user_id, status, n in conn.execute(q.group_by(A.user_id, A.status)):
        out.setdefault(user_id, {})[int(status)] = int(n)
    return out


def annotation_states(
    conn: Connection, app_pk: int, task_id: str, user_ids: Sequence[str] = ()
) -> list[tuple[int, str, int]]:
    """Distinct (input pk, user id, annotation status) of the task's annotations."""
    q = select(A.input_pk, A.user_id, A.status).where(_task_annotations(app_pk, task_id))
    if user_ids:
        q = q.where(A.user_id.in_(list(user_ids)))
    return [(int(p), u, int(s)) for p, u, s in conn.execute(q.distinct())]


def assignment_states(
    conn: Connection, task_pk: int, user_ids: Sequence[str] = ()
) -> list[tuple[int, str, int]]:
    """(input pk, worker id, status) of the task's assignment queue (written by the assignment engine)."""
    q = select(TA.input_pk, TA.worker_id, TA.status).where(
        TA.task_pk == task_pk, TA.worker_id != "", TA.status != OPEN_SEAT
    )
    if user_ids:
        q = q.where(TA.worker_id.in_(list(user_ids)))
    return [(int(p), u, int(s)) for p, u, s in conn.execute(q)]


def annotations_on(
    conn: Connection, app_pk: int, task_id: str, input_pks: Sequence[int], user_ids: Sequence[str] = ()
) -> list[Row[Any]]:
    """The task's annotations on ``input_pks`` (of ``user_ids`` if given) with their ``input_id``,
    oldest first."""
    out: list[Row[Any]] = []
    joined = t.annotations.join(t.inputs, I.pk == A.input_pk)
    for i in range(0, len(input_pks), 500):
        q = (
            select(t.annotations, I.id.label("input_id"))
            .select_from(joined)
            .where(_task_annotations(app_pk, task_id), A.input_pk.in_(input_pks[i : i + 500]))
        )
        if user_ids:
            q = q.where(A.user_id.in_(list(user_ids)))
        out.extend(conn.execute(q.order_by(A.pk)))
    return out


def input_ids_of(conn: Connection, input_pks: Sequence[int]) -> dict[int, str]:
    out: dict[int, str] = {}
    for i in range(0, len(input_pks), 500):
        q = select(I.pk, I.id).where(I.pk.in_(input_pks[i : i + 500]))
        out.update({int(pk): iid for pk, iid in conn.execute(q)})
    return out


def set_annotation_status(
    conn: Connection,
    app_pk: int,
    task_id: str,
    user_ids: Sequence[str],
    from_statuses: Collection[int],
    to_status: int,
) -> tuple[list[str], int]:
    """Move the task's annotations of ``user_ids`` (all users if empty) whose status is in
    ``from_statuses`` (any if empty) to ``to_status``; answer the users concerned and the count."""
    cond = _task_annotations(app_pk, task_id)
    if user_ids:
        cond = cond & A.user_id.in_(list(user_ids))
    if from_statuses:
        cond = cond & A.status.in_(list(from_statuses))
    users = sorted(conn.execute(select(A.user_id).where(cond).distinct()).scalars())
    res = conn.execute(update(t.annotations).where(cond).values(status=to_status, modified_at=utcnow()))
    return users, int(res.rowcount)


# --------------------------------------------------------------------------- users


def users_info(conn: Connection, user_ids: Collection[str]) -> list[Row[Any]]:
    if not user_ids:
        return []
    return list(conn.execute(select(t.users).where(t.users.c.id.in_(list(user_ids)))))

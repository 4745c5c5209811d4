"""Task rows, their users (workers / reviewers), the inputs a task's source selects, and the
per-task annotation counts the task RPCs report."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, Select, Table, delete, func, insert, select, update

from labeldesk.storage import tables as t
from labeldesk.storage.clock import utcnow

T = t.tasks.c
TU = t.task_users.c
# ``tables.annotations`` is shadowed for type checkers by ``from __future__ import annotations``
ANNOTATIONS: Table = t.metadata.tables["annotations"]
A = ANNOTATIONS.c
I = t.inputs.c  # noqa: E741 - the inputs table's columns, as elsewhere

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
    return conn.execute(select(t.tasks).where(T.app_pk == app_pk, T.id == task_id)).first()


def insert_one(conn: Connection, app_pk: int, values: dict[str, Any]) -> int:
    ts = utcnow()
    res = conn.execute(insert(t.tasks).values(app_pk=app_pk, created_at=ts, modified_at=ts, **values))
    pk = res.inserted_primary_key
    assert pk is not None
    return int(pk[0])


def update_one(conn: Connection, pk: int, values: dict[str, Any]) -> None:
    conn.execute(update(t.tasks).where(T.pk == pk).values(modified_at=utcnow(), **values))


def delete_pks(conn: Connection, pks: Collection[int]) -> None:
    """Delete tasks; their ``task_users`` and ``task_assignments`` go with them (FK cascade).
    Annotations keep their ``task_id`` (see services/tasks.py, DeleteTasks)."""
    pk_list = list(pks)
    if pk_list:
        conn.execute(delete(t.task_users).where(TU.task_pk.in_(pk_list)))
        conn.execute(delete(t.task_assignments).where(t.task_assignments.c.task_pk.in_(pk_list)))
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
    include_label_order_tasks: bool = True


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
    elif not f.include_label_order_tasks:
        q = q.where(T.label_order_id == "")
    return q.order_by(T.pk)


# --------------------------------------------------------------------------- task users


def replace_users(conn: Connection, task_pk: int, users: Sequence[TaskUser]) -> None:
    conn.execute(delete(t.task_users).where(TU.task_pk == task_pk))
    if users:
        conn.execute(
            insert(t.task_users),
            [{"task_pk": task_pk, "user_id": u.user_id, "role": u.role, "weight": u.weight} for u in users],
        )


def users_of(conn: Connection, task_pk: int) -> list[TaskUser]:
    q = select(TU.user_id, TU.role, TU.weight).where(TU.task_pk == task_pk).order_by(TU.role, TU.user_id)
    return [TaskUser(r.user_id, r.role, r.weight) for r in conn.execute(q)]


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
    return (A.app_pk == app_pk) & (A.task_id == task_id) & A.input_level.is_(False)


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


def input_counts(
    conn: Connection, app_pk: int, task_id: str, user_ids: Sequence[str] = ()
) -> dict[str, dict[int, int]]:
    """user id → status → number of distinct inputs the user annotated in the task with that status."""
    distinct_inputs = func.count(func.distinct(A.input_pk))
    q = select(A.user_id, A.status, distinct_inputs).where(_task_annotations(app_pk, task_id))
    if user_ids:
        q = q.where(A.user_id.in_(list(user_ids)))
    out: dict[str, dict[int, int]] = {}
    for user_id, status, n in conn.execute(q.group_by(A.user_id, A.status)):
        out.setdefault(user_id, {})[int(status)] = int(n)
    return out


def annotated_input_pks(
    conn: Connection, app_pk: int, task_id: str, statuses: Collection[int] = ()
) -> dict[int, set[str]]:
    """input pk → users with an annotation of the task on it (optionally only in ``statuses``)."""
    q = select(A.input_pk, A.user_id).where(_task_annotations(app_pk, task_id))
    if statuses:
        q = q.where(A.status.in_(list(statuses)))
    out: dict[int, set[str]] = {}
    for input_pk, user_id in conn.execute(q.distinct()):
        out.setdefault(int(input_pk), set()).add(user_id)
    return out


def set_annotation_status(
    conn: Connection,
    app_pk: int,
    task_id: str,
    user_ids: Sequence[str],
    from_statuses: Collection[int],
    to_status: int,
) -> int:
    """Move the task's annotations of ``user_ids`` (all users if empty) whose status is in
    ``from_statuses`` (any if empty) to ``to_status``; answer how many rows changed."""
    cond = _task_annotations(app_pk, task_id)
    if user_ids:
        cond = cond & A.user_id.in_(list(user_ids))
    if from_statuses:
        cond = cond & A.status.in_(list(from_statuses))
    res = conn.execute(update(ANNOTATIONS).where(cond).values(status=to_status, modified_at=utcnow()))
    return int(res.rowcount)


def users_with_annotations(
    conn: Connection, app_pk: int, task_id: str, user_ids: Sequence[str], statuses: Collection[int]
) -> list[str]:
    cond = _task_annotations(app_pk, task_id)
    if user_ids:
        cond = cond & A.user_id.in_(list(user_ids))
    if statuses:
        cond = cond & A.status.in_(list(statuses))
    return sorted(conn.execute(select(A.user_id).where(cond).distinct()).scalars())

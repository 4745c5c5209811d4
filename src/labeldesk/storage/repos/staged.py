"""Rows of the staged workflow: dataset settings, classified frames, work units, tasks, history;
plus the one write the workflow makes to ``annotations`` (status and task id of a unit's work).

Row locking lives here: a transition locks the tasks of its unit (``SELECT ... FOR UPDATE`` on
PostgreSQL; SQLite write transactions are already serialised by ``BEGIN IMMEDIATE``), and unit
discovery locks the dataset's settings row so two replicas do not discover the same units twice
(inserts ignore duplicates anyway).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import (
    Connection,
    Row,
    Select,
    and_,
    bindparam,
    case,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)

from labeldesk.storage import tables as t
from labeldesk.storage.clock import utcnow
from labeldesk.storage.repos.multirow import insert_ignoring_duplicates

SD = t.staged_datasets.c
F = t.staged_frames.c
U = t.staged_units.c
T = t.staged_tasks.c
H = t.staged_task_history.c
A = t.annotations.c
CHUNK = 500  # stay under SQLite's bound-parameter limit
DONE_STATES = ("Submitted", "Accepted")
X = TypeVar("X")


def _chunks(items: Sequence[X]) -> Iterator[Sequence[X]]:
    for i in range(0, len(items), CHUNK):
        yield items[i : i + CHUNK]


# --------------------------------------------------------------------------- datasets, settings


def datasets_named(conn: Connection, dataset_id: str, app_pks: Collection[int]) -> list[Row[Any]]:
    """Datasets with this id in these apps, each with ``app_id`` and ``owner_id``."""
    if not app_pks:
        return []
    q = (
        select(t.datasets, t.apps.c.id.label("app_id"), t.apps.c.user_id.label("owner_id"))
        .select_from(t.datasets.join(t.apps, t.apps.c.pk == t.datasets.c.app_pk))
        .where(t.datasets.c.id == dataset_id, t.datasets.c.app_pk.in_(list(app_pks)))
        .order_by(t.datasets.c.pk)
    )
    return list(conn.execute(q))


def app_pks_of_owner(conn: Connection, owner_id: str) -> list[int]:
    return list(conn.execute(select(t.apps.c.pk).where(t.apps.c.user_id == owner_id)).scalars())


def settings(conn: Connection, dataset_pk: int, lock: bool = False) -> Row[Any] | None:
    q = select(t.staged_datasets).where(SD.dataset_pk == dataset_pk)
    return conn.execute(q.with_for_update() if lock else q).first()


def ensure_settings(conn: Connection, dataset_pk: int, app_pk: int, stages: list[dict[str, Any]]) -> Row[Any]:
    """The dataset's settings row, created with ``stages`` on first use, locked for this transaction."""
    insert_ignoring_duplicates(
        conn,
        t.staged_datasets,
        [
            {
                "dataset_pk": dataset_pk,
                "app_pk": app_pk,
                "stages": stages,
                "auto_reassign": False,
                "frame_attributes": False,
                "dataset_attributes": False,
                "modified_at": utcnow(),
            }
        ],
    )
    row = settings(conn, dataset_pk, lock=True)
    assert row is not None
    return row


def settings_of(conn: Connection, dataset_pks: Collection[int]) -> dict[int, Row[Any]]:
    if not dataset_pks:
        return {}
    q = select(t.staged_datasets).where(SD.dataset_pk.in_(list(dataset_pks)))
    return {r.dataset_pk: r for r in conn.execute(q)}


def update_settings(conn: Connection, dataset_pk: int, **values: Any) -> None:
    conn.execute(
        update(t.staged_datasets).where(SD.dataset_pk == dataset_pk).values(modified_at=utcnow(), **values)
    )


def auto_reassign_datasets(conn: Connection, app_pks: Collection[int]) -> list[int]:
    if not app_pks:
        return []
    q = select(SD.dataset_pk).where(SD.app_pk.in_(list(app_pks)), SD.auto_reassign.is_(True))
    return list(conn.execute(q).scalars())


# --------------------------------------------------------------------------- frames and units


def _dataset_input_pks(dataset_pk: int) -> Select[Any]:
    return select(t.dataset_inputs.c.input_pk).where(t.dataset_inputs.c.dataset_pk == dataset_pk)


def forget_departed(conn: Connection, dataset_pk: int) -> None:
    """Drop frames and units of inputs that left the dataset, and label units of sequences that
    have no frame left (their tasks and history go with them)."""
    members = _dataset_input_pks(dataset_pk)
    conn.execute(delete(t.staged_frames).where(F.dataset_pk == dataset_pk, F.input_pk.not_in(members)))
    conn.execute(
        delete(t.staged_units).where(
            U.dataset_pk == dataset_pk, U.input_pk.is_not(None), U.input_pk.not_in(members)
        )
    )
    sequences = select(F.sequence_id).where(F.dataset_pk == dataset_pk, F.sequence_id.is_not(None))
    conn.execute(
        delete(t.staged_units).where(
            U.dataset_pk == dataset_pk, U.kind == "label", U.sequence_id.not_in(sequences)
        )
    )


def unclassified_inputs(conn: Connection, dataset_pk: int) -> list[Row[Any]]:
    """Inputs of the dataset the workflow has not seen yet (pk, id, data, metadata), oldest first."""
    seen = select(F.input_pk).where(F.dataset_pk == dataset_pk, F.input_pk == t.inputs.c.pk)
    q = (
        select(t.inputs.c.pk, t.inputs.c.id, t.inputs.c.data, t.inputs.c.metadata)
        .where(t.inputs.c.pk.in_(_dataset_input_pks(dataset_pk)), ~exists(seen))
        .order_by(t.inputs.c.pk)
    )
    return list(conn.execute(q))


def insert_frames(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    insert_ignoring_duplicates(conn, t.staged_frames, rows)


def forget_frames(conn: Connection, dataset_pk: int) -> None:
    """Make every input of the dataset unseen again (a rescan after a settings change)."""
    conn.execute(delete(t.staged_frames).where(F.dataset_pk == dataset_pk))


def frames(conn: Connection, dataset_pk: int) -> list[Row[Any]]:
    """Every classified input of the dataset: ``input_pk``, ``input_id``, ``sequence_id``."""
    q = (
        select(F.input_pk, t.inputs.c.id.label("input_id"), F.sequence_id)
        .select_from(t.staged_frames.join(t.inputs, t.inputs.c.pk == F.input_pk))
        .where(F.dataset_pk == dataset_pk)
        .order_by(F.input_pk)
    )
    return list(conn.execute(q))


def sequence_frames(conn: Connection, dataset_pk: int, sequence_ids: Collection[str]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = defaultdict(list)
    for chunk in _chunks(list(sequence_ids)):
        q = (
            select(F.sequence_id, F.input_pk)
            .where(F.dataset_pk == dataset_pk, F.sequence_id.in_(chunk))
            .order_by(F.input_pk)
        )
        for seq, pk in conn.execute(q):
            out[seq].append(pk)
    return out


def sequence_annotations(conn: Connection, dataset_pk: int, since: datetime | None) -> list[Row[Any]]:
    """User-made annotations on the dataset's sequence frames changed since ``since`` (all when
    None): ``sequence_id`` and ``data``."""
    q = (
        select(F.sequence_id, A.data)
        .select_from(t.staged_frames.join(t.annotations, A.input_pk == F.input_pk))
        .where(
            F.dataset_pk == dataset_pk,
            F.sequence_id.is_not(None),
            A.input_level.is_(False),
            A.model_version_id == "",
        )
    )
    if since is not None:
        q = q.where(A.modified_at >= since)
    return list(conn.execute(q))


def insert_units(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    ts = utcnow()
    insert_ignoring_duplicates(conn, t.staged_units, [{**r, "created_at": ts} for r in rows])


def units_by_key(conn: Connection, dataset_pk: int, kind: str, keys: Collection[str]) -> dict[str, Row[Any]]:
    out: dict[str, Row[Any]] = {}
    for chunk in _chunks(list(keys)):
        q = select(t.staged_units).where(U.dataset_pk == dataset_pk, U.kind == kind, U.key.in_(chunk))
        out.update({r.key: r for r in conn.execute(q)})
    return out


def units_without_tasks(conn: Connection, dataset_pk: int) -> list[Row[Any]]:
    has_tasks = select(T.pk).where(T.unit_pk == U.pk)
    q = select(t.staged_units).where(U.dataset_pk == dataset_pk, ~exists(has_tasks)).order_by(U.pk)
    return list(conn.execute(q))


def delete_units(conn: Connection, dataset_pk: int, kinds: Collection[str] | None = None) -> None:
    q = delete(t.staged_units).where(U.dataset_pk == dataset_pk)
    if kinds is not None:
        q = q.where(U.kind.in_(list(kinds)))
    conn.execute(q)


# --------------------------------------------------------------------------- tasks


def insert_tasks(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    insert_ignoring_duplicates(conn, t.staged_tasks, rows)


_FIRST = t.staged_tasks.alias("first_stage")
_ASSIGNEE = t.users.alias("assignee")
_UNIT_INPUT = t.inputs.alias("unit_input")


def task_query() -> Select[Any]:
    """Tasks with what a TaskResource shows: unit, dataset, app, assignee email, the first-stage
    task id (the ``task_id`` the unit's annotations carry)."""
    return select(
        t.staged_tasks,
        U.kind,
        U.key,
        U.sequence_id,
        U.label_id,
        U.input_pk.label("unit_input_pk"),
        _UNIT_INPUT.c.id.label("file_id"),
        t.datasets.c.id.label("dataset_id"),
        t.apps.c.id.label("app_id"),
        t.apps.c.user_id.label("owner_id"),
        _ASSIGNEE.c.email.label("assignee_email"),
        _FIRST.c.id.label("first_task_id"),
    ).select_from(
        t.staged_tasks.join(t.staged_units, U.pk == T.unit_pk)
        .join(t.datasets, t.datasets.c.pk == T.dataset_pk)
        .join(t.apps, t.apps.c.pk == T.app_pk)
        .join(_FIRST, and_(_FIRST.c.unit_pk == T.unit_pk, _FIRST.c.stage_index == 0))
        .outerjoin(_ASSIGNEE, _ASSIGNEE.c.id == T.assignee_id)
        .outerjoin(_UNIT_INPUT, _UNIT_INPUT.c.pk == U.input_pk)
    )


def task_by_id(conn: Connection, task_id: str) -> Row[Any] | None:
    row: Row[Any] | None = conn.execute(task_query().where(T.id == task_id)).first()
    return row


def page(conn: Connection, q: Select[Any], offset: int, limit: int) -> tuple[list[Row[Any]], int]:
    """One page of a :func:`task_query` (already filtered and ordered) and the total count."""
    total = conn.execute(select(func.count()).select_from(q.order_by(None).subquery())).scalar_one()
    return list(conn.execute(q.offset(offset).limit(limit))), int(total)


def dataset_tasks(
    dataset_pk: int, stage: int | None, state: str | None, assignee_id: str | None
) -> Select[Any]:
    q = task_query().where(T.dataset_pk == dataset_pk)
    if stage is not None:
        q = q.where(T.stage_index == stage)
    if state is not None:
        q = q.where(T.state == state)
    if assignee_id is not None:
        q = q.where(T.assignee_id == assignee_id)
    return q.order_by(T.unit_pk, T.stage_index)


def user_tasks(app_pks: Collection[int], user_id: str, kinds: Collection[str]) -> Select[Any]:
    return (
        task_query()
        .where(T.app_pk.in_(list(app_pks)), T.assignee_id == user_id, U.kind.in_(list(kinds)))
        .order_by(T.dataset_pk, T.unit_pk, T.stage_index)
    )


def delayed_tasks(app_pks: Collection[int], now: datetime) -> Select[Any]:
    return (
        task_query()
        .where(T.app_pk.in_(list(app_pks)), T.state.not_in(DONE_STATES), T.due_at < now)
        .order_by(T.due_at, T.pk)
    )


def lock_unit(conn: Connection, unit_pk: int) -> list[Row[Any]]:
    """The unit's tasks, one per stage in stage order, locked until the transaction ends."""
    q = select(t.staged_tasks).where(T.unit_pk == unit_pk).order_by(T.stage_index).with_for_update()
    return list(conn.execute(q))


def update_task(conn: Connection, pk: int, **values: Any) -> None:
    conn.execute(update(t.staged_tasks).where(T.pk == pk).values(modified_at=utcnow(), **values))


def set_dues(conn: Connection, dues: Mapping[int, datetime | None]) -> None:
    """Set ``due_at`` of many tasks by pk."""
    if dues:
        stmt = update(t.staged_tasks).where(T.pk == bindparam("b_pk")).values(due_at=bindparam("b_due"))
        conn.execute(stmt, [{"b_pk": pk, "b_due": due} for pk, due in dues.items()])


def implicit_due_tasks(conn: Connection, dataset_pk: int) -> list[Row[Any]]:
    """Tasks whose due time comes from their stage (pk, stage_index, ready_at, due_at)."""
    q = select(T.pk, T.stage_index, T.ready_at, T.due_at).where(
        T.dataset_pk == dataset_pk, T.due_explicit.is_(False)
    )
    return list(conn.execute(q))


def first_started_task(conn: Connection, dataset_pk: int) -> Row[Any] | None:
    """A task that has left its initial state (the first stage Ready, the others Waiting), if any."""
    q = select(t.staged_tasks).where(
        T.dataset_pk == dataset_pk,
        or_(
            and_(T.stage_index == 0, T.state != "Ready"),
            and_(T.stage_index > 0, T.state != "Waiting"),
        ),
    )
    return conn.execute(q.limit(1)).first()


def overdue_ready(conn: Connection, dataset_pks: Collection[int], now: datetime) -> list[Row[Any]]:
    """Assigned, unstarted (Ready) tasks past their due time in these datasets, oldest due first."""
    if not dataset_pks:
        return []
    q = (
        select(t.staged_tasks)
        .where(
            T.dataset_pk.in_(list(dataset_pks)),
            T.state == "Ready",
            T.assignee_id.is_not(None),
            T.due_at < now,
        )
        .order_by(T.due_at, T.pk)
    )
    return list(conn.execute(q))


def lock_task_if_free(conn: Connection, pk: int) -> Row[Any] | None:
    """The task, locked — or None when another transaction holds it (SKIP LOCKED): opportunistic
    work such as auto-reassign never waits, so it cannot deadlock with a transition."""
    q = select(t.staged_tasks).where(T.pk == pk).with_for_update(skip_locked=True)
    row: Row[Any] | None = conn.execute(q).first()
    return row


def stage_loads(conn: Connection, dataset_pk: int, stage_index: int) -> list[Row[Any]]:
    """Everyone assigned a task of this stage in this dataset: ``user_id``, ``email``, ``open_tasks``
    (their tasks of the stage not yet Submitted/Accepted)."""
    open_case = case((T.state.not_in(DONE_STATES), 1), else_=0)
    q = (
        select(T.assignee_id.label("user_id"), t.users.c.email, func.sum(open_case).label("open_tasks"))
        .select_from(t.staged_tasks.join(t.users, t.users.c.id == T.assignee_id))
        .where(T.dataset_pk == dataset_pk, T.stage_index == stage_index)
        .group_by(T.assignee_id, t.users.c.email)
    )
    return list(conn.execute(q))


# --------------------------------------------------------------------------- history


def insert_history(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        conn.execute(insert(t.staged_task_history), list(rows))


def history_of(conn: Connection, task_pks: Collection[int]) -> dict[int, list[Row[Any]]]:
    out: dict[int, list[Row[Any]]] = defaultdict(list)
    for chunk in _chunks(list(task_pks)):
        q = select(t.staged_task_history).where(H.task_pk.in_(chunk)).order_by(H.pk)
        for r in conn.execute(q):
            out[r.task_pk].append(r)
    return out


def emails_of(conn: Connection, user_ids: Collection[str]) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for chunk in _chunks(list(user_ids)):
        q = select(t.users.c.id, t.users.c.email).where(t.users.c.id.in_(chunk))
        out.update({r.id: r.email for r in conn.execute(q)})
    return out


# --------------------------------------------------------------------------- annotations


def author_annotations(
    conn: Connection, input_pks: Collection[int], user_id: str, task_id: str
) -> list[Row[Any]]:
    """The author's own annotations (not input-level, not a model's) on these inputs that belong
    to no task or to ``task_id`` — annotations of a Clarifai task stay with that task."""
    out: list[Row[Any]] = []
    for chunk in _chunks(list(input_pks)):
        q = select(A.pk, A.data, A.annotation_info).where(
            A.input_pk.in_(chunk),
            A.user_id == user_id,
            A.input_level.is_(False),
            A.model_version_id == "",
            or_(A.task_id.is_(None), A.task_id == "", A.task_id == task_id),
        )
        out += conn.execute(q.order_by(A.pk))
    return out


def set_annotation_status(
    conn: Connection, infos: Mapping[int, dict[str, Any]], status: int, task_id: str
) -> None:
    """Give annotations (pk → their new ``annotation_info``) a status and the staged task id."""
    if not infos:
        return
    stmt = (
        update(t.annotations)
        .where(A.pk == bindparam("b_pk"))
        .values(status=status, task_id=task_id, annotation_info=bindparam("b_info"), modified_at=utcnow())
    )
    conn.execute(stmt, [{"b_pk": pk, "b_info": info} for pk, info in infos.items()])

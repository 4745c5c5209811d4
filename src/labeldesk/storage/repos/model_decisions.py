"""The inputs of a task each model worker has decided (``model_decisions``)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, exists, func, insert, literal, select

from labeldesk.storage import tables as t
from labeldesk.storage.repos.assignments import SourceInput

D = t.model_decisions.c
DI = t.dataset_inputs.c
I = t.inputs.c  # noqa: E741 - the inputs table's columns, as elsewhere


def record(conn: Connection, task_pk: int, model_id: str, input_pks: Sequence[int]) -> None:
    """Mark ``input_pks`` decided by ``model_id`` (those already marked stay as they are)."""
    new = set(input_pks) - decided(conn, task_pk, model_id, input_pks)
    if new:
        rows = [{"task_pk": task_pk, "model_id": model_id, "input_pk": p} for p in sorted(new)]
        conn.execute(insert(t.model_decisions), rows)


def decided(conn: Connection, task_pk: int, model_id: str, input_pks: Sequence[int]) -> set[int]:
    """Those of ``input_pks`` that ``model_id`` has decided for the task."""
    if not input_pks:
        return set()
    q = select(D.input_pk).where(D.task_pk == task_pk, D.model_id == model_id, D.input_pk.in_(input_pks))
    return {int(p) for p in conn.execute(q).scalars()}


def undecided(
    conn: Connection,
    app_pk: int,
    task_pk: int,
    model_id: str,
    after_pk: int,
    upto_pk: int,
    limit: int,
    dataset_pk: int | None = None,
) -> list[SourceInput]:
    """The app's inputs (those of dataset ``dataset_pk``, when given) with ``after_pk`` < pk <=
    ``upto_pk`` that ``model_id`` has not decided for the task, oldest first: one anti-join with
    the decisions, in the database (the server's sweep asks it of finished model workers every
    rescan period, and the job's rescan reads them this way)."""
    key = I.pk if dataset_pk is None else DI.input_pk
    decided = exists(
        select(literal(1)).where(D.task_pk == task_pk, D.model_id == model_id, D.input_pk == key)
    )
    q = select(I.pk, I.id).where(I.app_pk == app_pk, key > after_pk, key <= upto_pk, ~decided)
    if dataset_pk is not None:
        q = q.join_from(t.inputs, t.dataset_inputs, I.pk == DI.input_pk).where(DI.dataset_pk == dataset_pk)
    return [SourceInput(int(r.pk), r.id) for r in conn.execute(q.order_by(key).limit(limit))]


def decided_by_all(
    conn: Connection, task_pk: int, model_ids: Sequence[str], input_pks: Sequence[int]
) -> set[int]:
    """Those of ``input_pks`` that every one of ``model_ids`` has decided for the task."""
    if not input_pks or not model_ids:
        return set(input_pks)
    q = (
        select(D.input_pk)
        .where(D.task_pk == task_pk, D.model_id.in_(model_ids), D.input_pk.in_(input_pks))
        .group_by(D.input_pk)
        .having(func.count() == len(set(model_ids)))
    )
    return {int(p) for p in conn.execute(q).scalars()}

"""Pre-label annotations (a task's assistant model's suggestions, stored as model-made annotations
with status :data:`~labeldesk.domain.prelabels.PRELABEL_STATUS`) and what labelers did with them
(``prelabel_outcomes``), and which inputs the job has been through (``prelabel_inputs``)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import Connection, Row, delete, exists, func, insert, select

from labeldesk.domain.prelabels import PRELABEL_STATUS, TAG_SEPARATOR
from labeldesk.storage import tables as t
from labeldesk.storage.clock import utcnow

A = t.annotations.c
O = t.prelabel_outcomes.c  # noqa: E741
P = t.prelabel_inputs.c
Q = t.task_assignments.c


def _prelabels(app_pk: int, task_id: str, input_pks: Collection[int]) -> Any:
    return (
        (A.app_pk == app_pk)
        & (A.task_id == task_id)
        & A.input_pk.in_(list(input_pks))
        & (A.model_version_id != "")
        & (A.status == PRELABEL_STATUS)
    )


def of_inputs(conn: Connection, app_pk: int, task_id: str, input_pks: Collection[int]) -> list[Row[Any]]:
    """The task's pre-label annotations on the inputs (id, input_pk, data, model_version_id,
    annotation_info), oldest first."""
    if not input_pks:
        return []
    q = select(A.id, A.input_pk, A.data, A.model_version_id, A.annotation_info).where(
        _prelabels(app_pk, task_id, input_pks)
    )
    return list(conn.execute(q.order_by(A.pk)))


def prelabelled(
    conn: Connection, app_pk: int, task_id: str, version_id: str, input_pks: Collection[int]
) -> set[int]:
    """Those of ``input_pks`` that already have pre-labels of this model version (a resumed job
    skips them; an input the model suggested nothing for is asked again)."""
    if not input_pks:
        return set()
    q = select(A.input_pk).where(_prelabels(app_pk, task_id, input_pks), A.model_version_id == version_id)
    return {int(p) for p in conn.execute(q.distinct()).scalars()}


def worker_data(conn: Connection, app_pk: int, task_id: str, input_pk: int, worker_id: str) -> list[bytes]:
    """The ``data`` of the worker's own (user-made) annotations of the task on the input."""
    q = select(A.data).where(
        A.app_pk == app_pk,
        A.task_id == task_id,
        A.input_pk == input_pk,
        A.user_id == worker_id,
        A.model_version_id == "",
    )
    return [bytes(d) for d in conn.execute(q.order_by(A.pk)).scalars()]


def replace_outcomes(
    conn: Connection, task_pk: int, input_pk: int, worker_id: str, rows: Sequence[dict[str, Any]]
) -> None:
    """The worker's outcomes on the input: the rows of an earlier submission go."""
    conn.execute(
        delete(t.prelabel_outcomes).where(
            O.task_pk == task_pk, O.input_pk == input_pk, O.worker_id == worker_id
        )
    )
    if rows:
        where = {"task_pk": task_pk, "input_pk": input_pk, "worker_id": worker_id, "created_at": utcnow()}
        conn.execute(insert(t.prelabel_outcomes), [{**r, **where} for r in rows])


def outcome_counts(
    conn: Connection, task_pk: int, tags_only: bool = False
) -> dict[tuple[str, str], dict[str, int]]:
    """(model id, model version id) → outcome → count, over the task's submissions (only the
    pre-labelled tags' when ``tags_only``: their ids are ``<annotation id>:<concept id>``)."""
    q = (
        select(O.model_id, O.model_version_id, O.outcome, func.count())
        .where(O.task_pk == task_pk, *([O.region_id.contains(TAG_SEPARATOR)] if tags_only else []))
        .group_by(O.model_id, O.model_version_id, O.outcome)
    )
    out: dict[tuple[str, str], dict[str, int]] = {}
    for model_id, version_id, outcome, n in conn.execute(q):
        out.setdefault((model_id, version_id), {})[outcome] = int(n)
    return out


# ----------------------------------------------------------------------------- inputs done


def processed(conn: Connection, task_pk: int, version_id: str, input_pks: Collection[int]) -> set[int]:
    """Those of ``input_pks`` the task's pre-label job has been through for this model version
    (pre-labelled, nothing suggested, or failed): their pre-labels are ready."""
    if not input_pks:
        return set()
    q = select(P.input_pk).where(
        P.task_pk == task_pk, P.model_version_id == version_id, P.input_pk.in_(list(input_pks))
    )
    return {int(p) for p in conn.execute(q).scalars()}


def mark_processed(conn: Connection, task_pk: int, version_id: str, outcomes: dict[int, str]) -> None:
    """Record the inputs the job went through (input pk → ``prelabelled`` / ``none`` / ``failed``);
    an input already recorded (a concurrent or resumed job) keeps its row."""
    fresh = {p: o for p, o in outcomes.items() if p not in processed(conn, task_pk, version_id, outcomes)}
    if fresh:
        key = {"task_pk": task_pk, "model_version_id": version_id, "created_at": utcnow()}
        rows = [{**key, "input_pk": p, "outcome": o} for p, o in fresh.items()]
        conn.execute(insert(t.prelabel_inputs), rows)


def unprocessed_planned(conn: Connection, task_pk: int, version_id: str, limit: int) -> list[int]:
    """The task's inputs not yet processed by its pre-label job (of this model version) that the
    work queue has already planned seats for, in the queue's order (input pk; late joiners the
    source rescan planned below the watermark come first): the job does these before walking on.
    Seats of inputs that left the source count too: their work stays with its worker."""
    done = exists(
        select(P.input_pk).where(
            P.task_pk == task_pk, P.model_version_id == version_id, P.input_pk == Q.input_pk
        )
    )
    q = select(Q.input_pk).where(Q.task_pk == task_pk, ~done).distinct().order_by(Q.input_pk).limit(limit)
    return [int(p) for p in conn.execute(q).scalars()]

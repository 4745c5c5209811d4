"""Model rows (an app's models and their backend bindings)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import Connection, Row, bindparam, delete, insert, select, update

from labeldesk.storage import tables as t
from labeldesk.storage.clock import utcnow

M = t.models.c


# built once: GetModel runs it on every call (docs/performance.md, "Per-call overhead")
_BY_IDS = select(t.models).where(M.app_pk == bindparam("app_pk"), M.id.in_(bindparam("ids", expanding=True)))


def by_ids(conn: Connection, app_pk: int, ids: Collection[str]) -> dict[str, Row[Any]]:
    if not ids:
        return {}
    return {r.id: r for r in conn.execute(_BY_IDS, {"app_pk": app_pk, "ids": list(ids)})}


_STAMP = (
    select(M.pk, M.version_id, M.modified_at)
    .where(M.app_pk == bindparam("app_pk"), M.id == bindparam("id"))
    .limit(1)
)


def stamp(conn: Connection, app_pk: int, model_id: str) -> Row[Any] | None:
    """``(pk, version_id, modified_at)`` of a model: enough to tell a cached copy is still it
    (every PatchModels moves ``modified_at``). The statement is built once."""
    row: Row[Any] | None = conn.execute(_STAMP, {"app_pk": app_pk, "id": model_id}).first()  # type: ignore[assignment]
    return row


def insert_one(conn: Connection, app_pk: int, row: dict[str, Any]) -> None:
    ts = utcnow()
    conn.execute(insert(t.models).values(**row, app_pk=app_pk, created_at=ts, modified_at=ts))


def update_one(conn: Connection, pk: int, **values: Any) -> None:
    conn.execute(update(t.models).where(M.pk == pk).values(modified_at=utcnow(), **values))


def page(conn: Connection, app_pk: int, offset: int, limit: int) -> list[Row[Any]]:
    q = select(t.models).where(M.app_pk == app_pk).order_by(M.pk).offset(offset).limit(limit)
    return list(conn.execute(q))


def delete_pks(conn: Connection, pks: Collection[int]) -> None:
    conn.execute(delete(t.models).where(M.pk.in_(list(pks))))


def task_by_pk(conn: Connection, pk: int) -> Row[Any] | None:
    """The task an auto-annotation job works for (None once deleted)."""
    return conn.execute(select(t.tasks).where(t.tasks.c.pk == pk)).first()


def auto_annotated(conn: Connection, task_id: str, version_id: str | None, input_pks: list[int]) -> set[int]:
    """Those of ``input_pks`` that already have annotations of ``task_id`` made by model version
    ``version_id`` (by any model when None)."""
    if not input_pks:
        return set()
    A = t.annotations.c
    by_model = A.model_version_id != "" if version_id is None else A.model_version_id == version_id
    q = select(A.input_pk).where(A.task_id == task_id, by_model, A.input_pk.in_(input_pks)).distinct()
    return {int(p) for p in conn.execute(q).scalars()}


def jobs_of_task(conn: Connection, app_pk: int, kind: str, task_pk: int) -> list[Row[Any]]:
    """The jobs of ``kind`` working for a task, oldest first (through ``ix_jobs_task``)."""
    J = t.jobs.c
    q = select(t.jobs).where(J.task_pk == task_pk, J.kind == kind, J.app_pk == app_pk).order_by(J.pk)
    return list(conn.execute(q))


def newest_jobs(conn: Connection, kind: str) -> dict[tuple[int, str], Row[Any]]:
    """Of every app, the newest job of ``kind`` per ``(task pk, model id)`` of its payload."""
    J = t.jobs.c
    newest: dict[tuple[int, str], Row[Any]] = {}
    for r in conn.execute(select(t.jobs).where(J.kind == kind).order_by(J.pk)):
        p = r.payload or {}
        newest[(int(p.get("task_pk", 0)), str(p.get("model_id", "")))] = r
    return newest

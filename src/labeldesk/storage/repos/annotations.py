"""Annotation rows and their per-concept index rows (``annotation_concepts``).

Every write goes through :func:`insert_many`, :func:`update_many` or :func:`delete_pks`, which keep
``annotation_concepts`` (one row per annotation and concept, region concepts included) in step with
the stored data: saved searches and consensus read that index, never the serialised data.
Bulk operations are batched (``executemany``, ``IN`` lists of at most 500) so their cost does not
grow with one query per row.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import (
    Connection,
    Row,
    Select,
    and_,
    bindparam,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    tuple_,
    update,
)

from labeldesk.storage import tables as t
from labeldesk.storage.repos import multirow

A = t.annotations.c
AC = t.annotation_concepts.c
I = t.inputs.c  # noqa: E741 - the inputs table's columns, as elsewhere
CHUNK = 500  # stay under SQLite's bound-parameter limit
T = TypeVar("T")

ConceptPairs = Sequence[tuple[str, float]]


def _chunks(items: Sequence[T]) -> Iterator[Sequence[T]]:
    for i in range(0, len(items), CHUNK):
        yield items[i : i + CHUNK]


# --------------------------------------------------------------------------- writes


def insert_many(
    conn: Connection, app_pk: int, rows: Sequence[dict[str, Any]], concepts: Sequence[ConceptPairs]
) -> list[int]:
    """Insert annotations (with ``app_pk`` added) and their concept index rows; answer the pks.

    All rows must have the same keys. Duplicate concept ids of one row keep the last value.
    """
    if not rows:
        return []
    _require_rendering(rows[0])
    stmt = insert(t.annotations).returning(A.pk, sort_by_parameter_order=True)
    pks = [int(pk) for pk in conn.execute(stmt, [{**r, "app_pk": app_pk} for r in rows]).scalars()]
    _insert_concepts(conn, app_pk, dict(zip(pks, concepts)))
    return pks


NEW_COLUMNS = (
    "id",
    "app_pk",
    "input_pk",
    "user_id",
    "data",
    "data_json",
    "data_json_format",
    "annotation_info",
    "status",
    "task_id",
    "model_version_id",
    "embed_model_version_id",
    "input_level",
    "trusted",
    "created_at",
    "modified_at",
)
"""The columns of a new annotation, in the order :func:`insert_tuples` takes them."""
_INDEX_COLUMNS = ("annotation_pk", "concept_id", "value", "app_pk")


def insert_tuples(
    conn: Connection,
    app_pk: int,
    rows: Sequence[Sequence[Any]],
    concepts: Sequence[ConceptPairs],
    unique: bool = False,
) -> list[int]:
    """Insert annotations given as tuples in :data:`NEW_COLUMNS` order, values as stored (times
    through ``bulk.stored_time``, JSON through ``bulk.stored_json``, ``data_json`` rendered with
    the data), and their concept index rows: one multi-row statement per table. Answers the pks
    in the order of ``rows``. ``unique``: each row's concept pairs name every concept once
    already (else the last value of a concept id counts)."""
    if not rows:
        return []
    pks = multirow.insert_pks(conn, t.annotations, NEW_COLUMNS, rows)
    if unique:
        index = [(pk, c, v, app_pk) for pk, pairs in zip(pks, concepts) for c, v in pairs]
    else:
        index = [(pk, c, v, app_pk) for pk, pairs in zip(pks, concepts) for c, v in dict(pairs).items()]
    multirow.insert_values(conn, t.annotation_concepts, _INDEX_COLUMNS, index)
    return pks


def _require_rendering(row: Mapping[str, Any]) -> None:
    """``data`` is never written without its JSON rendering (``services.annotation_views.stored_data``):
    a stale ``data_json`` would be what REST listings show."""
    if "data" in row and "data_json" not in row:
        raise ValueError("annotation data written without data_json: use annotation_views.stored_data")


def _insert_concepts(conn: Connection, app_pk: int, by_pk: Mapping[int, ConceptPairs]) -> None:
    index_rows = [
        {"annotation_pk": pk, "concept_id": c, "value": v, "app_pk": app_pk}
        for pk, pairs in by_pk.items()
        for c, v in dict(pairs).items()
    ]
    if index_rows:
        conn.execute(insert(t.annotation_concepts), index_rows)


def update_many(
    conn: Connection, app_pk: int, changes: Sequence[dict[str, Any]], concepts: Mapping[int, ConceptPairs]
) -> None:
    """Update annotations by ``pk`` (every dict has ``pk`` and the same other keys) and replace
    the concept index rows of the pks in ``concepts``."""
    if changes:
        _require_rendering(changes[0])
        values: dict[str, Any] = {k: bindparam(f"v_{k}") for k in changes[0] if k != "pk"}
        stmt = update(t.annotations).where(A.pk == bindparam("b_pk")).values(**values)
        conn.execute(stmt, [{f"v_{k}" if k != "pk" else "b_pk": v for k, v in c.items()} for c in changes])
    pk_list = list(concepts)
    for chunk in _chunks(pk_list):
        conn.execute(delete(t.annotation_concepts).where(AC.annotation_pk.in_(chunk)))
    _insert_concepts(conn, app_pk, concepts)


def delete_pks(conn: Connection, pks: Collection[int]) -> int:
    """Delete annotations (their index rows go with them); answer how many were deleted."""
    n = 0
    for chunk in _chunks(list(pks)):
        conn.execute(delete(t.annotation_concepts).where(AC.annotation_pk.in_(chunk)))
        n += int(conn.execute(delete(t.annotations).where(A.pk.in_(chunk))).rowcount)
    return n


# --------------------------------------------------------------------------- reads

_WITH_INPUT = select(t.annotations, I.id.label("input_id")).select_from(
    t.annotations.join(t.inputs, I.pk == A.input_pk)
)


def by_ids(conn: Connection, app_pk: int, ids: Collection[str]) -> dict[str, Row[Any]]:
    """Annotations by id (ids are unique per app), each with its ``input_id``."""
    out: dict[str, Row[Any]] = {}
    for chunk in _chunks(list(ids)):
        out.update({r.id: r for r in conn.execute(_WITH_INPUT.where(A.app_pk == app_pk, A.id.in_(chunk)))})
    return out


def on_inputs(
    conn: Connection, input_pks: Collection[int], input_level: bool | None = None
) -> list[Row[Any]]:
    """All annotations of the inputs (optionally only / never the input-level ones), oldest first."""
    out: list[Row[Any]] = []
    for chunk in _chunks(list(input_pks)):
        q = _WITH_INPUT.where(A.input_pk.in_(chunk))
        if input_level is not None:
            q = q.where(A.input_level.is_(input_level))
        out += conn.execute(q.order_by(A.pk))
    return out


def of_task_input(
    conn: Connection, app_pk: int, task_id: str, input_pk: int, user_ids: Collection[str], status: int
) -> list[Row[Any]]:
    """``user_id`` and ``data`` of the task's annotations on the input by these users in ``status``
    (what consensus compares), oldest first."""
    q = select(A.user_id, A.data).where(
        A.app_pk == app_pk,
        A.task_id == task_id,
        A.input_pk == input_pk,
        A.user_id.in_(list(user_ids)),
        A.status == status,
        A.input_level.is_(False),
    )
    return list(conn.execute(q.order_by(A.pk)))


def input_level_of(conn: Connection, input_pks: Collection[int]) -> dict[int, Row[Any]]:
    """The input-level annotation of each input (at most one per input)."""
    out: dict[int, Row[Any]] = {}
    for chunk in _chunks(list(input_pks)):
        out.update({r.input_pk: r for r in conn.execute(_INPUT_LEVEL, {"pks": list(chunk)})})
    return out


# built once: LABEL_START renders inputs on every call (see docs/performance.md)
_INPUT_LEVEL = select(t.annotations).where(
    A.input_pk.in_(bindparam("pks", expanding=True)), A.input_level.is_(True)
)


def concepts_of(conn: Connection, annotation_pks: Collection[int]) -> dict[int, list[tuple[str, float]]]:
    out: dict[int, list[tuple[str, float]]] = defaultdict(list)
    for chunk in _chunks(list(annotation_pks)):
        q = select(t.annotation_concepts).where(AC.annotation_pk.in_(chunk))
        for r in conn.execute(q):
            out[r.annotation_pk].append((r.concept_id, r.value))
    return out


@dataclass(frozen=True)
class Filter:
    """ListAnnotations' filters (empty means "any")."""

    ids: Sequence[str] = ()
    input_ids: Sequence[str] = ()
    pairs: Sequence[tuple[str, str]] = ()
    """``(input id, annotation id)`` pairs, when both lists are given."""
    user_ids: Sequence[str] = ()
    model_version_ids: Sequence[str] = ()
    statuses: Sequence[int] = ()
    task_id: str = ""
    user_created_only: bool = True
    """Leave out model-made annotations and input-level ones without concepts (seed 003: the
    default lists what users made, concepts given with an input included)."""


def made_by_a_person() -> Any:
    """SQL condition: the annotation was made by a person, not a model; an input-level one counts
    when it carries concepts given at upload (what ListAnnotations lists by default, seed 003)."""
    labelled = exists(select(AC.annotation_pk).where(AC.annotation_pk == A.pk))
    return and_(A.model_version_id == "", or_(A.input_level.is_(False), labelled))


def is_made_by_a_person(row: Row[Any], concepts: Sequence[tuple[str, float]]) -> bool:
    """:func:`made_by_a_person` for one loaded annotation row and its concept pairs."""
    return not row.model_version_id and (not row.input_level or bool(concepts))


def page(conn: Connection, app_pk: int, f: Filter, offset: int, limit: int) -> list[Row[Any]]:
    """One page of the app's annotations matching ``f``, oldest → newest, with ``input_id``.

    The page is chosen on the annotations table alone (an index walk; inputs are joined only
    when a filter names input ids), and only the rows of that page are joined to their inputs:
    with OFFSET pagination, joining first would join every skipped row too.
    """
    chosen = _matching_pks(app_pk, f).order_by(A.pk).offset(offset).limit(limit).subquery()
    q = _WITH_INPUT.join(chosen, chosen.c.pk == A.pk).order_by(A.pk)
    return list(conn.execute(q))


def _matching_pks(app_pk: int, f: Filter) -> Select[Any]:
    q = select(A.pk).where(A.app_pk == app_pk)
    if f.user_created_only:
        q = q.where(made_by_a_person())
    if f.pairs:
        q = q.join(t.inputs, I.pk == A.input_pk).where(tuple_(I.id, A.id).in_(list(f.pairs)))
    if f.ids:
        q = q.where(A.id.in_(list(f.ids)))
    if f.input_ids:
        q = q.where(A.input_pk.in_(select(I.pk).where(I.app_pk == app_pk, I.id.in_(list(f.input_ids)))))
    if f.user_ids:
        q = q.where(A.user_id.in_(list(f.user_ids)))
    if f.model_version_ids:
        q = q.where(A.model_version_id.in_(list(f.model_version_ids)))
    if f.statuses:
        q = q.where(A.status.in_(list(f.statuses)))
    if f.task_id:
        q = q.where(A.task_id == f.task_id)
    return q


def workers(conn: Connection, app_pk: int, trusted_only: bool, offset: int, limit: int) -> list[Row[Any]]:
    """Who annotated in the app (users, and model versions), in order of their first annotation."""
    q = select(A.user_id, A.model_version_id, func.min(A.pk).label("first")).where(
        A.app_pk == app_pk, A.input_level.is_(False)
    )
    if trusted_only:
        q = q.where(A.trusted.is_(True))
    sub = q.group_by(A.user_id, A.model_version_id).subquery()
    users = t.users.c
    full = (
        select(sub.c.user_id, sub.c.model_version_id, users.first_name, users.last_name)
        .select_from(sub.outerjoin(t.users, users.id == sub.c.user_id))
        .order_by(sub.c.first)
        .offset(offset)
        .limit(limit)
    )
    return list(conn.execute(full))

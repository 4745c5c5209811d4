"""Saved searches, and turning search criteria into the set of matching inputs."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import replace
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2
from sqlalchemy import Connection, Row, Select, and_, delete, exists, func, insert, select, update

from labeldesk.domain.search_query import ConceptRef, Criterion, media_of, metadata_matches
from labeldesk.storage import tables as t
from labeldesk.storage.clock import utcnow
from labeldesk.storage.repos.annotations import made_by_a_person

S = t.searches.c


def by_ids(conn: Connection, app_pk: int, ids: Collection[str]) -> dict[str, Row[Any]]:
    if not ids:
        return {}
    return {r.id: r for r in conn.execute(select(t.searches).where(S.app_pk == app_pk, S.id.in_(list(ids))))}


def insert_one(conn: Connection, app_pk: int, search_id: str, name: str, query: bytes) -> None:
    ts = utcnow()
    conn.execute(
        insert(t.searches).values(
            app_pk=app_pk, id=search_id, name=name, query=query, created_at=ts, modified_at=ts
        )
    )


def update_one(conn: Connection, app_pk: int, search_id: str, **values: Any) -> None:
    conn.execute(
        update(t.searches).where(S.app_pk == app_pk, S.id == search_id).values(modified_at=utcnow(), **values)
    )


def page(conn: Connection, app_pk: int, offset: int, limit: int) -> list[Row[Any]]:
    q = select(t.searches).where(S.app_pk == app_pk).order_by(S.created_at, S.id).offset(offset).limit(limit)
    return list(conn.execute(q))


def delete_one(conn: Connection, app_pk: int, search_id: str) -> int:
    return int(conn.execute(delete(t.searches).where(S.app_pk == app_pk, S.id == search_id)).rowcount)


def _annotation_fields(c: Criterion) -> list[Any]:
    """SQL conditions on ``annotations`` for the annotation fields the criterion names."""
    a = t.annotations.c
    conds: list[Any] = []
    if c.annotation_user_id:
        conds.append(a.user_id == c.annotation_user_id)
    if c.annotation_status:
        conds.append(a.status == c.annotation_status)
    if c.annotation_task_id:
        conds.append(a.task_id == c.annotation_task_id)
    if c.annotated:
        conds.append(made_by_a_person())
    return conds


def _on_annotation(q: Select[Any], c: Criterion) -> Select[Any]:
    """Restrict an annotation query to the annotation fields the criterion names."""
    return q.where(*_annotation_fields(c))


def _concept_condition(app_pk: int, ref: ConceptRef, c: Criterion) -> Any:
    """The input has an annotation (meeting the criterion's annotation fields) with the concept:
    ``inputs.pk IN (the inputs of such annotations)``, one index walk of the concept's annotations
    (an EXISTS per input would walk them once per input).

    ``annotation_concepts`` is aliased: the "made by a person" test has its own subquery on that
    table, which would otherwise correlate to this one and lose its FROM; and the subquery never
    correlates, so it also works nested in an annotations query."""
    hit = t.annotation_concepts.alias("hit_concept")
    ac, a, k = hit.c, t.annotations.c, t.concepts.c
    q = (
        select(a.input_pk)
        .select_from(hit.join(t.annotations, a.pk == ac.annotation_pk))
        .where(ac.app_pk == app_pk, (ac.value > 0) if ref.present else (ac.value <= 0))
    )
    if ref.id:
        q = q.where(ac.concept_id == ref.id)
    else:
        q = q.where(ac.concept_id.in_(select(k.id).where(k.app_pk == app_pk, k.name == ref.name)))
    return t.inputs.c.pk.in_(_on_annotation(q, c).correlate(None))


def _sql_condition(app_pk: int, c: Criterion) -> Any:
    """The SQL part of one criterion (all but metadata and input types, matched in Python). Its
    subqueries correlate to ``inputs`` only, so it also works nested in an annotations query."""
    i, a = t.inputs.c, t.annotations.c
    conds: list[Any] = [_concept_condition(app_pk, ref, c) for ref in c.concepts]
    if c.on_annotation and not c.concepts:
        on_input = select(a.pk).where(a.app_pk == app_pk, a.input_pk == i.pk).correlate(t.inputs)
        conds.append(exists(_on_annotation(on_input, c)))
    if c.dataset_ids:
        di, d = t.dataset_inputs.c, t.datasets.c
        conds.append(
            exists(
                select(di.input_pk)
                .select_from(t.dataset_inputs.join(t.datasets, d.pk == di.dataset_pk))
                .where(di.input_pk == i.pk, d.app_pk == app_pk, d.id.in_(list(c.dataset_ids)))
                .correlate(t.inputs)
            )
        )
    if c.input_id:
        conds.append(i.id == c.input_id)
    if c.input_status:
        conds.append(i.status == c.input_status)
    return and_(*conds) if conds else None


def _in_python(c: Criterion) -> bool:
    return bool(c.metadata or c.input_types)


def matching_inputs_query(app_pk: int, criteria: Sequence[Criterion]) -> Select[Any]:
    """Inputs (pk, id, metadata; data when a criterion filters by type) that pass every
    criterion's SQL part, oldest first."""
    i = t.inputs.c
    columns = [i.pk, i.id, i.metadata]
    if any(c.input_types for c in criteria):
        columns.append(i.data)
    q = select(*columns).where(i.app_pk == app_pk)
    for c in criteria:
        cond = None if _in_python(c) else _sql_condition(app_pk, c)
        if cond is not None:
            q = q.where(~cond if c.negate else cond)
    return q.order_by(i.pk)


def in_sql(criteria: Sequence[Criterion]) -> bool:
    """Whether every criterion runs in SQL (none filters by metadata or input type)."""
    return not any(_in_python(c) for c in criteria)


def count_matching(conn: Connection, app_pk: int, criteria: Sequence[Criterion]) -> int:
    """How many inputs a search selects: one COUNT query when it runs in SQL alone."""
    if not in_sql(criteria):
        return len(matching_input_pks(conn, app_pk, criteria))
    sub = matching_inputs_query(app_pk, criteria).order_by(None).subquery()
    return int(conn.execute(select(func.count()).select_from(sub)).scalar_one())


def matching_page_pks(
    conn: Connection, app_pk: int, criteria: Sequence[Criterion], offset: int, limit: int
) -> list[int]:
    """One page of the inputs a search selects, oldest first: OFFSET/LIMIT in SQL when it runs in
    SQL alone (a page of 100k inputs reads one page of rows, not every match)."""
    if not in_sql(criteria):
        return matching_input_pks(conn, app_pk, criteria)[offset : offset + limit]
    q = matching_inputs_query(app_pk, criteria).offset(offset).limit(limit)
    return [r.pk for r in conn.execute(q)]


def matching_input_pks(conn: Connection, app_pk: int, criteria: Sequence[Criterion]) -> list[int]:
    """All inputs a search selects. Criteria without metadata or input types are SQL conditions
    of one query; one with them is matched in Python, its other parts by one extra query (not
    one per input)."""
    mixed = [c for c in criteria if _in_python(c)]
    sql_parts = {id(c): _sql_part_pks(conn, app_pk, c) for c in mixed}
    out: list[int] = []
    for row in conn.execute(matching_inputs_query(app_pk, criteria)):
        if all(_python_ok(row, c, sql_parts[id(c)]) for c in mixed):
            out.append(row.pk)
    return out


def _sql_part_pks(conn: Connection, app_pk: int, c: Criterion) -> set[int] | None:
    """The inputs meeting a criterion's SQL parts (None when it has none)."""
    cond = _sql_condition(app_pk, c)
    if cond is None:
        return None
    i = t.inputs.c
    return set(conn.execute(select(i.pk).where(i.app_pk == app_pk, cond)).scalars())


def _python_ok(row: Row[Any], c: Criterion, sql_pks: set[int] | None) -> bool:
    hit = (
        (not c.metadata or metadata_matches(row.metadata or {}, dict(c.metadata)))
        and (
            not c.input_types or bool(media_of(resources_pb2.Data.FromString(row.data)) & set(c.input_types))
        )
        and (sql_pks is None or row.pk in sql_pks)
    )
    return not hit if c.negate else hit


# --- annotation searches ---------------------------------------------------------------------


def annotation_filters(criteria: Sequence[Criterion]) -> list[Criterion]:
    """The criteria every returned annotation itself must meet (the others select inputs only)."""
    return [c for c in criteria if not c.negate and (c.concepts or c.on_annotation)]


def _annotation_conditions(app_pk: int, c: Criterion) -> list[Any]:
    """One annotation filter as SQL on ``annotations``: its fields, and each concept (by id, or by
    any concept so named) with a value on the wanted side of zero."""
    a, ac, k = t.annotations.c, t.annotation_concepts.c, t.concepts.c
    conds = _annotation_fields(c)
    for ref in c.concepts:
        q = select(ac.annotation_pk).where(
            ac.annotation_pk == a.pk, (ac.value > 0) if ref.present else (ac.value <= 0)
        )
        if ref.id:
            q = q.where(ac.concept_id == ref.id)
        else:
            q = q.where(ac.concept_id.in_(select(k.id).where(k.app_pk == app_pk, k.name == ref.name)))
        conds.append(exists(q))
    return conds


def matching_annotations_query(app_pk: int, criteria: Sequence[Criterion]) -> Select[Any]:
    """Pks of the annotations an annotation search selects (on inputs meeting every criterion,
    meeting every annotation filter), oldest first; only for criteria that run in SQL."""
    a = t.annotations.c
    wanted = annotation_filters(criteria)
    # An annotation meeting a filter proves its input has such an annotation, so the input side
    # keeps only the filters' input fields (the "input has an annotation with..." EXISTS would cost
    # a scan of the concept's annotations per input).
    on_inputs = [_input_part(c) if c in wanted else c for c in criteria]
    q = select(a.pk).where(a.app_pk == app_pk)
    if any(_sql_condition(app_pk, c) is not None for c in on_inputs):
        inputs = matching_inputs_query(app_pk, on_inputs).with_only_columns(t.inputs.c.pk).order_by(None)
        q = q.where(a.input_pk.in_(inputs))
    for c in wanted:
        q = q.where(*_annotation_conditions(app_pk, c))
    return q.order_by(a.pk)


def _input_part(c: Criterion) -> Criterion:
    """The criterion without its annotation fields and concepts."""
    return replace(
        c, concepts=(), annotation_user_id="", annotation_status=0, annotation_task_id="", annotated=False
    )


def count_matching_annotations(conn: Connection, app_pk: int, criteria: Sequence[Criterion]) -> int:
    sub = matching_annotations_query(app_pk, criteria).order_by(None).subquery()
    return int(conn.execute(select(func.count()).select_from(sub)).scalar_one())


def matching_annotation_page(
    conn: Connection, app_pk: int, criteria: Sequence[Criterion], offset: int, limit: int
) -> list[Row[Any]]:
    """One page of the selected annotations (rows with ``input_id``), OFFSET/LIMIT in SQL: only the
    page's rows are joined to their inputs."""
    a, i = t.annotations.c, t.inputs.c
    chosen = matching_annotations_query(app_pk, criteria).offset(offset).limit(limit).subquery()
    q = (
        select(t.annotations, i.id.label("input_id"))
        .select_from(t.annotations.join(t.inputs, i.pk == a.input_pk).join(chosen, chosen.c.pk == a.pk))
        .order_by(a.pk)
    )
    return list(conn.execute(q))

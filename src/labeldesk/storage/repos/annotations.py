"""Annotation rows and their per-concept index rows."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import Connection, Row, insert, select

from labeldesk.storage import tables as t

A = t.annotations.c


def insert_many(conn: Connection, app_pk: int, rows: Sequence[dict[str, Any]],
                concepts: Sequence[Sequence[tuple[str, float]]]) -> list[int]:
    """Insert annotations (with ``app_pk`` added) and their concept index rows; answer the pks."""
    pks: list[int] = []
    for row, row_concepts in zip(rows, concepts):
        res = conn.execute(insert(t.annotations).values(app_pk=app_pk, **row))
        ipk = res.inserted_primary_key
        assert ipk is not None
        pk = int(ipk[0])
        pks.append(pk)
        uniq = dict(row_concepts)
        if uniq:
            conn.execute(
                insert(t.annotation_concepts),
                [{"annotation_pk": pk, "concept_id": c, "value": v, "app_pk": app_pk} for c, v in uniq.items()],
            )
    return pks


def input_level_of(conn: Connection, input_pks: Collection[int]) -> dict[int, Row[Any]]:
    """The input-level annotation of each input (at most one per input)."""
    out: dict[int, Row[Any]] = {}
    pk_list = list(input_pks)
    for i in range(0, len(pk_list), 500):
        q = select(t.annotations).where(A.input_pk.in_(pk_list[i : i + 500]), A.input_level.is_(True))
        out.update({r.input_pk: r for r in conn.execute(q)})
    return out


def concepts_of(conn: Connection, annotation_pks: Collection[int]) -> dict[int, list[tuple[str, float]]]:
    out: dict[int, list[tuple[str, float]]] = defaultdict(list)
    pk_list = list(annotation_pks)
    for i in range(0, len(pk_list), 500):
        q = select(t.annotation_concepts).where(t.annotation_concepts.c.annotation_pk.in_(pk_list[i : i + 500]))
        for r in conn.execute(q):
            out[r.annotation_pk].append((r.concept_id, r.value))
    return out

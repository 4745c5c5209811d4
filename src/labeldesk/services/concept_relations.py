"""Concept relations: PostConceptRelations, ListConceptRelations, DeleteConceptRelations.

A relation links two concepts of the app: ``hypernym`` (the object is a broader concept),
``hyponym`` (a narrower one) or ``synonym``. Listing a concept's relations shows those where it
is the object too, seen from its side (a hypernym of it is answered as its hyponym relation
inverted), as Clarifai's knowledge graph does.
"""

from __future__ import annotations

from typing import Any

from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_pb2
from sqlalchemy import Connection, Row

from labeldesk.domain import errors
from labeldesk.services import registry as rpc
from labeldesk.services.common import new_id, page_of
from labeldesk.services.concepts import concept_proto
from labeldesk.services.context import RequestContext
from labeldesk.storage.repos import concept_relations as repo
from labeldesk.storage.repos import concepts as concepts_repo

PREDICATES = ("hypernym", "hyponym", "synonym")
INVERSE = {"hypernym": "hyponym", "hyponym": "hypernym", "synonym": "synonym"}


def _relation_proto(
    row: Row[Any], seen_from: str, concepts: dict[str, Row[Any]], ctx: RequestContext
) -> resources_pb2.ConceptRelation:
    subject, obj, predicate = row.subject_id, row.object_id, row.predicate
    if seen_from and subject != seen_from:  # the concept is the object: show it from its side
        subject, obj, predicate = obj, subject, INVERSE[predicate]
    return resources_pb2.ConceptRelation(
        id=row.id,
        subject_concept=concept_proto(concepts[subject], ctx),
        object_concept=concept_proto(concepts[obj], ctx),
        predicate=predicate,
    )


def _require_concept(conn: Connection, app_pk: int, concept_id: str, where: str) -> None:
    if not concept_id:
        raise errors.invalid(f"{where}: give the concept's id")
    if concepts_repo.missing(conn, app_pk, [concept_id]):
        raise errors.ApiError(errors.DOES_NOT_EXIST, f"{where}: concept '{concept_id}' does not exist")


class ConceptRelationsService:
    @rpc.write("PostConceptRelations")
    def post_concept_relations(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.PostConceptRelationsRequest
    ) -> service_pb2.MultiConceptRelationResponse:
        app = ctx.require_app()
        _require_concept(conn, app.pk, req.concept_id, "concept_id")
        if not req.concept_relations:
            raise errors.invalid(
                "concept_relations: give at least one relation",
                '{"concept_relations": [{"object_concept": {"id": "animal"}, "predicate": "hypernym"}]}',
            )
        rows = []
        for i, rel in enumerate(req.concept_relations):
            where = f"concept_relations[{i}]"
            if rel.predicate not in PREDICATES:
                raise errors.invalid(
                    f"{where}.predicate: '{rel.predicate}' is not a relation",
                    f"use one of {', '.join(PREDICATES)}",
                )
            _require_concept(conn, app.pk, rel.object_concept.id, f"{where}.object_concept.id")
            if rel.object_concept.id == req.concept_id:
                raise errors.invalid(f"{where}.object_concept.id: a concept cannot be related to itself")
            rows.append(
                {
                    "id": new_id(),
                    "subject_id": req.concept_id,
                    "object_id": rel.object_concept.id,
                    "predicate": rel.predicate,
                }
            )
        repo.insert_many(conn, app.pk, rows)
        concepts = concepts_repo.get_many(conn, app.pk, {req.concept_id, *(r["object_id"] for r in rows)})
        made = repo.by_ids(conn, app.pk, [r["id"] for r in rows])
        return service_pb2.MultiConceptRelationResponse(
            concept_relations=[_relation_proto(r, req.concept_id, concepts, ctx) for r in made]
        )

    @rpc.read("ListConceptRelations")
    def list_concept_relations(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.ListConceptRelationsRequest
    ) -> service_pb2.MultiConceptRelationResponse:
        app = ctx.require_app()
        if req.concept_id:
            _require_concept(conn, app.pk, req.concept_id, "concept_id")
        page = page_of(req.page, req.per_page)
        rows = repo.involving(conn, app.pk, req.concept_id, 0, 10**9)
        shown = [
            r
            for r in rows
            if not req.predicate
            or (r.predicate if r.subject_id == req.concept_id or not req.concept_id else INVERSE[r.predicate])
            == req.predicate
        ][page.offset : page.offset + page.per_page]
        concepts = concepts_repo.get_many(
            conn, app.pk, {c for r in shown for c in (r.subject_id, r.object_id)}
        )
        return service_pb2.MultiConceptRelationResponse(
            concept_relations=[_relation_proto(r, req.concept_id, concepts, ctx) for r in shown]
        )

    @rpc.write("DeleteConceptRelations")
    def delete_concept_relations(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.DeleteConceptRelationsRequest
    ) -> status_pb2.BaseResponse:
        app = ctx.require_app()
        if not req.ids:
            raise errors.invalid("ids: give the ids of the relations to delete")
        absent = sorted(set(req.ids) - repo.existing(conn, app.pk, req.ids))
        if absent:
            raise errors.ApiError(
                errors.DOES_NOT_EXIST, f"ids: concept relation(s) {absent[:10]} do not exist"
            )
        repo.delete_ids(conn, app.pk, req.ids)
        return status_pb2.BaseResponse()

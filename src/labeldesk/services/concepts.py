"""Concepts: PostConcepts, GetConcept, ListConcepts, PatchConcepts."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from sqlalchemy import Connection, Row

from labeldesk.domain import errors
from labeldesk.services import registry as rpc
from labeldesk.services.common import (
    dict_to_struct,
    new_ids,
    page_of,
    require_one,
    require_unique,
    struct_to_dict,
    timestamp,
)
from labeldesk.services.context import RequestContext
from labeldesk.storage import tables as t
from labeldesk.storage.repos import concepts as repo
from labeldesk.storage.repos import multirow


def concept_proto(row: Row[Any], ctx: RequestContext) -> resources_pb2.Concept:
    app = ctx.require_app()
    c = resources_pb2.Concept(
        id=row.id,
        name=row.name or row.id,
        value=1.0,
        language=row.language,
        definition=row.definition,
        app_id=app.id,
        user_id=app.owner_id,
        created_at=timestamp(row.created_at),
    )
    dict_to_struct(row.metadata, c.metadata)
    return c


def require_concepts(conn: Connection, app_pk: int, ids: list[str], where: str) -> None:
    """Refuse a request that names concepts the app does not have, listing all of them."""
    absent = repo.missing(conn, app_pk, ids)
    if absent:
        raise errors.ApiError(
            errors.INVALID_REQUEST,
            f"{where}: concept(s) {', '.join(repr(a) for a in absent)} do not exist in this app",
            "create them first with PostConcepts (POST /v2/concepts)",
        )


MAX_CONCEPT_ID = 128


def check_concept_id(cid: str, where: str) -> None:
    """Concepts made on the fly keep the id a client gives, spaces included (the SDK uses a label
    such as "red car" as its id): 1-128 characters, none of them a control character."""
    if len(cid) > MAX_CONCEPT_ID or any(ch < " " or ch == "\x7f" for ch in cid):
        raise errors.invalid(
            f"{where}: {cid[:60]!r} is not a valid concept id",
            f"concept ids are 1-{MAX_CONCEPT_ID} characters without control characters",
        )


def ensure_concepts(conn: Connection, app_pk: int, named: Iterable[tuple[str, str, str]]) -> dict[str, str]:
    """Create on the fly, as Clarifai does, the concepts a write names that the app lacks.

    ``named`` holds ``(field path, concept id, name given or "")``; a new concept is named after
    its id unless a name is given (existing concepts keep theirs). Answers id → display name of
    every concept named."""
    given: dict[str, str] = {}
    for where, cid, name in named:
        if not cid:
            raise errors.invalid(f"{where}.id: every concept needs an id", 'e.g. {"id": "cat", "value": 1}')
        check_concept_id(cid, f"{where}.id")
        if not given.get(cid):
            given[cid] = name
    names = multirow.by_ids(conn, t.concepts, app_pk, list(given), "name")
    new = {cid: name or cid for cid, name in given.items() if cid not in names}
    repo.insert_missing(
        conn, app_pk, [{"id": cid, "name": name, "language": "en"} for cid, name in new.items()]
    )
    return {cid: (names[cid] or cid) if cid in names else new[cid] for cid in given}


class ConceptsService:
    @rpc.write("PostConcepts")
    def post_concepts(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.PostConceptsRequest
    ) -> service_pb2.MultiConceptResponse:
        app = ctx.require_app()
        ids = new_ids("concept", "concepts", req.concepts, lambda ids: repo.get_many(conn, app.pk, ids))
        repo.insert_many(
            conn,
            app.pk,
            [
                {
                    "id": cid,
                    "name": c.name or cid,
                    "language": c.language or "en",
                    "definition": c.definition,
                    "metadata": struct_to_dict(c.metadata),
                }
                for c, cid in zip(req.concepts, ids)
            ],
        )
        rows = repo.get_many(conn, app.pk, ids)
        return service_pb2.MultiConceptResponse(concepts=[concept_proto(rows[i], ctx) for i in ids])

    @rpc.read("GetConcept")
    def get_concept(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.GetConceptRequest
    ) -> service_pb2.SingleConceptResponse:
        row = require_one(
            repo.get_many(conn, ctx.require_app().pk, [req.concept_id]), "concept", req.concept_id
        )
        return service_pb2.SingleConceptResponse(concept=concept_proto(row, ctx))

    @rpc.read("ListConcepts")
    def list_concepts(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.ListConceptsRequest
    ) -> service_pb2.MultiConceptResponse:
        page = page_of(req.page, req.per_page)
        rows = repo.page(conn, ctx.require_app().pk, page.offset, page.per_page, req.id)
        return service_pb2.MultiConceptResponse(concepts=[concept_proto(r, ctx) for r in rows])

    @rpc.write("PatchConcepts")
    def patch_concepts(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.PatchConceptsRequest
    ) -> service_pb2.MultiConceptResponse:
        app = ctx.require_app()
        action = req.action or "overwrite"
        if action not in ("overwrite", "merge"):
            raise errors.invalid(
                f"action '{req.action}' is not supported for concepts", "use 'overwrite' or 'merge'"
            )
        ids = [c.id for c in req.concepts]
        if not ids or not all(ids):
            raise errors.invalid("concepts: every concept to patch needs its id")
        require_unique("concept", ids, "concepts")
        absent = repo.missing(conn, app.pk, ids)
        if absent:
            raise errors.not_found("concept", absent[0])
        for c in req.concepts:
            values: dict[str, Any] = {}
            if c.name:
                values["name"] = c.name
            if c.definition:
                values["definition"] = c.definition
            if c.metadata.fields:
                values["metadata"] = struct_to_dict(c.metadata)
            if values:
                repo.update_one(conn, app.pk, c.id, **values)
        rows = repo.get_many(conn, app.pk, ids)
        return service_pb2.MultiConceptResponse(concepts=[concept_proto(rows[i], ctx) for i in ids])

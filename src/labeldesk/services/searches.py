"""Searches: PostSearches (run a query, or save it with ``save: true``), PostSearchesByID,
ListSearches, GetSearch, PatchSearches, DeleteSearch.

Saved searches are what a task's ``input_source`` of type SAVED_SEARCH points at; they are
resolved at the time work is handed out, so inputs added later are picked up.
"""

from __future__ import annotations

from typing import Any

from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_pb2
from sqlalchemy import Connection, Row

from labeldesk.domain import errors
from labeldesk.domain.search_query import Criterion
from labeldesk.services import registry as rpc
from labeldesk.services.common import check_id, page_of, require_one, struct_to_dict, timestamp
from labeldesk.services.context import RequestContext
from labeldesk.services.inputs import input_protos
from labeldesk.storage.repos import inputs as inputs_repo
from labeldesk.storage.repos import searches as repo


def _criterion(
    negate: bool, annotation: resources_pb2.Annotation | None, inp: resources_pb2.Input | None, where: str
) -> Criterion:
    concepts: list[tuple[str, bool]] = []
    metadata: dict[str, Any] = {}
    for data in [
        d for d in (annotation.data if annotation else None, inp.data if inp else None) if d is not None
    ]:
        for c in data.concepts:
            if not c.id:
                raise errors.invalid(
                    f"{where}: filter by concept needs the concept id", "names are not matched"
                )
            concepts.append((c.id, c.value > 0))
        if data.metadata.fields:
            metadata.update(struct_to_dict(data.metadata) or {})
        if data.image.url or data.image.base64 or data.embeddings:
            raise errors.ApiError(
                errors.INVALID_REQUEST,
                f"{where}: visual similarity search needs a model, which labeldesk does not run",
                "filter by concepts, metadata, dataset_ids or input id",
            )
    return Criterion(
        negate=negate,
        concepts=tuple(concepts),
        metadata=metadata,
        dataset_ids=tuple(inp.dataset_ids) if inp else (),
        input_id=inp.id if inp else "",
    )


def criteria_of(query: resources_pb2.Query) -> list[Criterion]:
    out: list[Criterion] = []
    for i, f in enumerate(query.filters):
        out.append(
            _criterion(
                f.negate,
                f.annotation if f.HasField("annotation") else None,
                f.input if f.HasField("input") else None,
                f"query.filters[{i}]",
            )
        )
    for i, r in enumerate(query.ranks):
        out.append(
            _criterion(
                r.negate, r.annotation if r.HasField("annotation") else None, None, f"query.ranks[{i}]"
            )
        )
    for i, a in enumerate(query.ands):
        inp = a.output.input if a.HasField("output") else (a.input if a.HasField("input") else None)
        out.append(
            _criterion(a.negate, a.annotation if a.HasField("annotation") else None, inp, f"query.ands[{i}]")
        )
    return [c for c in out if not c.is_empty()]


def saved_search_input_pks(conn: Connection, app_pk: int, search_id: str) -> list[int]:
    """The inputs a saved search selects now (task input sources call this)."""
    row = require_one(repo.by_ids(conn, app_pk, [search_id]), "saved search", search_id)
    return repo.matching_input_pks(conn, app_pk, criteria_of(resources_pb2.Query.FromString(row.query)))


def _search_proto(row: Row[Any], ctx: RequestContext) -> resources_pb2.Search:
    return resources_pb2.Search(
        id=row.id,
        name=row.name,
        query=resources_pb2.Query.FromString(row.query),
        application_id=ctx.require_app().id,
        save=True,
        created_at=timestamp(row.created_at),
        modified_at=timestamp(row.modified_at),
    )


class SearchesService:
    @rpc.write("PostSearches")
    def post_searches(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.PostSearchesRequest
    ) -> service_pb2.MultiSearchResponse:
        app = ctx.require_app()
        if req.HasField("query") and not req.searches:
            return self._run(conn, ctx, req.query, req.pagination)
        if len(req.searches) != 1:
            raise errors.invalid("searches: give exactly one search (or a top-level 'query' to run)")
        s = req.searches[0]
        criteria_of(s.query)  # refuse what cannot be run before saving it
        if not s.save:
            return self._run(conn, ctx, s.query, req.pagination)
        search_id = check_id("search", s.id, "searches[0].id")
        if repo.by_ids(conn, app.pk, [search_id]):
            raise errors.ApiError(errors.DUPLICATE_KEY, f"saved search '{search_id}' already exists")
        repo.insert_one(conn, app.pk, search_id, s.name, s.query.SerializeToString())
        row = repo.by_ids(conn, app.pk, [search_id])[search_id]
        out = self._run(conn, ctx, s.query, req.pagination)
        out.id = search_id
        out.searches.append(_search_proto(row, ctx))
        return out

    def _run(
        self,
        conn: Connection,
        ctx: RequestContext,
        query: resources_pb2.Query,
        pagination: resources_pb2.Pagination,
    ) -> service_pb2.MultiSearchResponse:
        app = ctx.require_app()
        page = page_of(pagination.page, pagination.per_page)
        pks = repo.matching_input_pks(conn, app.pk, criteria_of(query))[
            page.offset : page.offset + page.per_page
        ]
        rows = inputs_repo.by_pks(conn, pks)
        protos = input_protos(conn, [rows[p] for p in pks])
        return service_pb2.MultiSearchResponse(
            query=query,
            hits=[resources_pb2.Hit(score=1.0, input=p, app_id=app.id, user_id=app.owner_id) for p in protos],
        )

    @rpc.write("PostSearchesByID")
    def post_searches_by_id(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.PostSearchesByIDRequest
    ) -> service_pb2.MultiSearchResponse:
        row = require_one(repo.by_ids(conn, ctx.require_app().pk, [req.id]), "saved search", req.id)
        out = self._run(conn, ctx, resources_pb2.Query.FromString(row.query), req.pagination)
        out.id = req.id
        return out

    @rpc.read("GetSearch")
    def get_search(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.GetSearchRequest
    ) -> service_pb2.SingleSearchResponse:
        row = require_one(repo.by_ids(conn, ctx.require_app().pk, [req.id]), "saved search", req.id)
        return service_pb2.SingleSearchResponse(search=_search_proto(row, ctx))

    @rpc.read("ListSearches")
    def list_searches(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.ListSearchesRequest
    ) -> service_pb2.MultiSearchResponse:
        page = page_of(req.page, req.per_page)
        rows = repo.page(conn, ctx.require_app().pk, page.offset, page.per_page)
        return service_pb2.MultiSearchResponse(searches=[_search_proto(r, ctx) for r in rows])

    @rpc.write("PatchSearches")
    def patch_searches(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.PatchSearchesRequest
    ) -> service_pb2.MultiSearchResponse:
        app = ctx.require_app()
        out = service_pb2.MultiSearchResponse()
        for s in req.searches:
            require_one(repo.by_ids(conn, app.pk, [s.id]), "saved search", s.id)
            values: dict[str, Any] = {}
            if s.name:
                values["name"] = s.name
            if s.HasField("query"):
                criteria_of(s.query)
                values["query"] = s.query.SerializeToString()
            repo.update_one(conn, app.pk, s.id, **values)
            out.searches.append(_search_proto(repo.by_ids(conn, app.pk, [s.id])[s.id], ctx))
        return out

    @rpc.write("DeleteSearch")
    def delete_search(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.DeleteSearchRequest
    ) -> status_pb2.BaseResponse:
        if not repo.delete_one(conn, ctx.require_app().pk, req.id):
            raise errors.not_found("saved search", req.id)
        return status_pb2.BaseResponse()

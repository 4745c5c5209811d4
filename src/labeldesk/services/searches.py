"""Searches: PostSearches (run a query, or save it with ``save: true``), PostSearchesByID,
ListSearches, GetSearch, PatchSearches, DeleteSearch, and the newer PostInputsSearches /
PostAnnotationsSearches (what the ``clarifai`` SDK's ``app.search()`` calls) on the same engine.
Which filters run is the rule of ``domain/search_query.py``.

Saved searches are what a task's ``input_source`` of type SAVED_SEARCH points at; they are
resolved at the time work is handed out, so inputs added later are picked up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_pb2
from sqlalchemy import Connection, Row

from labeldesk.domain import errors
from labeldesk.domain.search_query import Criterion, criteria_of
from labeldesk.services import registry as rpc
from labeldesk.services.annotation_views import annotation_proto
from labeldesk.services.common import check_id, page_of, require_one, timestamp
from labeldesk.services.context import RequestContext
from labeldesk.services.inputs import input_protos
from labeldesk.storage.repos import annotations as annotations_repo
from labeldesk.storage.repos import concepts as concepts_repo
from labeldesk.storage.repos import inputs as inputs_repo
from labeldesk.storage.repos import searches as repo


def saved_search_input_pks(conn: Connection, app_pk: int, search_id: str) -> list[int]:
    """The inputs a saved search selects now (task input sources call this)."""
    row = require_one(repo.by_ids(conn, app_pk, [search_id]), "saved search", search_id)
    return repo.matching_input_pks(conn, app_pk, criteria_of(resources_pb2.Query.FromString(row.query)))


@dataclass(frozen=True)
class AnnotationSearch:
    """What a query selects, for readers that walk inputs and annotations themselves (dataset
    versions): the matching inputs, and whether one annotation meets the annotation filters."""

    input_pks: frozenset[int]
    criteria: tuple[Criterion, ...]
    names: dict[str, set[str]]
    statuses_given: bool  # an annotation filter names a status (else: approved ones only)

    def meets(self, row: Row[Any], concepts: Sequence[tuple[str, float]]) -> bool:
        return all(_annotation_meets(row, concepts, c, self.names) for c in self.criteria)


def annotation_search(conn: Connection, app_pk: int, search: resources_pb2.Search) -> AnnotationSearch:
    """A search given by its query, or by the id of a saved search, ready to filter with."""
    query = search.query
    if not query.ByteSize() and search.id:
        query = resources_pb2.Query.FromString(
            require_one(repo.by_ids(conn, app_pk, [search.id]), "saved search", search.id).query
        )
    criteria = criteria_of(query)
    wanted = tuple(repo.annotation_filters(criteria))
    return AnnotationSearch(
        input_pks=frozenset(repo.matching_input_pks(conn, app_pk, criteria)),
        criteria=wanted,
        names=_concept_ids_by_name(conn, app_pk, wanted),
        statuses_given=any(c.annotation_status for c in wanted),
    )


def _one_query(searches: Sequence[resources_pb2.Search]) -> resources_pb2.Query:
    if len(searches) != 1:
        raise errors.invalid(
            f"searches: give exactly one search to run, got {len(searches)}",
            'e.g. {"searches": [{"query": {"filters": [{"annotation": {"user_id": "alice"}}]}}]}',
        )
    return searches[0].query


def _concept_ids_by_name(conn: Connection, app_pk: int, criteria: Sequence[Criterion]) -> dict[str, set[str]]:
    """Concept name → ids of the app's concepts so named, for the concepts filtered by name."""
    names = {ref.name for c in criteria for ref in c.concepts if not ref.id}
    return concepts_repo.ids_by_name(conn, app_pk, names) if names else {}


def _annotation_meets(
    row: Row[Any], concepts: Sequence[tuple[str, float]], c: Criterion, by_name: dict[str, set[str]]
) -> bool:
    """Whether one annotation meets an annotation filter's fields and concepts."""
    if c.annotation_user_id and row.user_id != c.annotation_user_id:
        return False
    if c.annotation_status and row.status != c.annotation_status:
        return False
    if c.annotation_task_id and row.task_id != c.annotation_task_id:
        return False
    if c.annotated and not annotations_repo.is_made_by_a_person(row, concepts):
        return False
    values = dict(concepts)
    for ref in c.concepts:
        ids = {ref.id} if ref.id else by_name.get(ref.name, set())
        if not any(i in values and (values[i] > 0) == ref.present for i in ids):
            return False
    return True


def annotation_hits_in_python(conn: Connection, app_pk: int, criteria: Sequence[Criterion]) -> list[Row[Any]]:
    """Every annotation an annotation search selects, oldest first, filtered in Python (for
    searches with a metadata or type filter; also the reference the SQL path is tested against)."""
    wanted = repo.annotation_filters(criteria)
    names = _concept_ids_by_name(conn, app_pk, wanted)
    rows = annotations_repo.on_inputs(conn, repo.matching_input_pks(conn, app_pk, criteria))
    concepts = annotations_repo.concepts_of(conn, [r.pk for r in rows]) if wanted else {}
    hits = [r for r in rows if all(_annotation_meets(r, concepts.get(r.pk, []), c, names) for c in wanted)]
    return sorted(hits, key=lambda r: int(r.pk))


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
        pks = repo.matching_page_pks(conn, app.pk, criteria_of(query), page.offset, page.per_page)
        rows = inputs_repo.by_pks(conn, pks)
        protos = input_protos(conn, [rows[p] for p in pks], ctx.files)
        return service_pb2.MultiSearchResponse(
            query=query,
            hits=[resources_pb2.Hit(score=1.0, input=p, app_id=app.id, user_id=app.owner_id) for p in protos],
        )

    @rpc.read("PostInputsSearches")
    def post_inputs_searches(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.PostInputsSearchesRequest
    ) -> service_pb2.MultiSearchResponse:
        query = _one_query(req.searches)
        if req.only_count:
            n = repo.count_matching(conn, ctx.require_app().pk, criteria_of(query))
            return service_pb2.MultiSearchResponse(
                query=query, hit_counts=[resources_pb2.HitCount(estimated_total=n)]
            )
        return self._run(conn, ctx, query, req.pagination)

    @rpc.read("PostAnnotationsSearches")
    def post_annotations_searches(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.PostAnnotationsSearchesRequest
    ) -> service_pb2.MultiSearchResponse:
        """The annotations meeting every annotation filter, on the inputs meeting every filter.

        One SQL query picks the page (OFFSET/LIMIT) unless a metadata or input-type filter needs
        matching in Python; then every match is loaded and the page cut from the list."""
        app = ctx.require_app()
        query = _one_query(req.searches)
        criteria = criteria_of(query)
        page = page_of(req.pagination.page, req.pagination.per_page)
        if repo.in_sql(criteria):
            rows = repo.matching_annotation_page(conn, app.pk, criteria, page.offset, page.per_page)
        else:
            rows = annotation_hits_in_python(conn, app.pk, criteria)[
                page.offset : page.offset + page.per_page
            ]
        return service_pb2.MultiSearchResponse(
            query=query,
            hits=[
                resources_pb2.Hit(
                    score=1.0, annotation=annotation_proto(r._mapping), app_id=app.id, user_id=app.owner_id
                )
                for r in rows
            ],
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

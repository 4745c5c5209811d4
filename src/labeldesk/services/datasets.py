"""Datasets: PostDatasets, GetDataset, ListDatasets, PatchDatasets, DeleteDatasets,
PostDatasetInputs, ListDatasetInputs, DeleteDatasetInputs."""

from __future__ import annotations

from typing import Any

from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_pb2
from sqlalchemy import Connection, Row

from labeldesk.domain import errors
from labeldesk.domain.search_query import criteria_of
from labeldesk.services import registry as rpc
from labeldesk.services.common import (
    dict_to_struct,
    new_ids,
    page_of,
    require_one,
    struct_to_dict,
    timestamp,
)
from labeldesk.services.context import RequestContext
from labeldesk.services.inputs import _require_inputs, input_protos
from labeldesk.services.searches import saved_search_input_pks
from labeldesk.storage.repos import assignments as seats_repo
from labeldesk.storage.repos import datasets as repo
from labeldesk.storage.repos import inputs as inputs_repo
from labeldesk.storage.repos import searches as searches_repo


def dataset_proto(row: Row[Any], ctx: RequestContext) -> resources_pb2.Dataset:
    app = ctx.require_app()
    return _dataset_proto(row, app.id, app.owner_id)


def _dataset_proto(row: Row[Any], app_id: str, owner_id: str) -> resources_pb2.Dataset:
    d = resources_pb2.Dataset(
        id=row.id,
        app_id=app_id,
        user_id=owner_id,
        description=row.description,
        created_at=timestamp(row.created_at),
        modified_at=timestamp(row.modified_at),
    )
    dict_to_struct(row.metadata, d.metadata)
    return d


def require_dataset(conn: Connection, app_pk: int, dataset_id: str) -> Row[Any]:
    return require_one(repo.by_ids(conn, app_pk, [dataset_id]), "dataset", dataset_id)


class DatasetsService:
    @rpc.write("PostDatasets")
    def post_datasets(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.PostDatasetsRequest
    ) -> service_pb2.MultiDatasetResponse:
        app = ctx.require_app()
        ids = new_ids("dataset", "datasets", req.datasets, lambda ids: repo.by_ids(conn, app.pk, ids))
        repo.insert_many(
            conn,
            app.pk,
            [
                {"id": i, "description": d.description, "metadata": struct_to_dict(d.metadata)}
                for d, i in zip(req.datasets, ids)
            ],
        )
        rows = repo.by_ids(conn, app.pk, ids)
        return service_pb2.MultiDatasetResponse(datasets=[dataset_proto(rows[i], ctx) for i in ids])

    @rpc.read("GetDataset")
    def get_dataset(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.GetDatasetRequest
    ) -> service_pb2.SingleDatasetResponse:
        return service_pb2.SingleDatasetResponse(
            dataset=dataset_proto(require_dataset(conn, ctx.require_app().pk, req.dataset_id), ctx)
        )

    @rpc.user_level
    @rpc.read("ListDatasets")
    def list_datasets(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.ListDatasetsRequest
    ) -> service_pb2.MultiDatasetResponse:
        """An app's datasets; without an app (``GET /v2/users/{user_id}/datasets`` with a PAT) the
        datasets of every app the caller owns, as Clarifai lists a user's datasets."""
        page = page_of(req.page, req.per_page)
        if ctx.app is None:
            owner = req.user_app_id.user_id
            if owner not in ("", "me", ctx.caller_id):
                raise errors.ApiError(
                    errors.DOES_NOT_EXIST,
                    f"you ('{ctx.caller_id}') cannot list the datasets of user '{owner}'",
                    "use 'me' or your own user id, or name an app you collaborate on",
                )
            mine = repo.page_of_owner(conn, ctx.caller_id, page.offset, page.per_page)
            return service_pb2.MultiDatasetResponse(
                datasets=[_dataset_proto(r, r.app_id, ctx.caller_id) for r in mine]
            )
        rows = repo.page(conn, ctx.require_app().pk, page.offset, page.per_page)
        return service_pb2.MultiDatasetResponse(datasets=[dataset_proto(r, ctx) for r in rows])

    @rpc.write("PatchDatasets")
    def patch_datasets(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.PatchDatasetsRequest
    ) -> service_pb2.MultiDatasetResponse:
        app = ctx.require_app()
        ids = [d.id for d in req.datasets]
        rows = {i: require_dataset(conn, app.pk, i) for i in ids}
        for d in req.datasets:
            values: dict[str, Any] = {}
            if d.description:
                values["description"] = d.description
            if d.metadata.fields:
                values["metadata"] = struct_to_dict(d.metadata)
            repo.update_one(conn, rows[d.id].pk, **values)
        fresh = repo.by_ids(conn, app.pk, ids)
        return service_pb2.MultiDatasetResponse(datasets=[dataset_proto(fresh[i], ctx) for i in ids])

    @rpc.write("DeleteDatasets")
    def delete_datasets(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.DeleteDatasetsRequest
    ) -> status_pb2.BaseResponse:
        app = ctx.require_app()
        rows = [require_dataset(conn, app.pk, i) for i in req.dataset_ids]
        if not rows:
            raise errors.invalid("dataset_ids: give the ids of the datasets to delete")
        for r in rows:  # its tasks hand out none of its inputs any more (started work stays)
            seats_repo.drop_unstarted_seats(conn, app.pk, r.id)
        repo.delete_pks(conn, [r.pk for r in rows])
        return status_pb2.BaseResponse()

    @rpc.write("PostDatasetInputs")
    def post_dataset_inputs(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.PostDatasetInputsRequest
    ) -> service_pb2.MultiDatasetInputResponse:
        app = ctx.require_app()
        ds = require_dataset(conn, app.pk, req.dataset_id)
        if req.HasField("search"):
            return self._add_search_results(conn, app.pk, ds.pk, req)
        ids = [di.input.id for di in req.dataset_inputs]
        if not ids or not all(ids):
            raise errors.invalid('dataset_inputs: give at least one {"input": {"id": ...}}')
        found = _require_inputs(conn, app.pk, ids, "dataset_inputs")
        repo.add_inputs(conn, app.pk, ds.pk, [found[i].pk for i in ids])
        protos = {p.id: p for p in input_protos(conn, list(found.values()), ctx.files)}
        return service_pb2.MultiDatasetInputResponse(
            dataset_inputs=[resources_pb2.DatasetInput(input=protos[i]) for i in dict.fromkeys(ids)]
        )

    def _add_search_results(
        self, conn: Connection, app_pk: int, dataset_pk: int, req: service_pb2.PostDatasetInputsRequest
    ) -> service_pb2.MultiDatasetInputResponse:
        """PostDatasetInputs with a ``search`` (the SDK's ``merge_dataset``): add every input the
        search (a query, or a saved search by id) selects; answers the inputs' ids."""
        if req.dataset_inputs:
            raise errors.invalid("give either dataset_inputs or search, not both")
        search = req.search
        if search.HasField("query"):
            pks = searches_repo.matching_input_pks(conn, app_pk, criteria_of(search.query))
        elif search.id:
            pks = saved_search_input_pks(conn, app_pk, search.id)
        else:
            raise errors.invalid("search: give a query or the id of a saved search")
        repo.add_inputs(conn, app_pk, dataset_pk, pks)
        ids = inputs_repo.ids_of(conn, pks)
        return service_pb2.MultiDatasetInputResponse(
            dataset_inputs=[resources_pb2.DatasetInput(input=resources_pb2.Input(id=ids[p])) for p in pks]
        )

    @rpc.read("ListDatasetInputs")
    def list_dataset_inputs(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.ListDatasetInputsRequest
    ) -> service_pb2.MultiDatasetInputResponse:
        ds = require_dataset(conn, ctx.require_app().pk, req.dataset_id)
        page = page_of(req.page, req.per_page)
        rows = repo.members_page(conn, ds.pk, page.offset, page.per_page)
        protos = input_protos(conn, rows, ctx.files)
        return service_pb2.MultiDatasetInputResponse(
            dataset_inputs=[
                resources_pb2.DatasetInput(input=p, created_at=timestamp(r.added_at))
                for p, r in zip(protos, rows)
            ]
        )

    @rpc.write("DeleteDatasetInputs")
    def delete_dataset_inputs(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.DeleteDatasetInputsRequest
    ) -> status_pb2.BaseResponse:
        app = ctx.require_app()
        ds = require_dataset(conn, app.pk, req.dataset_id)
        found = _require_inputs(conn, app.pk, list(req.input_ids), "input_ids")
        pks = [r.pk for r in found.values()]
        repo.remove_inputs(conn, ds.pk, pks)
        seats_repo.drop_unstarted_seats(conn, app.pk, ds.id, pks)
        return status_pb2.BaseResponse()

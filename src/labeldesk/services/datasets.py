"""Datasets: PostDatasets, GetDataset, ListDatasets, PatchDatasets, DeleteDatasets,
PostDatasetInputs, ListDatasetInputs, DeleteDatasetInputs."""

from __future__ import annotations

from typing import Any

from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_pb2
from sqlalchemy import Connection, Row

from labeldesk.domain import errors
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
from labeldesk.storage.repos import assignments as seats_repo
from labeldesk.storage.repos import datasets as repo


def dataset_proto(row: Row[Any], ctx: RequestContext) -> resources_pb2.Dataset:
    app = ctx.require_app()
    d = resources_pb2.Dataset(
        id=row.id,
        app_id=app.id,
        user_id=app.owner_id,
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

    @rpc.read("ListDatasets")
    def list_datasets(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.ListDatasetsRequest
    ) -> service_pb2.MultiDatasetResponse:
        page = page_of(req.page, req.per_page)
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
        ids = [di.input.id for di in req.dataset_inputs]
        if not ids or not all(ids):
            raise errors.invalid('dataset_inputs: give at least one {"input": {"id": ...}}')
        found = _require_inputs(conn, app.pk, ids, "dataset_inputs")
        repo.add_inputs(conn, ds.pk, [found[i].pk for i in ids])
        protos = {p.id: p for p in input_protos(conn, list(found.values()), ctx.files)}
        return service_pb2.MultiDatasetInputResponse(
            dataset_inputs=[resources_pb2.DatasetInput(input=protos[i]) for i in dict.fromkeys(ids)]
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

"""Dataset versions: PostDatasetVersions, GetDatasetVersion, ListDatasetVersions,
PatchDatasetVersions, DeleteDatasetVersions, PutDatasetVersionExports.

A version is a frozen snapshot: PostDatasetVersions copies every input of the dataset, with its
input-level concepts and the regions of its approved (ANNOTATION_SUCCESS) annotations, into
``dataset_version_inputs`` in the same transaction, so later edits never change it.
``annotation_filter_config.ignore_empty_inputs`` leaves out inputs with neither concepts nor
regions; ``annotation_filter.search`` (a query, or a saved search's id) keeps only the dataset's
inputs the search finds and, of their annotations, those meeting its annotation filters (approved
ones unless a filter names a status). PutDatasetVersionExports queues one background job per format
(:mod:`labeldesk.jobs.version_exports`) and answers the export's status; asked again, it answers
the status so far, and once built, a signed URL of labeldesk's ``/exports`` route.
"""

from __future__ import annotations

from typing import Any

from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2, status_pb2
from google.protobuf import wrappers_pb2
from sqlalchemy import Connection, Row

from labeldesk.domain import errors
from labeldesk.services import dataset_export as snap
from labeldesk.services import registry as rpc
from labeldesk.services.common import (
    check_id,
    dict_to_struct,
    page_of,
    require_one,
    struct_to_dict,
    timestamp,
)
from labeldesk.services.context import RequestContext
from labeldesk.services.datasets import require_dataset
from labeldesk.services.export_links import ExportLinks
from labeldesk.services.searches import AnnotationSearch, annotation_search
from labeldesk.storage.repos import annotations as ann_repo
from labeldesk.storage.repos import dataset_versions as repo
from labeldesk.storage.repos import jobs as jobs_repo

SC = status_code_pb2
EXPORT_KIND = "dataset_version_export"  # the job that builds an archive (jobs/version_exports.py)
FORMATS = {
    resources_pb2.CLARIFAI_DATA_PROTOBUF: "clarifai_data_protobuf",
    resources_pb2.CLARIFAI_DATA_JSON: "clarifai_data_json",
    resources_pb2.COCO: "coco",
}
FORMAT_ENUMS = {name: enum for enum, name in FORMATS.items()}
EXPORT_DESCRIPTIONS = {
    SC.DATASET_VERSION_EXPORT_PENDING: "Export is pending",
    SC.DATASET_VERSION_EXPORT_IN_PROGRESS: "Export is in progress",
    SC.DATASET_VERSION_EXPORT_SUCCESS: "Export succeeded",
    SC.DATASET_VERSION_EXPORT_FAILED: "Export failed",
}


def _metrics(inputs: list[resources_pb2.Input]) -> dict[str, int]:
    m = dict.fromkeys(
        (
            "inputs_count", "unlabeled_inputs_count", "inputs_with_metadata_count", "regions_count",
            "region_inputs_count", "bounding_boxes_count", "polygons_count", "masks_count",
            "positive_input_tags_count", "positive_region_tags_count",
        ),
        0,
    )  # fmt: skip
    for i in inputs:
        d = i.data
        m["inputs_count"] += 1
        m["unlabeled_inputs_count"] += not d.concepts and not d.regions
        m["inputs_with_metadata_count"] += bool(d.metadata.fields)
        m["regions_count"] += len(d.regions)
        m["region_inputs_count"] += bool(d.regions)
        m["positive_input_tags_count"] += sum(c.value > 0 for c in d.concepts)
        for g in d.regions:
            info = g.region_info
            m["bounding_boxes_count"] += info.HasField("bounding_box")
            m["polygons_count"] += bool(info.polygon.points)
            m["masks_count"] += info.HasField("mask")
            m["positive_region_tags_count"] += sum(c.value > 0 for c in g.data.concepts)
    return m


def _filtered(
    conn: Connection, anns: dict[int, list[Row[Any]]], search: AnnotationSearch
) -> dict[int, list[Row[Any]]]:
    """Only the annotations meeting the search's annotation filters."""
    concepts = ann_repo.concepts_of(conn, [a.pk for rows in anns.values() for a in rows])
    return {p: [a for a in rows if search.meets(a, concepts.get(a.pk, []))] for p, rows in anns.items()}


def _add(total: dict[str, int], part: dict[str, int]) -> dict[str, int]:
    return {k: total.get(k, 0) + v for k, v in part.items()}


class DatasetVersionsService:
    def __init__(self, exports: ExportLinks) -> None:
        self.exports = exports

    def _proto(self, row: Row[Any], ctx: RequestContext, dataset_id: str) -> resources_pb2.DatasetVersion:
        app = ctx.require_app()
        v = resources_pb2.DatasetVersion(
            id=row.id,
            app_id=app.id,
            user_id=app.owner_id,
            dataset_id=dataset_id,
            description=row.description,
            created_at=timestamp(row.created_at),
            modified_at=timestamp(row.modified_at),
            status=status_pb2.Status(code=row.status, description="Dataset version is ready"),
            annotation_filter_config=resources_pb2.AnnotationFilterConfig.FromString(row.filter),
        )
        dict_to_struct(row.metadata, v.metadata)
        whole = v.metrics["/"]
        for k, n in (row.metrics or {}).items():
            getattr(whole, k).CopyFrom(wrappers_pb2.UInt64Value(value=n))
        for name, entry in (row.exports or {}).items():
            getattr(v.export_info, name).CopyFrom(self._export(row, name, entry, ctx))
        return v

    def _export(
        self, row: Row[Any], name: str, entry: dict[str, Any], ctx: RequestContext
    ) -> resources_pb2.DatasetVersionExport:
        code = int(entry["status"])
        out = resources_pb2.DatasetVersionExport(
            format=FORMAT_ENUMS[name],
            status=status_pb2.Status(
                code=code, description=EXPORT_DESCRIPTIONS.get(code, ""), details=entry.get("error", "")
            ),
            size=int(entry.get("size", 0)),
        )
        if code == SC.DATASET_VERSION_EXPORT_SUCCESS:
            out.url = self.exports.url(ctx, row.app_pk, entry["key"])
        return out

    @rpc.write("PostDatasetVersions")
    def post_dataset_versions(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.PostDatasetVersionsRequest
    ) -> service_pb2.MultiDatasetVersionResponse:
        app = ctx.require_app()
        dataset = require_dataset(conn, app.pk, req.dataset_id)
        if len(req.dataset_versions) != 1:
            raise errors.invalid("dataset_versions: give exactly one dataset version to create")
        given = req.dataset_versions[0]
        config = given.annotation_filter_config
        if config.annotation_filter.id and not config.annotation_filter.search.ByteSize():
            raise errors.invalid(
                "dataset_versions[0].annotation_filter_config.annotation_filter.id: labeldesk keeps no "
                "annotation filter resources",
                "give annotation_filter.search: a query, or the id of a saved search (search.id)",
            )
        search = (
            annotation_search(conn, app.pk, config.annotation_filter.search)
            if config.annotation_filter.search.ByteSize()
            else None
        )
        version_id = check_id("dataset version", given.id, "dataset_versions[0].id")
        if repo.by_ids(conn, app.pk, [version_id]):
            raise errors.ApiError(errors.DUPLICATE_KEY, f"dataset version '{version_id}' already exists")
        pk = repo.insert_version(
            conn,
            {
                "app_pk": app.pk,
                "dataset_pk": dataset.pk,
                "id": version_id,
                "description": given.description,
                "metadata": struct_to_dict(given.metadata),
                "filter": config.SerializeToString(),
                "status": SC.DATASET_VERSION_READY,
                "metrics": {},
                "exports": {},
            },
        )
        metrics: dict[str, int] = {}
        sel = snap.Selection(
            app, dataset_id=req.dataset_id, all_statuses=bool(search and search.statuses_given)
        )
        after, position = 0, 0
        while rows := snap.input_page(conn, sel, after):
            after = rows[-1].pk
            if search is not None:
                rows = [r for r in rows if r.pk in search.input_pks]
            anns = snap.annotations_of(conn, sel, [r.pk for r in rows])
            if search is not None:
                anns = _filtered(conn, anns, search)
            frozen = [(r.pk, snap.input_proto(r, anns.get(r.pk, []))) for r in rows]
            if config.ignore_empty_inputs:
                frozen = [(p, i) for p, i in frozen if i.data.concepts or i.data.regions]
            repo.add_inputs(conn, pk, position, [(p, i.SerializeToString()) for p, i in frozen])
            metrics = _add(metrics, _metrics([i for _, i in frozen]))
            position += len(frozen)
        repo.set_metrics(conn, pk, metrics)
        row = repo.by_pk(conn, pk)
        assert row is not None
        return service_pb2.MultiDatasetVersionResponse(
            dataset_versions=[self._proto(row, ctx, req.dataset_id)]
        )

    def _require(self, conn: Connection, ctx: RequestContext, dataset_id: str, version_id: str) -> Row[Any]:
        app = ctx.require_app()
        dataset = require_dataset(conn, app.pk, dataset_id)
        found = {
            k: v for k, v in repo.by_ids(conn, app.pk, [version_id]).items() if v.dataset_pk == dataset.pk
        }
        return require_one(found, "dataset version", version_id)

    @rpc.read("GetDatasetVersion")
    def get_dataset_version(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.GetDatasetVersionRequest
    ) -> service_pb2.SingleDatasetVersionResponse:
        row = self._require(conn, ctx, req.dataset_id, req.dataset_version_id)
        return service_pb2.SingleDatasetVersionResponse(dataset_version=self._proto(row, ctx, req.dataset_id))

    @rpc.read("ListDatasetVersions")
    def list_dataset_versions(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.ListDatasetVersionsRequest
    ) -> service_pb2.MultiDatasetVersionResponse:
        dataset = require_dataset(conn, ctx.require_app().pk, req.dataset_id)
        page = page_of(req.page, req.per_page)
        rows = repo.of_dataset(conn, dataset.pk, page.offset, page.per_page)
        return service_pb2.MultiDatasetVersionResponse(
            dataset_versions=[self._proto(r, ctx, req.dataset_id) for r in rows]
        )

    @rpc.write("DeleteDatasetVersions")
    def delete_dataset_versions(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.DeleteDatasetVersionsRequest
    ) -> status_pb2.BaseResponse:
        if not req.dataset_version_ids:
            raise errors.invalid("dataset_version_ids: give the ids of the versions to delete")
        rows = [self._require(conn, ctx, req.dataset_id, v) for v in dict.fromkeys(req.dataset_version_ids)]
        for r in rows:
            for entry in (r.exports or {}).values():
                if entry.get("key"):
                    self.exports.delete(r.app_pk, entry["key"])
        repo.delete_pks(conn, [r.pk for r in rows])
        return status_pb2.BaseResponse()

    @rpc.write("PutDatasetVersionExports")
    def put_dataset_version_exports(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.PutDatasetVersionExportsRequest
    ) -> service_pb2.MultiDatasetVersionExportResponse:
        row = self._require(conn, ctx, req.dataset_id, req.dataset_version_id)
        if not req.exports:
            raise errors.invalid(
                "exports: give at least one export (its format)", '{"exports": [{"format": "COCO"}]}'
            )
        out = []
        for n, e in enumerate(req.exports):
            name = FORMATS.get(e.format)
            if name is None:
                raise errors.invalid(
                    f"exports[{n}].format: choose CLARIFAI_DATA_PROTOBUF, CLARIFAI_DATA_JSON or COCO"
                )
            entry = (row.exports or {}).get(name)
            gone = (  # built, but not in the blob store (e.g. kept by an older labeldesk elsewhere)
                entry is not None
                and int(entry["status"]) == SC.DATASET_VERSION_EXPORT_SUCCESS
                and not self.exports.exists(row.app_pk, entry["key"])
            )
            if entry is None or gone or int(entry["status"]) == SC.DATASET_VERSION_EXPORT_FAILED:
                entry = {"status": SC.DATASET_VERSION_EXPORT_PENDING}
                repo.set_export(conn, row.pk, name, entry)
                payload = {"version_pk": row.pk, "format": name, "origin": self.exports.origin(ctx)}
                jobs_repo.insert_job(conn, check_id("job", ""), EXPORT_KIND, payload, row.app_pk)
            out.append(self._export(row, name, entry, ctx))
        return service_pb2.MultiDatasetVersionExportResponse(exports=out)

"""Dataset versions over both transports: a frozen snapshot with metrics, listed, fetched and
deleted; exports built in the background in the three formats and downloaded from the signed URL;
and the ``clarifai`` SDK's own version calls and archive reader against it."""

from __future__ import annotations

import io
import json
import time
import zipfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import requests
from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2

from labeldesk.files.store import LocalDirStore
from labeldesk.jobs import version_exports
from labeldesk.storage.repos import accounts
from labeldesk.storage.repos import dataset_versions as versions
from tests.api.test_import_export import import_, make_coco
from tests.helpers import AppFixture, fails, ok

SC = status_code_pb2
PROTOBUF, JSON, COCO = (
    resources_pb2.CLARIFAI_DATA_PROTOBUF,
    resources_pb2.CLARIFAI_DATA_JSON,
    resources_pb2.COCO,
)


@pytest.fixture
def imported(tmp_path: Path, app: AppFixture, database_url: str) -> AppFixture:
    res = import_(app, database_url, "coco", make_coco(tmp_path / "src"), "--dataset", "ds")
    assert res.exit_code == 0, res.output
    return app


def export_url(stub: Any, app: AppFixture, version_id: str, fmt: int) -> str:
    req = service_pb2.PutDatasetVersionExportsRequest(
        user_app_id=app.uai,
        dataset_id="ds",
        dataset_version_id=version_id,
        exports=[resources_pb2.DatasetVersionExport(format=fmt)],
    )
    deadline = time.monotonic() + 60
    while True:
        (export,) = ok(stub.PutDatasetVersionExports(req, metadata=app.meta)).exports
        if export.status.code not in (
            SC.DATASET_VERSION_EXPORT_PENDING,
            SC.DATASET_VERSION_EXPORT_IN_PROGRESS,
        ):
            break
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert export.status.code == SC.DATASET_VERSION_EXPORT_SUCCESS, export
    assert export.size > 0 and export.url.startswith("http://")
    return str(export.url)


def download(url: str) -> zipfile.ZipFile:
    r = requests.get(url, timeout=30)
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    return zipfile.ZipFile(io.BytesIO(r.content))


def test_a_version_is_a_frozen_snapshot_exported_in_three_formats(stub: Any, imported: AppFixture) -> None:
    app = imported
    new = service_pb2.PostDatasetVersionsRequest(
        user_app_id=app.uai,
        dataset_id="ds",
        dataset_versions=[resources_pb2.DatasetVersion(id="v1", description="first")],
    )
    (v,) = ok(stub.PostDatasetVersions(new, metadata=app.meta)).dataset_versions
    assert (v.id, v.dataset_id, v.status.code, v.description) == (
        "v1",
        "ds",
        SC.DATASET_VERSION_READY,
        "first",
    )
    m = v.metrics["/"]
    assert (
        m.inputs_count.value,
        m.regions_count.value,
        m.bounding_boxes_count.value,
        m.polygons_count.value,
    ) == (3, 9, 6, 3)
    # later work does not change the version
    post = service_pb2.PostInputsRequest(
        user_app_id=app.uai,
        inputs=[
            resources_pb2.Input(
                id="late",
                data=resources_pb2.Data(image=resources_pb2.Image(url="https://example.com/x.jpg")),
                dataset_ids=["ds"],
            )
        ],
    )
    ok(stub.PostInputs(post, metadata=app.meta))
    got = ok(
        stub.GetDatasetVersion(
            service_pb2.GetDatasetVersionRequest(
                user_app_id=app.uai, dataset_id="ds", dataset_version_id="v1"
            ),
            metadata=app.meta,
        )
    )
    assert got.dataset_version.metrics["/"].inputs_count.value == 3

    archive = download(export_url(stub, app, "v1", PROTOBUF))
    names = archive.namelist()
    assert names[0] == "mimetype" and archive.read("mimetype") == b"application/x.clarifai-data+protobuf"
    assert names[1:] == ["all/batch_0_n3"]
    batch = resources_pb2.InputBatch.FromString(archive.read("all/batch_0_n3"))
    assert sorted(i.id for i in batch.inputs) == ["blue", "green", "red"]
    red = next(i for i in batch.inputs if i.id == "red")
    assert [c.id for g in red.data.regions for c in g.data.concepts] == ["cat", "dog", "dog"]
    assert red.data.metadata["site"] == "lab"

    js = download(export_url(stub, app, "v1", JSON))
    assert js.read("mimetype") == b"application/x.clarifai-data+json"
    assert len(json.loads(js.read("all/batch_0_n3"))["inputs"]) == 3

    coco = download(export_url(stub, app, "v1", COCO))
    doc = json.loads(coco.read("annotations.json"))
    assert (len(doc["images"]), len(doc["annotations"])) == (3, 9)
    assert sorted(n for n in coco.namelist() if n.startswith("images/")) == [
        "images/blue.png",
        "images/green.png",
        "images/red.png",
    ]

    listed = ok(
        stub.ListDatasetVersions(
            service_pb2.ListDatasetVersionsRequest(user_app_id=app.uai, dataset_id="ds"), metadata=app.meta
        )
    )
    (only,) = listed.dataset_versions
    assert only.id == "v1" and only.export_info.coco.status.code == SC.DATASET_VERSION_EXPORT_SUCCESS

    ok(
        stub.DeleteDatasetVersions(
            service_pb2.DeleteDatasetVersionsRequest(
                user_app_id=app.uai, dataset_id="ds", dataset_version_ids=["v1"]
            ),
            metadata=app.meta,
        )
    )
    fails(
        stub.GetDatasetVersion(
            service_pb2.GetDatasetVersionRequest(
                user_app_id=app.uai, dataset_id="ds", dataset_version_id="v1"
            ),
            metadata=app.meta,
        ),
        SC.CONN_DOES_NOT_EXIST,
        "v1",
    )


def test_an_altered_export_url_is_refused(stub: Any, imported: AppFixture) -> None:
    app = imported
    new = service_pb2.PostDatasetVersionsRequest(
        user_app_id=app.uai, dataset_id="ds", dataset_versions=[resources_pb2.DatasetVersion(id="v2")]
    )
    ok(stub.PostDatasetVersions(new, metadata=app.meta))
    url = export_url(stub, app, "v2", PROTOBUF)
    r = requests.get(url.replace("sig=", "sig=x"), timeout=30)
    assert r.status_code == 403 and "export URL is altered" in r.json()["status"]["description"]
    bad = service_pb2.PutDatasetVersionExportsRequest(
        user_app_id=app.uai,
        dataset_id="ds",
        dataset_version_id="v2",
        exports=[resources_pb2.DatasetVersionExport()],
    )
    fails(stub.PutDatasetVersionExports(bad, metadata=app.meta), SC.CONN_INVALID_REQUEST, "exports[0].format")
    dup = service_pb2.PostDatasetVersionsRequest(
        user_app_id=app.uai, dataset_id="nope", dataset_versions=[resources_pb2.DatasetVersion(id="v3")]
    )
    fails(stub.PostDatasetVersions(dup, metadata=app.meta), SC.CONN_DOES_NOT_EXIST, "nope")


def test_a_version_filtered_by_a_search_keeps_the_matching_inputs_and_annotations(
    stub: Any, imported: AppFixture
) -> None:
    app = imported
    bird = resources_pb2.Data(
        regions=[
            resources_pb2.Region(
                region_info=resources_pb2.RegionInfo(
                    bounding_box=resources_pb2.BoundingBox(
                        top_row=0.1, left_col=0.1, bottom_row=0.5, right_col=0.5
                    )
                ),
                data=resources_pb2.Data(concepts=[resources_pb2.Concept(id="bird", value=1)]),
            )
        ]
    )
    post = service_pb2.PostAnnotationsRequest(
        user_app_id=app.uai, annotations=[resources_pb2.Annotation(input_id="red", data=bird)]
    )
    ok(stub.PostAnnotations(post, metadata=app.meta))
    query = resources_pb2.Query(
        filters=[
            resources_pb2.Filter(
                annotation=resources_pb2.Annotation(
                    data=resources_pb2.Data(concepts=[resources_pb2.Concept(id="bird", value=1)])
                )
            )
        ]
    )
    ok(
        stub.PostSearches(
            service_pb2.PostSearchesRequest(
                user_app_id=app.uai, searches=[resources_pb2.Search(id="birds", query=query, save=True)]
            ),
            metadata=app.meta,
        )
    )

    def version(version_id: str, search: resources_pb2.Search) -> Any:
        config = resources_pb2.AnnotationFilterConfig(
            annotation_filter=resources_pb2.AnnotationFilter(search=search)
        )
        return stub.PostDatasetVersions(
            service_pb2.PostDatasetVersionsRequest(
                user_app_id=app.uai,
                dataset_id="ds",
                dataset_versions=[
                    resources_pb2.DatasetVersion(id=version_id, annotation_filter_config=config)
                ],
            ),
            metadata=app.meta,
        )

    for version_id, search in (
        ("by-query", resources_pb2.Search(query=query)),
        ("saved", resources_pb2.Search(id="birds")),
    ):
        (v,) = ok(version(version_id, search)).dataset_versions
        m = v.metrics["/"]
        assert (m.inputs_count.value, m.regions_count.value, m.bounding_boxes_count.value) == (1, 1, 1), v
        assert v.annotation_filter_config.annotation_filter.search == search
        archive = download(export_url(stub, app, version_id, JSON))
        (batch,) = [n for n in archive.namelist() if n.startswith("all/")]
        (only,) = json.loads(archive.read(batch))["inputs"]
        assert only["id"] == "red"
        assert [c["id"] for g in only["data"]["regions"] for c in g["data"]["concepts"]] == ["bird"]
    fails(version("missing", resources_pb2.Search(id="nope")), SC.CONN_DOES_NOT_EXIST, "nope")
    by_id = resources_pb2.AnnotationFilterConfig(annotation_filter=resources_pb2.AnnotationFilter(id="f1"))
    refused = stub.PostDatasetVersions(
        service_pb2.PostDatasetVersionsRequest(
            user_app_id=app.uai,
            dataset_id="ds",
            dataset_versions=[resources_pb2.DatasetVersion(id="by-id", annotation_filter_config=by_id)],
        ),
        metadata=app.meta,
    )
    fails(refused, SC.CONN_INVALID_REQUEST, "annotation_filter.id", "saved search")


def test_archives_of_deleted_versions_and_apps_leave_the_blob_store(stub: Any, imported: AppFixture) -> None:
    """A version deleted while its archive is built leaves no archive or part behind (the job
    cleans up); the archives of a deleted app, and stray parts of a version that is gone, are
    removed by the server's collection (``collect_archives``, run every minute)."""
    app = imported
    db, links = app.server.app.db, app.server.app.exports
    assert links is not None
    store = links.store
    with db.read() as conn:
        row = accounts.get_app(conn, app.user_id, app.app_id)
    assert row is not None and isinstance(store, LocalDirStore)
    app_pk = int(row.pk)

    def archives() -> list[str]:
        return store.keys(str(app_pk), "version-")

    for v in ("v1", "v2"):
        new = service_pb2.PostDatasetVersionsRequest(
            user_app_id=app.uai, dataset_id="ds", dataset_versions=[resources_pb2.DatasetVersion(id=v)]
        )
        ok(stub.PostDatasetVersions(new, metadata=app.meta))
    export_url(stub, app, "v1", PROTOBUF)
    export_url(stub, app, "v1", COCO)
    with db.read() as conn:
        v1, v2 = (versions.by_ids(conn, app_pk, [v])[v].pk for v in ("v1", "v2"))
    assert archives() == sorted([f"version-{v1}-clarifai_data_protobuf.zip", f"version-{v1}-coco.zip"])

    # the job building v2's archive: the version is deleted while its first part is made
    def delete_v2(data: resources_pb2.Data, app_pk: int, origin: str) -> None:
        with db.write() as conn:
            versions.delete_pks(conn, [v2])

    job = SimpleNamespace(
        payload={"version_pk": v2, "format": "clarifai_data_json", "origin": ""}, progress={}
    )
    done = version_exports.handler(links, delete_v2)(db, job, lambda progress: None)  # type: ignore[arg-type]
    assert done == {"skipped": "the version was deleted while its archive was built"}
    assert not any(k.startswith(f"version-{v2}-") for k in archives())

    # a stray part of a version that is gone; then the app is deleted with its archives
    links.put(app_pk, f"version-{v2}-coco.zip.part0", b"left over")
    version_exports.collect_archives(db, links)  # (the server's own run may come first: same result)
    assert len(archives()) == 2
    ok(stub.DeleteApp(service_pb2.DeleteAppRequest(user_app_id=app.uai), metadata=app.meta))
    version_exports.collect_archives(db, links)
    assert archives() == []

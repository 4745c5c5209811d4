"""Job kind ``dataset_version_export``: the archive of a dataset version in one format, built in the
background and served by labeldesk's ``/exports`` route with short-lived signed URLs.

Layouts (what the ``clarifai`` SDK's ``DatasetExportReader`` reads):

- ``clarifai_data_protobuf``: a zip whose first entry ``mimetype`` holds
  ``application/x.clarifai-data+protobuf``, then ``all/batch_<i>_n<count>`` files, each a
  serialised ``InputBatch`` of up to 1,000 inputs (the count after ``_n`` is how the SDK sizes it);
- ``clarifai_data_json``: the same with ``application/x.clarifai-data+json`` and each batch as the
  JSON of the ``InputBatch``;
- ``coco``: ``annotations.json`` (COCO instances) and ``images/`` with the images labeldesk holds.

Hosted images are linked with signed ``/files`` URLs in the inputs' ``hosted`` block (prefix,
suffix, sizes), so the SDK downloads them with the same session; URL inputs keep their URL.
A resumed job builds the archive again from the start (it is written to a temporary file and
renamed into place, so a half-built archive is never served).
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2
from google.protobuf import json_format
from sqlalchemy import Row

from labeldesk.datasets_io import coco
from labeldesk.datasets_io.placement import file_name
from labeldesk.jobs.worker import Report
from labeldesk.services import dataset_export as snap
from labeldesk.services.export_links import ExportLinks
from labeldesk.services.file_refs import local_path_of
from labeldesk.storage.engine import Database
from labeldesk.storage.repos import dataset_versions as repo

MIMETYPES = {
    "clarifai_data_protobuf": b"application/x.clarifai-data+protobuf",
    "clarifai_data_json": b"application/x.clarifai-data+json",
}
BATCH = 1000
SC = status_code_pb2

# How a stored input's media becomes links a client can fetch (hosted files: signed /files URLs);
# given the input's Data, its app's pk and the origin the export was asked from.
MediaLinker = Callable[[resources_pb2.Data, int, str], None]


def no_links(data: resources_pb2.Data, app_pk: int, origin: str) -> None:
    """Without hosted files, inputs keep the URLs they were stored with."""


def handler(
    links: ExportLinks, media: MediaLinker, files: snap.FileFinder | None = None
) -> Callable[[Database, Row[Any], Report], Any]:
    def run(db: Database, job: Row[Any], report: Report) -> dict[str, Any]:
        p = job.payload
        with db.write() as conn:
            version = repo.by_pk(conn, p["version_pk"])
            if version is None:
                return {"skipped": "the version was deleted"}
            repo.set_export(conn, version.pk, p["format"], {"status": SC.DATASET_VERSION_EXPORT_IN_PROGRESS})
        key = f"version-{version.pk}-{p['format']}.zip"
        target = links.path(version.app_pk, key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        os.close(fd)
        try:
            with db.read() as conn:
                batches = [list(b) for b in repo.iter_frozen(conn, version.pk, BATCH)]
            inputs = [resources_pb2.Input.FromString(i) for b in batches for i in b]
            sources = {i.id: _local_file(i.data, version.app_pk, files) for i in inputs}
            for i in inputs:
                media(i.data, version.app_pk, p["origin"])
            with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
                if p["format"] == "coco":
                    _coco(z, inputs, sources)
                else:
                    _batches(z, p["format"], inputs, report)
            os.replace(tmp, target)
        except BaseException as e:
            Path(tmp).unlink(missing_ok=True)
            with db.write() as conn:
                entry = {"status": SC.DATASET_VERSION_EXPORT_FAILED, "error": str(e)}
                repo.set_export(conn, version.pk, p["format"], entry)
            raise
        size = target.stat().st_size
        with db.write() as conn:
            entry = {"status": SC.DATASET_VERSION_EXPORT_SUCCESS, "key": key, "size": size}
            repo.set_export(conn, version.pk, p["format"], entry)
        return {"key": key, "size": size, "inputs": len(inputs)}

    return run


def _batches(z: zipfile.ZipFile, fmt: str, inputs: list[resources_pb2.Input], report: Report) -> None:
    z.writestr(zipfile.ZipInfo("mimetype"), MIMETYPES[fmt], compress_type=zipfile.ZIP_STORED)
    for n, start in enumerate(range(0, len(inputs), BATCH)):
        batch = resources_pb2.InputBatch(inputs=inputs[start : start + BATCH])
        name = f"all/batch_{n}_n{len(batch.inputs)}"
        if fmt == "clarifai_data_json":
            z.writestr(name, json_format.MessageToJson(batch, preserving_proto_field_name=True))
        else:
            z.writestr(name, batch.SerializeToString())
        report({"done": start + len(batch.inputs), "total": len(inputs)})


def _local_file(data: resources_pb2.Data, app_pk: int, files: snap.FileFinder | None) -> Path | None:
    """Where the bytes of a stored input are on this machine (hosted file or file:// URL)."""
    hosted = data.image.hosted
    if hosted.suffix and not hosted.prefix:
        return files(app_pk, hosted.suffix) if files is not None else None
    return local_path_of(data.image.url)


def _coco(z: zipfile.ZipFile, inputs: list[resources_pb2.Input], sources: dict[str, Path | None]) -> None:
    records = []
    names: dict[str, str] = {}
    for i in inputs:
        local = sources.get(i.id)
        r = snap.record_of_data(i.id, i.data, str(local) if local else i.data.image.url)
        names[r.input_id] = file_name(r)
        if local is not None and local.is_file():
            z.write(local, f"images/{names[r.input_id]}")
        records.append(r)
    with tempfile.TemporaryDirectory() as d:
        coco.write(records, Path(d), names)
        z.write(Path(d) / "annotations.json", "annotations.json")

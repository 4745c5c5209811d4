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

import base64
import hashlib
import hmac
import os
import re
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
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
from labeldesk.services.context import RequestContext
from labeldesk.services.file_refs import local_path_of
from labeldesk.storage.engine import Database
from labeldesk.storage.repos import dataset_versions as repo

KIND = "dataset_version_export"
ROUTE = "/exports"
MIMETYPES = {
    "clarifai_data_protobuf": b"application/x.clarifai-data+protobuf",
    "clarifai_data_json": b"application/x.clarifai-data+json",
}
BATCH = 1000
SC = status_code_pb2
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")

# How a stored input's media becomes links a client can fetch (hosted files: signed /files URLs);
# given the input's Data, its app's pk and the origin the export was asked from.
MediaLinker = Callable[[resources_pb2.Data, int, str], None]


def no_links(data: resources_pb2.Data, app_pk: int, origin: str) -> None:
    """Without hosted files, inputs keep the URLs they were stored with."""


@dataclass
class ExportLinks:
    """Where archives are kept (``<folder>/<app pk>/<key>``) and their signed URLs:
    ``{origin}/exports/{app}/{key}?exp=…&sig=…`` with an HMAC-SHA256 under the server secret
    ``exports`` of ``"{app}/{key}/{exp}"``. The origin is the caller's (as it reached the REST
    port) or, for gRPC callers, ``server_origin``: the REST address the server listens on."""

    folder: Path
    secret: bytes
    ttl: int = 3600
    server_origin: str = ""

    def _mac(self, app: str, key: str, exp: int) -> str:
        digest = hmac.new(self.secret, f"{app}/{key}/{exp}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def origin(self, ctx: RequestContext) -> str:
        links = getattr(ctx, "files", None)
        return str(getattr(links, "origin", "") or self.server_origin)

    def url(self, ctx: RequestContext, app_pk: int, key: str) -> str:
        exp = int(time.time()) + self.ttl
        return f"{self.origin(ctx)}{ROUTE}/{app_pk}/{key}?exp={exp}&sig={self._mac(str(app_pk), key, exp)}"

    def check(self, app: str, key: str, exp: str, sig: str) -> str:
        """'' when the URL is good, else why not."""
        if not exp.isdigit() or not hmac.compare_digest(self._mac(app, key, int(exp)), sig):
            return "altered"
        return "expired" if time.time() >= int(exp) else ""

    def path(self, app_pk: int | str, key: str) -> Path:
        if not _NAME.fullmatch(key) or ".." in key or not str(app_pk).isdigit():
            raise ValueError(f"not an archive name: {key!r}")
        return self.folder / str(app_pk) / key

    def delete(self, app_pk: int, key: str) -> None:
        self.path(app_pk, key).unlink(missing_ok=True)


def handler(links: ExportLinks, media: MediaLinker) -> Callable[[Database, Row[Any], Report], Any]:
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
            for i in inputs:
                media(i.data, version.app_pk, p["origin"])
            with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
                if p["format"] == "coco":
                    _coco(z, inputs)
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


def _coco(z: zipfile.ZipFile, inputs: list[resources_pb2.Input]) -> None:
    records = []
    names: dict[str, str] = {}
    for i in inputs:
        url = i.data.image.url
        local = local_path_of(url)
        r = snap.record_of_data(i.id, i.data, str(local) if local else url)
        names[r.input_id] = file_name(r)
        if local is not None and local.is_file():
            z.write(local, f"images/{names[r.input_id]}")
        records.append(r)
    with tempfile.TemporaryDirectory() as d:
        coco.write(records, Path(d), names)
        z.write(Path(d) / "annotations.json", "annotations.json")

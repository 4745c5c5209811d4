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
The protobuf and JSON archives are built in parts of 1,000 inputs, each stored in the blob store as
it is made and checkpointed in the job's progress (``parts``): a job whose server was killed resumes
after the last stored part (``resumed_from_parts`` records where) instead of starting again. The
parts are then assembled into the archive (a temporary file moved into the blob store, so a
half-built archive is never served) and deleted. A COCO archive has no parts: its images are
streamed from the blob store into the archive file in one pass (each is copied once, never held
in memory), then ``annotations.json`` is added.
"""

from __future__ import annotations

import math
import os
import re
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
        fmt = p["format"]
        with db.write() as conn:
            version = repo.by_pk(conn, p["version_pk"])
            if version is None:
                return {"skipped": "the version was deleted"}
            repo.set_export(conn, version.pk, fmt, {"status": SC.DATASET_VERSION_EXPORT_IN_PROGRESS})
        app_pk = version.app_pk
        key = f"version-{version.pk}-{fmt}.zip"
        total = int((version.metrics or {}).get("inputs_count", 0))
        parts = max(1, math.ceil(total / BATCH))
        progress = dict(job.progress or {})
        done = int(progress.get("parts", 0))
        if done:  # a worker died (or failed) after storing these parts: go on after them
            report({"resumed_from_parts": [*progress.get("resumed_from_parts", []), done]})
        try:
            for n in range(done, parts if fmt != "coco" else 0):  # COCO: images go in when assembled
                with db.read() as conn:
                    rows = repo.frozen_inputs(conn, version.pk, n * BATCH - 1, BATCH)
                inputs = [resources_pb2.Input.FromString(r.input) for r in rows]
                links.put(app_pk, _part_key(key, n), _part(fmt, inputs, app_pk, p["origin"], media))
                report(
                    {"parts": n + 1, "total_parts": parts, "done": n * BATCH + len(inputs), "total": total}
                )
            size = _assemble(db, links, version, fmt, key, parts, total, files)
            if fmt == "coco":
                report({"parts": parts, "total_parts": parts, "done": total, "total": total})
        except BaseException as e:
            with db.write() as conn:
                entry = {"status": SC.DATASET_VERSION_EXPORT_FAILED, "error": str(e)}
                repo.set_export(conn, version.pk, fmt, entry)
            raise
        with db.write() as conn:
            gone = repo.by_pk(conn, version.pk) is None
            entry = {"status": SC.DATASET_VERSION_EXPORT_SUCCESS, "key": key, "size": size}
            repo.set_export(conn, version.pk, fmt, entry)
        for n in range(parts if fmt != "coco" else 0):
            links.delete(app_pk, _part_key(key, n))
        if gone:  # deleted (or its app) while the archive was built: nothing may keep it
            links.delete(app_pk, key)
            return {"skipped": "the version was deleted while its archive was built"}
        return {"key": key, "size": size, "inputs": total}

    return run


_ARCHIVE = re.compile(r"version-([0-9]+)-[a-z_]+\.zip(?:\.part[0-9]+)?")


def collect_archives(db: Database, links: ExportLinks) -> int:
    """Delete the archives and parts of versions that are gone from the blob store (a version
    deleted while its archive was built, every version of a deleted app); answer how many. Run
    by the server every minute; stores that cannot list their blobs are left alone."""
    apps, keys = getattr(links.store, "apps", None), getattr(links.store, "keys", None)
    if apps is None or keys is None:
        return 0
    stored = [(a, k) for a in apps() if a.isdigit() for k in keys(a, "version-")]
    if not stored:
        return 0
    with db.read() as conn:
        live = repo.live_keys(conn)
    done = 0
    for app, name in stored:
        m = _ARCHIVE.fullmatch(name)
        if m is not None and (int(app), int(m[1])) not in live:
            links.delete(int(app), name)
            done += 1
    return done


def _part_key(key: str, n: int) -> str:
    return f"{key}.part{n}"


def _part(
    fmt: str,
    inputs: list[resources_pb2.Input],
    app_pk: int,
    origin: str,
    media: MediaLinker,
) -> bytes:
    """One stored part of a protobuf or JSON archive: a batch file."""
    for i in inputs:
        media(i.data, app_pk, origin)
    batch = resources_pb2.InputBatch(inputs=inputs)
    if fmt == "clarifai_data_json":
        return json_format.MessageToJson(batch, preserving_proto_field_name=True).encode()
    return batch.SerializeToString()  # type: ignore[no-any-return]


def _read(links: ExportLinks, app_pk: int, key: str) -> bytes:
    f = links.open(app_pk, key)
    if f is None:
        raise RuntimeError(f"archive part {key} is missing from the blob store")
    with f:
        return f.read()


def _assemble(
    db: Database,
    links: ExportLinks,
    version: Row[Any],
    fmt: str,
    key: str,
    parts: int,
    total: int,
    files: snap.FileFinder | None,
) -> int:
    """Build the archive from its stored parts into the blob store; answer its size."""
    app_pk = version.app_pk
    fd, tmp = tempfile.mkstemp(prefix="labeldesk-export-", suffix=".zip")
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
            if fmt == "coco":  # each image streamed from the blob store into the archive, once
                with db.read() as conn:
                    inputs = [
                        resources_pb2.Input.FromString(i)
                        for b in repo.iter_frozen(conn, version.pk, BATCH)
                        for i in b
                    ]
                _coco_archive(z, inputs, app_pk, files)
            else:
                z.writestr(zipfile.ZipInfo("mimetype"), MIMETYPES[fmt], compress_type=zipfile.ZIP_STORED)
                for n in range(parts):
                    count = min(BATCH, total - n * BATCH)
                    if count > 0:
                        z.writestr(f"all/batch_{n}_n{count}", _read(links, app_pk, _part_key(key, n)))
        size = os.path.getsize(tmp)
        links.put_file(app_pk, key, Path(tmp))
        return size
    finally:
        Path(tmp).unlink(missing_ok=True)


def _local_file(data: resources_pb2.Data, app_pk: int, files: snap.FileFinder | None) -> Path | None:
    """Where the bytes of a stored input are on this machine (hosted file or file:// URL)."""
    hosted = data.image.hosted
    if hosted.suffix and not hosted.prefix:
        return files(app_pk, hosted.suffix) if files is not None else None
    return local_path_of(data.image.url)


def _coco_archive(
    z: zipfile.ZipFile, inputs: list[resources_pb2.Input], app_pk: int, files: snap.FileFinder | None
) -> None:
    """``images/`` (the local files, read in blocks straight into the archive: no copy in memory
    or in the store) and ``annotations.json``."""
    records = []
    names: dict[str, str] = {}
    for i in inputs:
        local = _local_file(i.data, app_pk, files)
        r = snap.record_of_data(i.id, i.data, str(local) if local else i.data.image.url)
        names[r.input_id] = file_name(r)
        records.append(r)
        if local is not None and local.is_file():
            z.write(local, f"images/{names[r.input_id]}", compress_type=zipfile.ZIP_STORED)
    with tempfile.TemporaryDirectory() as d:
        coco.write(records, Path(d), names)
        z.write(Path(d) / "annotations.json", "annotations.json")

"""PostInputsDataSources and PostInputsUploads: dataset imports from a folder on the server or an
uploaded archive (:mod:`labeldesk.services.uploads`), run as background jobs
(:mod:`labeldesk.jobs.imports`) and polled like Clarifai's inputs-add jobs (GetInputsAddJob,
ListInputsAddJobs and CancelInputsAddJob of :mod:`labeldesk.services.input_jobs` answer them
through :func:`find`, :func:`of_app` and :func:`cancel`).

A data source's ``url`` is ``file:///path/below/LABELDESK_IMPORT_ROOT`` with an optional
``?format=coco|yolo|voc|jsonl|csv|folder`` (detected from the folder otherwise);
``input_template.metadata.format`` may name the format too (both sources);
``input_template.dataset_ids[0]`` names a dataset to add the inputs to (created when missing).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2, status_pb2
from sqlalchemy import Connection, Row, select

from labeldesk.config import Settings
from labeldesk.datasets_io.formats import READERS, detect_format
from labeldesk.domain import errors
from labeldesk.domain.stages import as_utc
from labeldesk.services import registry as rpc
from labeldesk.services import uploads
from labeldesk.services.common import check_id, timestamp
from labeldesk.services.context import AppRef, RequestContext
from labeldesk.storage import tables as t
from labeldesk.storage.clock import utcnow
from labeldesk.storage.repos import jobs as repo
from labeldesk.storage.repos import uploads as uploads_repo

IMPORT_KIND = "inputs_import"  # the job that runs the import (jobs/imports.py)
STATES = {
    repo.QUEUED: (status_code_pb2.JOB_QUEUED, "Job is queued"),
    repo.RUNNING: (status_code_pb2.JOB_RUNNING, "Job is running"),
    repo.CANCELLING: (status_code_pb2.JOB_RUNNING, "Job is stopping after its current chunk (cancelled)"),
    repo.DONE: (status_code_pb2.JOB_COMPLETED, "Job completed"),
    repo.FAILED: (status_code_pb2.JOB_FAILED, "Job failed"),
    repo.CANCELLED: (status_code_pb2.JOB_CANCELLED, "Job cancelled"),
}
ENDED = (repo.DONE, repo.FAILED, repo.CANCELLED)
MAX_SKIPPED_SHOWN = 100


def _count(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def summary_line(result: dict[str, Any]) -> str:
    """The one-line summary of a finished import: "1,000 inputs added (20 already there), 2,000
    annotations, 5 concepts, 3 records skipped"."""
    n = {k: int(result.get(k, 0)) for k in ("inputs", "existing", "annotations", "concepts")}
    skipped = int(result.get("skipped_count", len(result.get("skipped", []))))
    return (
        f"{_count(n['inputs'], 'input')} added ({n['existing']:,} already there), "
        f"{_count(n['annotations'], 'annotation')}, {_count(n['concepts'], 'concept')}, "
        f"{_count(skipped, 'record')} skipped"
    )


def _state(row: Row[Any]) -> str:
    """The job's state as clients see it: a cancelled job whose worker died meanwhile is cancelled."""
    lease = row.lease_until
    if row.state == repo.CANCELLING and (lease is None or as_utc(lease) < utcnow()):
        return repo.CANCELLED
    return str(row.state)


def _percent(state: str, done: int, total: int) -> int:
    if state == repo.DONE:
        return 100
    return min(100, done * 100 // total) if total else 0


EXTRACTION = {
    "pending": (status_code_pb2.JOB_QUEUED, "Archive waits to be unpacked"),
    "running": (status_code_pb2.JOB_RUNNING, "Archive is being unpacked"),
    "done": (status_code_pb2.JOB_COMPLETED, "Archive unpacked"),
    "failed": (status_code_pb2.JOB_FAILED, "Archive not unpacked"),
    "cancelled": (status_code_pb2.JOB_CANCELLED, "Archive not unpacked (job cancelled)"),
}
FOLDER = {  # the same stages of a folder on the server (PostInputsDataSources)
    "pending": "Folder waits to be read",
    "running": "Folder is being read",
    "done": "Folder read where it is on the server",
    "failed": "Folder not read",
    "cancelled": "Folder not read (job cancelled)",
}


def _source_parts_of(row: Row[Any], state: str, p: dict[str, Any]) -> dict[str, Any]:
    """``extraction_jobs`` of a background import (what it reads: ``upload://ID`` for an uploaded
    archive, unpacked first, or the ``file://`` folder on the server, read in place) and, for an
    archive, its ``uploads``. Per-request PostInputs jobs have neither, which is how a client tells
    the two kinds apart in ListInputsAddJobs."""
    u = row.payload.get("upload")
    # a folder is read where it is: nothing to unpack once the job runs
    unpacked = p.get("extraction") == "done" if u else state in (repo.RUNNING, repo.CANCELLING, repo.DONE)
    stage = "running" if state != repo.QUEUED else "pending"
    if state in ENDED:
        stage = "cancelled" if state == repo.CANCELLED else "failed"
    stage = "done" if unpacked else stage
    code, description = EXTRACTION[stage]
    extraction = resources_pb2.InputsExtractionJob(
        id=row.id,
        url=f"upload://{u['id']}" if u else Path(row.payload["path"]).as_uri(),
        status=status_pb2.Status(code=code, description=description if u else FOLDER[stage]),
        progress=resources_pb2.InputsExtractionJobProgress(
            image_inputs_count=int(p.get("total", 0)) if unpacked else 0,
            pending_archives_count=int(stage == "pending"),
            in_progress_archives_count=int(stage == "running"),
            completed_archives_count=int(stage == "done"),
            failed_archives_count=int(stage == "failed"),
        ),
        created_at=timestamp(row.created_at),
        modified_at=timestamp(row.modified_at),
    )
    if not u:
        return {"extraction_jobs": [extraction]}
    upload = resources_pb2.Upload(
        id=u["id"],
        content_name=u["content_name"],
        content_length=int(u["content_length"]),
        status=status_pb2.Status(code=status_code_pb2.UPLOAD_DONE, description="Upload done"),
    )
    return {"uploads": [upload], "extraction_jobs": [extraction]}


def inputs_add_job(row: Row[Any]) -> resources_pb2.InputsAddJob:
    p = row.progress or {}
    total, done = int(p.get("total", 0)), int(p.get("done", 0))
    state = _state(row)
    # at least 1 until the job ends: before its records are counted (queued, unpacking) and while
    # its last chunk is being finished, a poller (the SDK's _wait_for_inputs) must not stop
    left = max(1, total - done) if state not in ENDED else 0
    code, description = STATES.get(state, (status_code_pb2.JOB_UNEXPECTED_ERROR, state))
    result = row.result or {}
    details = summary_line(result) if state == repo.DONE else (row.error or "")
    return resources_pb2.InputsAddJob(
        id=row.id,
        progress=resources_pb2.InputsAddJobProgress(
            pending_count=left if state == repo.QUEUED else 0,
            in_progress_count=left if state in (repo.RUNNING, repo.CANCELLING) else 0,
            success_count=int(p.get("success", 0)),
            failed_count=int(p.get("failed", 0)),
        ),
        created_at=timestamp(row.created_at),
        modified_at=timestamp(row.modified_at),
        status=status_pb2.Status(
            code=code,
            description=description,
            details=details,
            percent_completed=_percent(state, done, total),
            stack_trace=[str(m) for m in result.get("skipped", [])[:MAX_SKIPPED_SHOWN]],
        ),
        **_source_parts_of(row, state, p),
    )


def _format(where: str, fmt: str) -> str:
    if fmt and fmt not in READERS:
        raise errors.invalid(f"{where}: unknown format {fmt!r}", f"one of {', '.join(READERS)}")
    return fmt


def _template_format(n: int, field: str, template: resources_pb2.Input) -> str:
    value = template.data.metadata.fields.get("format")
    fmt = value.string_value if value is not None else ""
    return _format(f"{field}[{n}].input_template.data.metadata.format", fmt)


class ImportJobsService:
    def __init__(self, settings: Settings) -> None:
        self.import_root = settings.import_root
        self.limits = {"max_bytes": settings.max_extracted_bytes, "max_files": settings.max_archive_files}

    def _source(self, n: int, source: resources_pb2.InputsDataSource) -> tuple[str, str]:
        where = f"data_sources[{n}].url.url"
        if not self.import_root:
            raise errors.invalid(
                f"{where}: server-side imports are off on this server",
                "start labeldesk with LABELDESK_IMPORT_ROOT=/a/folder to import from below it",
            )
        parsed = urlparse(source.url.url)
        if parsed.scheme != "file":
            raise errors.invalid(f"{where}: only file:// URLs of folders on the server can be imported")
        root = os.path.realpath(self.import_root)
        path = os.path.realpath(unquote(parsed.path))
        if os.path.commonpath([root, path]) != root:
            raise errors.invalid(f"{where}: {parsed.path} is not below the import root {root}")
        if not os.path.exists(path):
            raise errors.invalid(f"{where}: {parsed.path} does not exist on the server")
        fmt = (
            _format(where, parse_qs(parsed.query).get("format", [""])[0])
            or _template_format(n, "data_sources", source.input_template)
            or detect_format(Path(path))
        )
        return path, fmt  # each source above was checked (detect_format answers known names)

    @rpc.write("PostInputsDataSources")
    def post_inputs_data_sources(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.PostInputsDataSourcesRequest
    ) -> service_pb2.MultiInputsAddJobResponse:
        app = ctx.require_app()
        if not req.data_sources:
            raise errors.invalid("data_sources: give at least one data source")
        jobs = []
        for n, source in enumerate(req.data_sources):
            path, fmt = self._source(n, source)
            payload = {"path": path, "format": fmt, **_target(app, source.input_template)}
            where = f"data_sources[{n}].inputs_add_job_id"
            jobs.append(_queue(conn, app, source.inputs_add_job_id, where, payload))
        return service_pb2.MultiInputsAddJobResponse(inputs_add_jobs=jobs)

    @rpc.write("PostInputsUploads")
    def post_inputs_uploads(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.PostInputsUploadsRequest
    ) -> service_pb2.MultiInputsAddJobResponse:
        app = ctx.require_app()
        if not req.inputs_uploads:
            raise errors.invalid("inputs_uploads: give at least one upload to import")
        jobs = []
        for n, item in enumerate(req.inputs_uploads):
            where = f"inputs_uploads[{n}]"
            upload = uploads.require(conn, app.pk, item.upload.id, f"{where}.upload.id")
            _check_complete(conn, where, upload)
            fmt = _template_format(n, "inputs_uploads", item.input_template)
            payload = {
                "upload": {
                    "pk": upload.pk,
                    "id": upload.id,
                    "content_name": upload.content_name,
                    "content_length": upload.content_length,
                },
                "limits": self.limits,
                "format": fmt,
                **_target(app, item.input_template),
            }
            job = _queue(conn, app, item.inputs_add_job_id, f"{where}.inputs_add_job_id", payload)
            uploads_repo.use(conn, upload.pk, job.id, max(as_utc(upload.expires_at), utcnow() + uploads.TTL))
            jobs.append(job)
        return service_pb2.MultiInputsAddJobResponse(inputs_add_jobs=jobs)


def _check_complete(conn: Connection, where: str, upload: Row[Any]) -> None:
    if upload.state == uploads_repo.EXPIRED:
        raise uploads.expired(upload.id, f"{where}.upload.id")
    if upload.state != uploads_repo.DONE:
        gaps = uploads.missing_ranges(conn, upload)
        shown = ", ".join(f"{a:,}..{b:,}" for a, b in gaps[:5]) + (" ..." if len(gaps) > 5 else "")
        raise errors.invalid(
            f"{where}.upload.id: upload '{upload.id}' is not complete: bytes {shown} have not arrived",
            "send the missing parts with PutUploadContentParts until the upload is UPLOAD_DONE",
        )


def _queue(
    conn: Connection, app: AppRef, given_id: str, where: str, payload: dict[str, Any]
) -> resources_pb2.InputsAddJob:
    """Queue an import job (its id ``given_id``, else a new one) and answer it as polled."""
    job_id = check_id("inputs add job", given_id, where)
    if repo.get(conn, job_id) is not None:
        raise errors.ApiError(errors.DUPLICATE_KEY, f"{where}: inputs add job '{job_id}' already exists")
    repo.insert_job(conn, job_id, IMPORT_KIND, payload, app.pk)
    return inputs_add_job(_require(conn, app.pk, job_id))


def _target(app: AppRef, template: resources_pb2.Input) -> dict[str, Any]:
    dataset_ids = list(template.dataset_ids)
    return {"dataset_id": dataset_ids[0] if dataset_ids else "", "app_id": app.id, "owner_id": app.owner_id}


def cancel(conn: Connection, row: Row[Any]) -> resources_pb2.InputsAddJob:
    """CancelInputsAddJob of a background import: queued → cancelled now, running → stops after
    its current chunk; an ended job answers INVALID_REQUEST."""
    if not repo.cancel(conn, row.pk):
        code, _ = STATES.get(_state(row), (status_code_pb2.JOB_UNEXPECTED_ERROR, ""))
        raise errors.invalid(
            f"inputs add job '{row.id}' has already completed ({status_code_pb2.StatusCode.Name(code)}): "
            "there is nothing to cancel",
            "what an import wrote stays; delete unwanted inputs with DeleteInputs",
        )
    now = repo.get(conn, row.id)
    assert now is not None
    return inputs_add_job(now)


def find(conn: Connection, app_pk: int, job_id: str) -> Row[Any] | None:
    """The app's background import job ``job_id`` (GetInputsAddJob answers it too)."""
    row = repo.get(conn, job_id)
    return row if row is not None and row.app_pk == app_pk and row.kind == IMPORT_KIND else None


def of_app(conn: Connection, app_pk: int, limit: int) -> list[Row[Any]]:
    """The app's newest ``limit`` background import jobs, newest first (ListInputsAddJobs)."""
    c = t.jobs.c
    q = select(t.jobs).where(c.app_pk == app_pk, c.kind == IMPORT_KIND).order_by(c.pk.desc()).limit(limit)
    return list(conn.execute(q))


def _require(conn: Connection, app_pk: int, job_id: str) -> Row[Any]:
    row = find(conn, app_pk, job_id)
    assert row is not None, "a job just inserted"
    return row

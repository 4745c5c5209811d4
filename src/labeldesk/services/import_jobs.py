"""PostInputsDataSources: dataset imports from a folder on the server, run as background jobs
(:mod:`labeldesk.jobs.imports`) and polled like Clarifai's inputs-add jobs (GetInputsAddJob and
ListInputsAddJobs of :mod:`labeldesk.services.input_jobs` answer them through :func:`find` and
:func:`of_app`).

A data source's ``url`` is ``file:///path/below/LABELDESK_IMPORT_ROOT`` with an optional
``?format=coco|yolo|voc|jsonl|csv|folder`` (detected from the folder otherwise);
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
from labeldesk.services import registry as rpc
from labeldesk.services.common import check_id, timestamp
from labeldesk.services.context import RequestContext
from labeldesk.storage import tables as t
from labeldesk.storage.repos import jobs as repo

IMPORT_KIND = "inputs_import"  # the job that runs the import (jobs/imports.py)
STATES = {
    repo.QUEUED: (status_code_pb2.JOB_QUEUED, "Job is queued"),
    repo.RUNNING: (status_code_pb2.JOB_RUNNING, "Job is running"),
    repo.DONE: (status_code_pb2.JOB_COMPLETED, "Job completed"),
    repo.FAILED: (status_code_pb2.JOB_FAILED, "Job failed"),
}


def inputs_add_job(row: Row[Any]) -> resources_pb2.InputsAddJob:
    p = row.progress or {}
    total, done = int(p.get("total", 0)), int(p.get("done", 0))
    running = row.state == repo.RUNNING
    code, description = STATES.get(row.state, (status_code_pb2.JOB_UNEXPECTED_ERROR, row.state))
    return resources_pb2.InputsAddJob(
        id=row.id,
        progress=resources_pb2.InputsAddJobProgress(
            pending_count=max(0, total - done) if not running else 0,
            in_progress_count=max(0, total - done) if running else 0,
            success_count=int(p.get("success", 0)),
            failed_count=int(p.get("failed", 0)),
        ),
        created_at=timestamp(row.created_at),
        modified_at=timestamp(row.modified_at),
        status=status_pb2.Status(code=code, description=description, details=row.error or ""),
    )


class ImportJobsService:
    def __init__(self, settings: Settings) -> None:
        self.import_root = settings.import_root

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
        fmt = parse_qs(parsed.query).get("format", [""])[0] or detect_format(Path(path))
        if fmt not in READERS:
            raise errors.invalid(f"{where}: unknown format {fmt!r}", f"one of {', '.join(READERS)}")
        return path, fmt

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
            job_id = check_id(
                "inputs add job", source.inputs_add_job_id, f"data_sources[{n}].inputs_add_job_id"
            )
            if repo.get(conn, job_id) is not None:
                raise errors.ApiError(errors.DUPLICATE_KEY, f"inputs add job '{job_id}' already exists")
            dataset_ids = list(source.input_template.dataset_ids)
            payload = {
                "path": path,
                "format": fmt,
                "dataset_id": dataset_ids[0] if dataset_ids else "",
                "app_id": app.id,
                "owner_id": app.owner_id,
            }
            repo.insert_job(conn, job_id, IMPORT_KIND, payload, app.pk)
            jobs.append(inputs_add_job(_require(conn, app.pk, job_id)))
        return service_pb2.MultiInputsAddJobResponse(inputs_add_jobs=jobs)


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

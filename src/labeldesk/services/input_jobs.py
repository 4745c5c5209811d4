"""Input add jobs: GetInputsAddJob, ListInputsAddJobs, CancelInputsAddJob.

Clarifai adds posted inputs in the background and answers an ``inputs_add_job`` that clients
(the ``clarifai`` SDK's uploads) poll until nothing is pending. labeldesk stores the inputs within
the PostInputs request, so its job is already complete when answered: progress counts the inputs
added and those refused (duplicate ids), and there is nothing left to cancel. Background imports
(PostInputsDataSources, PostInputsUploads) are jobs that run after the request: they are polled
and cancelled here too.
"""

from __future__ import annotations

from typing import Any

from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2, status_pb2
from sqlalchemy import Connection, Row

from labeldesk.domain import errors
from labeldesk.services import import_jobs
from labeldesk.services import registry as rpc
from labeldesk.services.common import check_id, page_of, timestamp
from labeldesk.services.context import RequestContext
from labeldesk.storage.repos import input_jobs as repo

COMPLETED = status_code_pb2.JOB_COMPLETED


def job_proto(row: Row[Any] | repo.NewJob) -> resources_pb2.InputsAddJob:
    return resources_pb2.InputsAddJob(
        id=row.id,
        progress=resources_pb2.InputsAddJobProgress(
            success_count=row.success_count, failed_count=row.failed_count
        ),
        created_at=timestamp(row.created_at),
        modified_at=timestamp(row.modified_at),
        status=status_pb2.Status(code=row.status, description="Job completed"),
    )


def record_job(
    conn: Connection, app_pk: int, job_id: str, added: int, failed: int
) -> resources_pb2.InputsAddJob:
    """The job of one PostInputs request (``inputs_add_job_id``, generated when not given)."""
    given = check_id("inputs add job", job_id, "inputs_add_job_id")
    row = repo.record(conn, app_pk, given, added, failed, COMPLETED, new=not job_id)
    return job_proto(row)


def _require(conn: Connection, app_pk: int, job_id: str) -> Row[Any]:
    row = repo.get(conn, app_pk, job_id) if job_id else None
    if row is None:
        raise errors.ApiError(
            errors.DOES_NOT_EXIST,
            f"inputs add job '{job_id}' does not exist",
            "PostInputs answers the job's id in inputs_add_job.id",
        )
    return row


class InputJobsService:
    @rpc.read("GetInputsAddJob")
    def get_inputs_add_job(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.GetInputsAddJobRequest
    ) -> service_pb2.SingleInputsAddJobResponse:
        app_pk = ctx.require_app().pk
        background = import_jobs.find(conn, app_pk, req.id) if req.id else None
        if background is not None:  # a background import (PostInputsDataSources, PostInputsUploads)
            return service_pb2.SingleInputsAddJobResponse(
                inputs_add_job=import_jobs.inputs_add_job(background)
            )
        row = _require(conn, app_pk, req.id)
        return service_pb2.SingleInputsAddJobResponse(inputs_add_job=job_proto(row))

    @rpc.read("ListInputsAddJobs")
    def list_inputs_add_jobs(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.ListInputsAddJobsRequest
    ) -> service_pb2.MultiInputsAddJobResponse:
        page = page_of(req.page, req.per_page)
        app_pk = ctx.require_app().pk
        end = page.offset + page.per_page
        jobs = [(r.created_at, job_proto(r)) for r in repo.page(conn, app_pk, 0, end)]
        jobs += [(r.created_at, import_jobs.inputs_add_job(r)) for r in import_jobs.of_app(conn, app_pk, end)]
        jobs.sort(key=lambda pair: pair[0], reverse=True)  # both kinds of job, newest first
        return service_pb2.MultiInputsAddJobResponse(inputs_add_jobs=[j for _, j in jobs[page.offset : end]])

    @rpc.write("CancelInputsAddJob")
    def cancel_inputs_add_job(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.CancelInputsAddJobRequest
    ) -> service_pb2.SingleInputsAddJobResponse:
        app_pk = ctx.require_app().pk
        background = import_jobs.find(conn, app_pk, req.id) if req.id else None
        if background is not None:  # queued: cancelled now; running: stops after its current chunk
            return service_pb2.SingleInputsAddJobResponse(inputs_add_job=import_jobs.cancel(conn, background))
        row = _require(conn, app_pk, req.id)
        raise errors.ApiError(
            errors.INVALID_REQUEST,
            f"inputs add job '{row.id}' has already completed: there is nothing to cancel",
            "labeldesk adds inputs within the PostInputs request; delete unwanted inputs with DeleteInputs",
        )

"""Auto-annotation tasks: a task whose workers include a model (``worker.workers[].model``) queues
one background job per model (kind ``auto_annotation``, run by :mod:`labeldesk.jobs.auto_annotation`),
never work inside the request. This module checks the models at PostTasks and queues the jobs."""

from __future__ import annotations

from sqlalchemy import Connection

from labeldesk.domain import errors
from labeldesk.domain.task_rules import NormalisedTask
from labeldesk.services.common import new_id
from labeldesk.services.context import AppRef
from labeldesk.services.model_run import model_ref
from labeldesk.services.models import require_model
from labeldesk.storage.repos import jobs as jobs_repo
from labeldesk.storage.repos import models as models_repo

AUTO_ANNOTATION_KIND = "auto_annotation"


def check_models(conn: Connection, app: AppRef, checked: NormalisedTask, where: str) -> None:
    """Every model worker exists, has the version named (if any) and is bound to a backend."""
    for model_id, version_id in checked.model_workers:
        row = require_model(conn, app.pk, model_id)
        if version_id and version_id != row.version_id:
            raise errors.ApiError(
                errors.DOES_NOT_EXIST,
                f"{where}.worker.workers: model {model_id!r} has no version {version_id!r}",
                f"its version is {row.version_id!r}",
            )
        model_ref(row)


def queue_jobs(conn: Connection, app: AppRef, task_pk: int, task_id: str, checked: NormalisedTask) -> None:
    for model_id, _ in checked.model_workers:
        payload = {
            "task_pk": task_pk,
            "task_id": task_id,
            "model_id": model_id,
            "app_id": app.id,
            "owner_id": app.owner_id,
        }
        jobs_repo.insert_job(conn, new_id(), AUTO_ANNOTATION_KIND, payload, app.pk)


def progress(conn: Connection, app_pk: int, task_pk: int) -> list[dict[str, object]]:
    """Per model worker of a task: its job's state and counts (GetTask ``progress``)."""
    out: list[dict[str, object]] = []
    for job in models_repo.jobs_of_task(conn, app_pk, AUTO_ANNOTATION_KIND, task_pk):
        p = job.progress or {}
        counts = {k: int(p.get(k, 0)) for k in ("done", "annotated", "to_humans", "failed")}
        entry: dict[str, object] = {"model_id": job.payload["model_id"], "state": job.state, **counts}
        if job.error:
            entry["error"] = job.error
        if p.get("errors"):
            entry["errors"] = list(p["errors"])[:5]
        out.append(entry)
    return out

"""Job kind ``prelabels``: the task's assistant model predicts on the task's inputs, in batches, and
the regions inside ``ai_assist_params``' thresholds (of the task's concepts) are stored as one
pre-label annotation per input: ``task_id`` the task, ``model_version_id`` the model's version,
status :data:`~labeldesk.domain.prelabels.PRELABEL_STATUS`, owned by the app owner, hidden from
ListAnnotations unless asked for (docs/models.md "Pre-labels").

Resumable: progress stores the last input pk done, and an input that already has this task's
pre-labels of this model version is skipped. The backend is called outside any transaction; a
backend failure is counted per input (the input is labelled without pre-labels)."""

from __future__ import annotations

from typing import Any

from clarifai_grpc.grpc.api import resources_pb2
from sqlalchemy import Row

from labeldesk.domain import errors
from labeldesk.domain import prelabels as rules
from labeldesk.domain.annotation_rules import concept_index
from labeldesk.jobs.worker import Handler, Report
from labeldesk.models.base import BackendError
from labeldesk.services import model_run as run
from labeldesk.services.assignments import TaskSource
from labeldesk.services.common import new_id
from labeldesk.services.hosting import Hosting
from labeldesk.services.task_record import TaskRecord, record_of
from labeldesk.storage.clock import utcnow
from labeldesk.storage.engine import Database
from labeldesk.storage.repos import annotations as ann_repo
from labeldesk.storage.repos import assignments as assignments_repo
from labeldesk.storage.repos import inputs as inputs_repo
from labeldesk.storage.repos import models as models_repo
from labeldesk.storage.repos import prelabels as repo

BATCH = 16
MAX_ERRORS = 20
COUNTS = ("done", "prelabelled", "regions", "concepts", "failed")


def handler(hosting: Hosting | None) -> Handler:
    def run_job(db: Database, job: Row[Any], report: Report) -> dict[str, Any]:
        return run_prelabels(db, job, report, hosting)

    return run_job


def run_prelabels(db: Database, job: Row[Any], report: Report, hosting: Hosting | None) -> dict[str, Any]:
    p = job.payload
    progress = dict(job.progress or {})
    counts = {k: int(progress.get(k, 0)) for k in COUNTS}
    after = int(progress.get("after_pk", 0))
    errors_seen: list[str] = list(progress.get("errors", []))
    with db.read() as conn:
        task_row = models_repo.task_by_pk(conn, p["task_pk"])
        if task_row is None:
            return {"skipped": "the task was deleted", **counts}
        task = record_of(task_row)
        assistant = rules.assistant_of(task.spec, "task")
        if assistant is None:
            return {"skipped": "the task names no assistant any more", **counts}
        model_row = models_repo.by_ids(conn, job.app_pk, [assistant.model_id]).get(assistant.model_id)
        if model_row is None:
            return {"skipped": f"model {assistant.model_id!r} was deleted", **counts}
        model = run.model_ref(model_row)
    concepts = {c.concept.id for c in task.spec.concepts} | set(task.spec.concept_ids)
    kinds = rules.kinds_of(task.spec)
    info = {rules.MARKER: {"model_id": model.id}}
    while True:
        try:
            after, batch, more, todo = _next_batch(db, task, job.app_pk, model.version_id, after)
        except errors.ApiError as e:
            return {"stopped": e.description, **counts}
        if not batch:
            break
        if not more:
            continue
        images = run.read_images([d for _, _, d in todo], job.app_pk, hosting, model.binding.timeout_s)
        with db.read() as conn:  # holds one of the backend's call slots (docs/models.md)
            results = run.predict(model, images, conn)
        new_rows, made = [], []
        handled = {pk: rules.NONE for pk in more}  # inputs without data count as gone through
        ts = utcnow()
        for (input_id, input_pk, _), res in zip(todo, results):
            counts["done"] += 1
            if isinstance(res, BackendError):
                counts["failed"] += 1
                handled[input_pk] = rules.FAILED
                errors_seen.extend([f"input {input_id}: {res.message}"][: MAX_ERRORS - len(errors_seen)])
                continue
            ann_id = new_id()
            data = rules.prelabels_for(run.output_data(res, p["app_id"]), assistant, concepts, ann_id, kinds)
            if data.regions or data.concepts:
                handled[input_pk] = rules.PRELABELLED
                counts["prelabelled"] += 1
                counts["regions"] += len(data.regions)
                counts["concepts"] += len(data.concepts)
                status = rules.PRELABEL_STATUS
                new_rows.append(
                    run.annotation_row(
                        input_pk, p["owner_id"], data, status, task.id, model.version_id, ts, info, ann_id
                    )
                )
                made.append(data)
        with db.write() as conn:  # the pre-labels and the inputs they are ready for, together
            if new_rows:
                ann_repo.insert_many(conn, job.app_pk, new_rows, [concept_index(d) for d in made])
            repo.mark_processed(conn, task.pk, model.version_id, handled)
        report({"after_pk": after, **counts, "errors": errors_seen})
    return {**counts, "errors": errors_seen}


def _next_batch(
    db: Database, task: TaskRecord, app_pk: int, version_id: str, after: int
) -> tuple[int, list[int], list[int], list[tuple[str, int, resources_pb2.Data]]]:
    """The next inputs to pre-label, in the work queue's order: first those the queue has planned
    seats for that the job has not been through (late joiners the source rescan planned below
    the watermark, inputs planned while the job was behind), then the task's source above
    ``after`` (:class:`TaskSource`, as the queue's planner reads it). Answers the new cursor, the
    pks the batch covers (empty at the end), those the job has not been through, and of those
    the ones with data to predict on: (id, pk, data)."""
    with db.read() as conn:
        planned = repo.unprocessed_planned(conn, task.pk, version_id, BATCH)
        if planned:
            batch = assignments_repo.source_inputs(conn, planned)
        else:
            batch = TaskSource(conn, task).after(after, BATCH)
            after = batch[-1].pk if batch else after
        pks = [s.pk for s in batch]
        done = repo.processed(conn, task.pk, version_id, pks)
        # pre-labelled by a job that predates the record of inputs gone through
        older = repo.prelabelled(conn, app_pk, task.id, version_id, set(pks) - done)
        rows = inputs_repo.by_ids(conn, app_pk, [s.id for s in batch if s.pk not in done | older])
    if older:
        with db.write() as conn:
            repo.mark_processed(conn, task.pk, version_id, dict.fromkeys(older, rules.PRELABELLED))
    todo = [(s.id, s.pk, resources_pb2.Data.FromString(rows[s.id].data)) for s in batch if s.id in rows]
    return after, pks, [pk for pk in pks if pk not in done | older], todo

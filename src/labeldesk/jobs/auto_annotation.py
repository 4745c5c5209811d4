"""Job kind ``auto_annotation``: a model worker of a task predicts on the task's inputs, in batches,
and the predictions inside a task concept's ``threshold_range`` become annotations with the
config's status, the task id and the model's ``model_version_id`` (docs/models.md).

Resumable and never twice: progress stores the last input pk done; a resumed run starts after it,
and a batch whose annotations were written before the worker died (progress not yet stored) is
skipped input by input, since it already has this task's annotations of this model version.
The backend is called outside any write transaction (a read one holds the backend's call slot,
:func:`labeldesk.services.model_run.backend_slot`); a backend failure is counted per input (the input
stays for the human workers) and the job goes on."""

from __future__ import annotations

from typing import Any

from clarifai_grpc.grpc.api import resources_pb2
from sqlalchemy import Row

from labeldesk.domain import auto_annotation as rules
from labeldesk.domain import errors
from labeldesk.domain.annotation_rules import concept_index
from labeldesk.jobs.worker import Handler, Report
from labeldesk.models.base import BackendError
from labeldesk.services import model_run as run
from labeldesk.services.assignments import TaskSource
from labeldesk.services.hosting import Hosting
from labeldesk.services.task_record import record_of
from labeldesk.storage.clock import utcnow
from labeldesk.storage.engine import Database
from labeldesk.storage.repos import annotations as ann_repo
from labeldesk.storage.repos import inputs as inputs_repo
from labeldesk.storage.repos import models as models_repo

BATCH = 32
MAX_ERRORS = 20


def handler(hosting: Hosting | None) -> Handler:
    def run_job(db: Database, job: Row[Any], report: Report) -> dict[str, Any]:
        return run_auto_annotation(db, job, report, hosting)

    return run_job


def run_auto_annotation(
    db: Database, job: Row[Any], report: Report, hosting: Hosting | None
) -> dict[str, Any]:
    p = job.payload
    progress = dict(job.progress or {})
    counts = {k: int(progress.get(k, 0)) for k in ("done", "annotated", "to_humans", "failed")}
    after = int(progress.get("after_pk", 0))
    errors_seen: list[str] = list(progress.get("errors", []))
    with db.read() as conn:
        task_row = models_repo.task_by_pk(conn, p["task_pk"])
        model_row = models_repo.by_ids(conn, job.app_pk, [p["model_id"]]).get(p["model_id"])
        if task_row is None or model_row is None:
            return {"skipped": "the task or the model was deleted", **counts}
        task = record_of(task_row)
        model = run.model_ref(model_row)
    concept_rules = {
        c.concept.id: rules.rule_of(c.auto_annotation_config, f"concepts[{i}]")
        for i, c in enumerate(task.spec.concepts)
    }
    while True:
        with db.read() as conn:
            try:
                batch = TaskSource(conn, task).after(after, BATCH)
            except errors.ApiError as e:
                return {"stopped": e.description, **counts}
            rows = inputs_repo.by_ids(conn, job.app_pk, [s.id for s in batch])
            done = models_repo.auto_annotated(conn, task.id, model.version_id, [s.pk for s in batch])
        if not batch:
            break
        todo = [s for s in batch if s.pk not in done and s.id in rows]
        already = sum(1 for s in batch if s.pk in done)  # annotated by an attempt that died
        counts["done"] += already
        counts["annotated"] += already
        datas_in = [resources_pb2.Data.FromString(rows[s.id].data) for s in todo]
        images = run.read_images(datas_in, job.app_pk, hosting, model.binding.timeout_s)
        with db.read() as conn:  # only to hold a backend slot (docs/models.md)
            results = run.predict(model, images, conn)
        new_rows, datas = [], []
        ts = utcnow()
        for s, res in zip(todo, results):
            counts["done"] += 1
            if isinstance(res, BackendError):
                counts["failed"] += 1
                if len(errors_seen) < MAX_ERRORS:
                    errors_seen.append(f"input {s.id}: {res.message}")
                continue
            made = rules.annotations_for(run.output_data(res, p["app_id"]), concept_rules)
            if not made:
                counts["to_humans"] += 1
                continue
            counts["annotated"] += 1
            for status, data in sorted(made.items()):
                new_rows.append(
                    run.annotation_row(s.pk, p["owner_id"], data, status, task.id, model.version_id, ts)
                )
                datas.append(data)
        if new_rows:
            with db.write() as conn:
                ann_repo.insert_many(conn, job.app_pk, new_rows, [concept_index(d) for d in datas])
        after = batch[-1].pk
        report({"after_pk": after, **counts, "errors": errors_seen})
    return {**counts, "errors": errors_seen}

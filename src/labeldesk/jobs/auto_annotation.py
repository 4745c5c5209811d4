"""Job kind ``auto_annotation``: a model worker of a task predicts on the task's inputs, in batches,
and the predictions inside a task concept's ``threshold_range`` become annotations with the
config's status, the task id and the model's ``model_version_id`` (docs/models.md).

Resumable and never twice: progress stores the last input pk done; a resumed run starts after it,
and a batch whose annotations were written before the worker died (progress not yet stored) is
skipped input by input, since it already has this task's annotations of this model version.
The backend is called outside any write transaction (a read one holds the backend's call slot,
:func:`labeldesk.services.model_run.backend_slot`); a backend failure is counted per input (the input
stays for the human workers) and the job goes on.

Inputs that join the source below the mark (added to the dataset, or newly matching the saved
search, after the job passed them) are found by a rescan once the walk reaches the end: every
decided input is recorded in ``model_decisions``, and the rescan decides the source's inputs at or
below the mark that are not. A job that ended is queued again by the human queue when it finds
undecided inputs (:func:`labeldesk.services.auto_annotation.hold_undecided`), and for tasks without
humans by the server's sweep (:mod:`labeldesk.services.model_late_inputs`)."""

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
from labeldesk.services.auto_annotation import mark_of
from labeldesk.services.hosting import Hosting
from labeldesk.services.model_late_inputs import source_stamp, undecided_below
from labeldesk.services.task_record import TaskRecord, record_of
from labeldesk.storage.clock import utcnow
from labeldesk.storage.engine import Database
from labeldesk.storage.repos import annotations as ann_repo
from labeldesk.storage.repos import inputs as inputs_repo
from labeldesk.storage.repos import model_decisions as decisions
from labeldesk.storage.repos import models as models_repo
from labeldesk.storage.repos.assignments import SourceInput

BATCH = 32
RESCAN_CHUNK = 512  # source inputs read per query when looking below the mark
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
    with db.read() as conn:
        task_row = models_repo.task_by_pk(conn, p["task_pk"])
        model_row = models_repo.by_ids(conn, job.app_pk, [p["model_id"]]).get(p["model_id"])
        if task_row is None or model_row is None:
            return {"skipped": "the task or the model was deleted"}
        task = record_of(task_row)
        run_ = _Run(db, job, report, hosting, task, run.model_ref(model_row), progress)
    try:
        while True:
            run_.walk()  # the source above the mark
            if not run_.rescan():  # and what joined it below the mark meanwhile
                break
    except errors.ApiError as e:
        return {"stopped": e.description, **run_.counts}
    settled = {} if run_.stamp is None else {"below_stamp": run_.stamp}
    return {**run_.counts, "errors": run_.errors, **settled}


class _Run:
    """One run of a model worker's job over its task's source."""

    def __init__(
        self,
        db: Database,
        job: Row[Any],
        report: Report,
        hosting: Hosting | None,
        task: TaskRecord,
        model: run.ModelRef,
        progress: dict[str, Any],
    ) -> None:
        self.db, self.job, self.report, self.hosting, self.task, self.model = (
            db,
            job,
            report,
            hosting,
            task,
            model,
        )
        self.payload = job.payload
        self.counts = {k: int(progress.get(k, 0)) for k in ("done", "annotated", "to_humans", "failed")}
        self.after = mark_of(job)
        #: the source's :meth:`~TaskSource.below_stamp` when the last rescan began with no write of
        #: the app's inputs in flight; the late-inputs sweep skips its look below the mark while
        #: the source's stays the same (None: it cannot)
        self.stamp: int | None = None
        self.errors: list[str] = list(progress.get("errors", []))
        self.rules = {
            c.concept.id: rules.rule_of(c.auto_annotation_config, f"concepts[{i}]")
            for i, c in enumerate(task.spec.concepts)
        }

    def walk(self) -> None:
        while True:
            with self.db.read() as conn:
                batch = TaskSource(conn, self.task).after(self.after, BATCH)
            if not batch:
                return
            self.decide(batch)
            self.after = batch[-1].pk
            self._report()

    def rescan(self) -> int:
        """Decide the source's inputs at or below the mark that this model has not decided (they
        joined the dataset or saved search after the job passed them); how many there were."""
        self.stamp = source_stamp(self.db, self.task)
        found, cursor = 0, 0
        while True:
            with self.db.read() as conn:
                source = TaskSource(conn, self.task)
                late = undecided_below(
                    conn, source, self.task.pk, self.model.id, cursor, self.after, RESCAN_CHUNK
                )
            if not late:
                break
            for i in range(0, len(late), BATCH):
                self.decide(late[i : i + BATCH])
                self._report()
            found += len(late)
            cursor = late[-1].pk
        return found

    def _report(self) -> None:
        self.report({"after_pk": self.after, **self.counts, "errors": self.errors})

    def decide(self, batch: list[SourceInput]) -> None:
        """Predict on the batch's inputs not decided yet, write the annotations the task's ranges
        call for and mark them all decided, in one write transaction."""
        task, model, app_pk = self.task, self.model, self.job.app_pk
        pks = [s.pk for s in batch]
        with self.db.read() as conn:
            rows = inputs_repo.by_ids(conn, app_pk, [s.id for s in batch])
            done = models_repo.auto_annotated(conn, task.id, model.version_id, pks)
            seen = decisions.decided(conn, task.pk, model.id, pks) - done
        todo = [s for s in batch if s.pk not in done and s.pk not in seen and s.id in rows]
        self.counts["done"] += len(done) + len(seen)  # decided by an attempt that died, or a job before
        self.counts["annotated"] += len(done)
        datas_in = [resources_pb2.Data.FromString(rows[s.id].data) for s in todo]
        images = run.read_images(datas_in, app_pk, self.hosting, model.binding.timeout_s)
        with self.db.read() as conn:  # only to hold a backend slot (docs/models.md)
            results = run.predict(model, images, conn)
        new_rows, datas = [], []
        ts = utcnow()
        for s, res in zip(todo, results):
            self.counts["done"] += 1
            if isinstance(res, BackendError):
                self.counts["failed"] += 1
                if len(self.errors) < MAX_ERRORS:
                    self.errors.append(f"input {s.id}: {res.message}")
                continue
            made = rules.annotations_for(run.output_data(res, self.payload["app_id"]), self.rules)
            if not made:
                self.counts["to_humans"] += 1
                continue
            self.counts["annotated"] += 1
            for status, data in sorted(made.items()):
                new_rows.append(
                    run.annotation_row(
                        s.pk, self.payload["owner_id"], data, status, task.id, model.version_id, ts
                    )
                )
                datas.append(data)
        fresh = [s.pk for s in batch if s.pk not in seen and s.id in rows]
        if not fresh:
            return
        with self.db.write() as conn:
            if new_rows:
                ann_repo.insert_many(conn, app_pk, new_rows, [concept_index(d) for d in datas])
            decisions.record(conn, task.pk, model.id, fresh)

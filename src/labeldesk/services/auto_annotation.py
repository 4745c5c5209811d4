"""Auto-annotation tasks: a task whose workers include a model (``worker.workers[].model``) queues
one background job per model (kind ``auto_annotation``, run by :mod:`labeldesk.jobs.auto_annotation`),
never work inside the request. This module checks the models at PostTasks and PatchTasks, queues
(and, for a model no longer a worker, cancels) the jobs, and tells the human queue how far the
models have decided the task's inputs: inputs above that point are held from humans."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from sqlalchemy import Connection

from labeldesk.domain import errors
from labeldesk.domain.task_rules import NormalisedTask
from labeldesk.services.common import new_id
from labeldesk.services.context import AppRef
from labeldesk.services.model_run import model_ref
from labeldesk.services.models import require_model
from labeldesk.services.task_record import TaskRecord
from labeldesk.storage.repos import jobs as jobs_repo
from labeldesk.storage.repos import model_decisions as decisions
from labeldesk.storage.repos import models as models_repo

AUTO_ANNOTATION_KIND = "auto_annotation"
CANCELLED = "cancelled"  # the model was removed from the task's workers
LIVE = (jobs_repo.QUEUED, jobs_repo.RUNNING)


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
    _queue(conn, app, task_pk, task_id, [m for m, _ in checked.model_workers])


def sync_jobs(conn: Connection, app: AppRef, task_pk: int, task_id: str, checked: NormalisedTask) -> None:
    """PatchTasks: a model added to the workers gets its job queued; the queued or running job of
    a model removed from them is cancelled (its worker stops at its next progress report)."""
    wanted = {m for m, _ in checked.model_workers}
    have = set()
    for job in models_repo.jobs_of_task(conn, app.pk, AUTO_ANNOTATION_KIND, task_pk):
        model_id = job.payload["model_id"]
        if model_id not in wanted and job.state in LIVE:
            stopped = {"stopped": f"model {model_id!r} was removed from the task's workers"}
            jobs_repo.finish(conn, job.pk, CANCELLED, dict(job.progress or {}), result=stopped)
        elif model_id in wanted and job.state != CANCELLED:
            have.add(model_id)
    _queue(conn, app, task_pk, task_id, [m for m, _ in checked.model_workers if m not in have])


class Source(Protocol):
    """The task's input source as the human queue walks it (:class:`services.assignments.TaskSource`)."""

    def after(self, after_pk: int, limit: int) -> Sequence[Any]: ...


def decided_upto(conn: Connection, task: TaskRecord, source: Source) -> int | None:
    """How far the task's model workers have decided its inputs (in input pk order, as both they
    and the human queue walk the source): inputs above this pk are held from human workers until
    every model worker's job has passed them or ended. None when nothing is held.

    A model whose job is done while the source has inputs above its mark (they joined later) gets
    its job queued again from that mark, and holds them."""
    marks = _live_marks(conn, task, lambda mark: bool(source.after(mark, 1)))
    return min(marks.values()) if marks else None


def hold_undecided(conn: Connection, task: TaskRecord, inputs: Sequence[SourceInputLike]) -> list[Any]:
    """Of the inputs the human queue's rescan found below its watermark (they joined the source
    late), those every model worker has decided; the others wait, and a model whose job is done
    gets it queued again (its rescan decides them). The queue's next rescan finds them again."""
    models = model_workers(task)
    if not models or not inputs:
        return list(inputs)
    ok = decisions.decided_by_all(conn, task.pk, models, [i.pk for i in inputs])
    if len(ok) == len(inputs):
        return list(inputs)
    marks = _live_marks(conn, task, lambda mark: True)
    waiting = [m for m in models if m in marks]
    ok = decisions.decided_by_all(conn, task.pk, waiting, [i.pk for i in inputs]) if waiting else ok
    return [i for i in inputs if i.pk in ok or not waiting]


class SourceInputLike(Protocol):
    @property
    def pk(self) -> int: ...


def model_workers(task: TaskRecord) -> list[str]:
    return sorted({w.model.id for w in task.spec.worker.workers if w.HasField("model")})


def _live_marks(conn: Connection, task: TaskRecord, requeue: Callable[[int], bool]) -> dict[str, int]:
    """Per model worker with a queued or running job, the mark up to which it has decided the
    source; a model whose newest job is done is queued again from its mark when ``requeue(mark)``
    says so (a failed or cancelled job holds nothing and is not retried here)."""
    models = set(model_workers(task))
    if not models:
        return {}
    marks: dict[str, int] = {}
    newest: dict[str, Any] = {}
    for job in models_repo.jobs_of_task(conn, task.app_pk, AUTO_ANNOTATION_KIND, task.pk):
        model_id = job.payload["model_id"]
        if model_id not in models:
            continue
        newest[model_id] = job
        if job.state in LIVE:
            mark = mark_of(job)
            marks[model_id] = min(mark, marks.get(model_id, mark))
    for model_id, job in newest.items():
        if model_id not in marks and job.state == jobs_repo.DONE and requeue(mark := mark_of(job)):
            requeue_after(conn, task, job)
            marks[model_id] = mark
    return marks


def mark_of(job: Any) -> int:
    """The input pk up to which a model worker's job has walked its task's source."""
    return int((job.progress or {}).get("after_pk", job.payload.get("start_after", 0)))


def requeue_after(conn: Connection, task: TaskRecord, job: Any) -> bool:
    """Queue the model worker's ``job``, its newest one and DONE, again: it goes on from its mark
    (its rescan decides what joined below the mark), its counts going on too. The same job, not a
    new one, so that a task whose source keeps growing keeps one job per model worker, which
    every LABEL_START of its queue reads. False when another transaction queued it meanwhile, or
    a later job of the model exists (jobs of earlier releases). Reopening is conditional on the
    job being DONE, so two replicas (or the human queue and the server's sweep) never both queue
    it: on PostgreSQL the second waits for the first's row, then finds it queued."""
    model_id = job.payload["model_id"]
    later = models_repo.jobs_of_task(conn, task.app_pk, AUTO_ANNOTATION_KIND, task.pk)
    if any(j.pk > job.pk and j.payload["model_id"] == model_id for j in later):
        return False
    return jobs_repo.reopen(conn, job.pk)


def _queue(conn: Connection, app: AppRef, task_pk: int, task_id: str, model_ids: list[str]) -> None:
    for model_id in model_ids:
        payload: dict[str, Any] = {
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

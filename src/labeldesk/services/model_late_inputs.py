"""Late inputs of tasks with model workers: the server's periodic sweep.

A model worker's job ends once it has walked its task's source. Inputs that join the source later
(PostInputs into the task's dataset, PostDatasetInputs of older inputs, a saved search that starts
matching more inputs, new inputs of an ``ALL_INPUTS`` task) must be predicted too. When the task
has human workers, their queue notices them (:func:`labeldesk.services.auto_annotation.decided_upto`
and ``hold_undecided``); a task whose only worker is a model has nobody asking, so every
``source_rescan_seconds`` the server looks, per model worker whose newest job is ``done``, for
source inputs the model has not decided -- above the job's mark, or at or below it (those the
model decided are recorded in ``model_decisions``) -- and queues the job again from its mark: it
predicts the newcomers and skips everything decided. A job that failed or stopped (its model or
source is gone) is not retried here; PatchTasks queues a new one."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Connection, Row

from labeldesk.domain import errors
from labeldesk.services import auto_annotation as auto
from labeldesk.services.assignments import Source, TaskSource
from labeldesk.services.task_record import TaskRecord, record_of
from labeldesk.storage.engine import Database
from labeldesk.storage.repos import jobs as jobs_repo
from labeldesk.storage.repos import model_decisions as decisions
from labeldesk.storage.repos import models as models_repo
from labeldesk.storage.repos.assignments import SourceInput

log = logging.getLogger("labeldesk.jobs")

CHUNK = 1000  # source inputs read per query when looking below a job's mark


#: the sweep's shortest period: ``source_rescan_seconds=0`` means "rescan on every LABEL_START" for
#: the human queue, not "sweep in a busy loop"
MIN_PERIOD_SECONDS = 0.2


def requeue_for_late_inputs(conn: Connection) -> int:
    """Queue again the job of every model worker whose newest job is done while its task's source
    has inputs it has not decided (run in a write transaction); how many jobs were queued."""
    queued = 0
    for task, job in _late_jobs(conn):
        if auto.requeue_after(conn, task, job):
            log.info(
                "task %s: model %s has late inputs, its job is queued again", task.id, job.payload["model_id"]
            )
            queued += 1
    return queued


def _late_jobs(conn: Connection) -> list[tuple[TaskRecord, Row[Any]]]:
    """(task, newest job) of every model worker whose job is done while its task's source has
    inputs it has not decided; reads only."""
    late: list[tuple[TaskRecord, Row[Any]]] = []
    for (task_pk, model_id), job in models_repo.newest_jobs(conn, auto.AUTO_ANNOTATION_KIND).items():
        result = job.result or {}
        if job.state != jobs_repo.DONE or "stopped" in result or "skipped" in result:
            continue
        row = models_repo.task_by_pk(conn, task_pk)
        if row is None:
            continue
        task = record_of(row)
        if model_id not in auto.model_workers(task) or not models_repo.by_ids(conn, task.app_pk, [model_id]):
            continue
        try:
            source = TaskSource(conn, task)
            stamp = result.get("below_stamp")
            if _undecided(conn, source, task.pk, model_id, auto.mark_of(job), stamp):
                late.append((task, job))
        except errors.ApiError:  # the task's dataset or saved search is gone
            continue
    return late


def _undecided(
    conn: Connection, source: TaskSource, task_pk: int, model_id: str, mark: int, stamp: int | None
) -> bool:
    """True when the source has an input above ``mark``, or one at or below it that the model has
    not decided for the task (it joined the dataset or saved search after the job passed it). The
    look below the mark is skipped while the source's ``below_stamp`` is still the ``stamp`` the
    job's last rescan began from with no write of inputs in flight: no input can have joined
    below the mark since."""
    if source.after(mark, 1):
        return True
    if stamp is not None and stamp == source.below_stamp():
        return False
    return bool(undecided_below(conn, source, task_pk, model_id, 0, mark, 1))


def undecided_below(
    conn: Connection, source: TaskSource, task_pk: int, model_id: str, after_pk: int, mark: int, limit: int
) -> list[SourceInput]:
    """The source's inputs with ``after_pk`` < pk <= ``mark`` that the model has not decided for
    the task, oldest first, at most ``limit`` (the sweep asks for one; a job's rescan reads them
    all, ``limit`` at a time). For ``ALL_INPUTS`` none on SQLite, whose new inputs only come above
    the mark, and on PostgreSQL one anti-join in the database: there an input whose PostInputs
    committed after a later one's can appear below it (``storage/repos/input_writes.py``). For
    a dataset one anti-join too; a saved search's inputs (resolved in Python) are read ``CHUNK``
    at a time against ``model_decisions``."""
    app_pk = source.task.app_pk
    if source.monotone:  # (TaskSource.settles: where inputs can commit out of pk order)
        return (
            decisions.undecided(conn, app_pk, task_pk, model_id, after_pk, mark, limit)
            if source.settles
            else []
        )
    if source.kind == Source.DATASET:
        ds = source.dataset_pk()
        return decisions.undecided(conn, app_pk, task_pk, model_id, after_pk, mark, limit, ds)
    found: list[SourceInput] = []
    cursor = after_pk
    while cursor < mark and len(found) < limit:
        chunk = [s for s in source.after(cursor, CHUNK) if s.pk <= mark]
        if not chunk:
            break
        seen = decisions.decided(conn, task_pk, model_id, [s.pk for s in chunk])
        found += [s for s in chunk if s.pk not in seen]
        cursor = chunk[-1].pk
    return found[:limit]


def sweep(db: Database) -> int:
    """What the server runs every ``source_rescan_seconds`` (``RunningServer``): a read transaction
    that looks, and only when it finds late inputs a write transaction of
    :func:`requeue_for_late_inputs` (which looks again under the write lock). A sweep that finds
    nothing never takes the write lock, which other servers on the same SQLite file wait for."""
    with db.read() as conn:
        if not _late_jobs(conn):
            return 0
    with db.write() as conn:
        return requeue_for_late_inputs(conn)

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
source is gone) is not retried here; PatchTasks queues a new one.

The look below a job's mark is skipped while the source's ``below_stamp`` is the one the job noted
(:func:`source_stamp`). A job whose last look began while a write of inputs was in flight
(PostgreSQL) noted none; the sweep gives it one the first time its own look finds nothing, so
that later sweeps skip the look too."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Connection, Row

from labeldesk.domain import errors
from labeldesk.services import auto_annotation as auto
from labeldesk.services.assignments import Source, TaskSource
from labeldesk.services.task_record import TaskRecord, record_of
from labeldesk.storage.engine import Database
from labeldesk.storage.repos import input_writes
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
    for task, job in _late_jobs(conn)[0]:
        if auto.requeue_after(conn, task, job):
            log.info(
                "task %s: model %s has late inputs, its job is queued again", task.id, job.payload["model_id"]
            )
            queued += 1
    return queued


Jobs = list[tuple[TaskRecord, Row[Any]]]


def _late_jobs(conn: Connection) -> tuple[Jobs, Jobs]:
    """(task, newest job) of every model worker whose job is done while its task's source has
    inputs it has not decided; and of those whose look below the mark found none while the job had
    no stamp that still holds (:func:`sweep` notes one). Reads only."""
    late: Jobs = []
    unstamped: Jobs = []
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
            found = _undecided(conn, source, task.pk, model_id, auto.mark_of(job), stamp)
        except errors.ApiError:  # the task's dataset or saved search is gone
            continue
        if found:
            late.append((task, job))
        elif found is None:
            unstamped.append((task, job))
    return late, unstamped


def _undecided(
    conn: Connection, source: TaskSource, task_pk: int, model_id: str, mark: int, stamp: int | None
) -> bool | None:
    """True when the source has an input above ``mark``, or one at or below it that the model has
    not decided for the task (it joined the dataset or saved search after the job passed it). The
    look below the mark is skipped while the source's ``below_stamp`` is still the ``stamp`` the
    job noted: no input can have joined below the mark since. None instead of False when the look
    ran and a stamp would have spared it (the source has one)."""
    if source.after(mark, 1):
        return True
    now = source.below_stamp()
    if stamp is not None and stamp == now:
        return False
    if undecided_below(conn, source, task_pk, model_id, 0, mark, 1):
        return True
    return None if now is not None else False


def source_stamp(db: Database, task: TaskRecord) -> int | None:
    """The task's source's ``below_stamp`` read when no write of the app's inputs is in flight
    (every input below a mark has committed, so a look below it that begins after sees them
    all), else None. Its own short transaction: on PostgreSQL writes that begin meanwhile wait
    for its end, not for the look."""
    with db.read() as conn:
        if not input_writes.idle(conn, task.app_pk):
            return None
        return TaskSource(conn, task).below_stamp()


def _note_stamp(db: Database, task: TaskRecord, job: Row[Any]) -> None:
    """Give ``job``, whose look below its mark just found nothing, the stamp its own last look
    could not note: read first, then the look again (it must begin after the stamp), then noted
    in the job's result unless the job changed meanwhile."""
    stamp = source_stamp(db, task)
    if stamp is None:
        return
    try:
        with db.read() as conn:
            if undecided_below(
                conn, TaskSource(conn, task), task.pk, job.payload["model_id"], 0, auto.mark_of(job), 1
            ):
                return  # joined meanwhile: the next sweep queues the job again
    except errors.ApiError:  # the task's dataset is gone
        return
    with db.write() as conn:
        jobs_repo.note_result(conn, job.pk, job.modified_at, {"below_stamp": stamp})


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
        late, unstamped = _late_jobs(conn)
    for task, job in unstamped:
        _note_stamp(db, task, job)
    if not late:
        return 0
    with db.write() as conn:
        return requeue_for_late_inputs(conn)

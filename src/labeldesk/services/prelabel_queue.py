"""Pre-labels and the work queue (docs/models.md "Pre-labels", "While the job runs"): the
pre-label job walks the task's inputs in the queue's order (:mod:`labeldesk.jobs.prelabels`), and
while it runs LABEL_START prefers the inputs whose pre-labels are ready -- it never waits for the
model: when none of the caller's next inputs is ready they are handed out anyway, each marked
``data.metadata.prelabel.state: pending``.

Inputs that join the task after its job finished (a dataset or saved search grows; the queue's
planner or source rescan gives them seats) are found here too: when inputs about to be handed out
have not been through the job and none is queued or running, the job is queued again (it goes
through the inputs planned but not pre-labelled first, then the source, skipping those done)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import Connection, Row

from labeldesk.domain import errors
from labeldesk.domain import prelabels as rules
from labeldesk.services.task_record import TaskRecord
from labeldesk.storage.repos import assignments as seats_repo
from labeldesk.storage.repos import jobs as jobs_repo
from labeldesk.storage.repos import models as models_repo
from labeldesk.storage.repos import prelabels as repo

KIND = "prelabels"
LIVE = (jobs_repo.QUEUED, jobs_repo.RUNNING)
READY, PENDING, UNAVAILABLE = "ready", "pending", "unavailable"


def version_of(conn: Connection, task: TaskRecord) -> str | None:
    """The version of the task's assistant model; None when it names none (or it is gone)."""
    try:
        assistant = rules.assistant_of(task.spec, "task")
    except errors.ApiError:
        return None
    if assistant is None:
        return None
    row = models_repo.by_ids(conn, task.app_pk, [assistant.model_id]).get(assistant.model_id)
    return None if row is None else str(row.version_id)


def jobs_of(conn: Connection, task: TaskRecord) -> list[Row[Any]]:
    return models_repo.jobs_of_task(conn, task.app_pk, KIND, task.pk)


def states(conn: Connection, task: TaskRecord, input_pks: Collection[int]) -> dict[int, str]:
    """Input pk → ``ready`` (the job has been through it), ``pending`` (a job is queued or running
    and has not reached it) or ``unavailable`` (no job will: it failed or was stopped)."""
    version = version_of(conn, task)
    if version is None:
        return {}
    done = repo.processed(conn, task.pk, version, input_pks)
    live = any(j.state in LIVE for j in jobs_of(conn, task))
    return {p: READY if p in done else PENDING if live else UNAVAILABLE for p in input_pks}


def prefer_ready(
    conn: Connection, task: TaskRecord, own: Sequence[int], taken: Sequence[int]
) -> tuple[list[int], list[int]]:
    """LABEL_START, given the seats (pks) about to be handed out (the caller's own, and those it
    just took from the pool): while the pre-label job runs, only those whose input's pre-labels
    are ready -- all of them when none is (the labeler is never kept waiting). Queues the job
    again when some of the inputs have not been through it and none is queued or running."""
    own, taken = list(own), list(taken)
    if not task.spec.HasField("ai_assistant") or not (own or taken):
        return own, taken
    version = version_of(conn, task)
    if version is None:
        return own, taken
    input_of = {int(s.pk): int(s.input_pk) for s in seats_repo.by_pks(conn, own + taken)}
    handed = set(input_of.values())
    done = repo.processed(conn, task.pk, version, handed)
    jobs = jobs_of(conn, task)
    live = any(j.state in LIVE for j in jobs)
    missing = handed - done
    if not live and missing and _may_requeue(jobs):
        # the same job, its counts going on (a task whose source keeps growing keeps one job,
        # which every LABEL_START reads), walks the source again from just below the lowest of
        # these inputs it has not been through -- where it stopped, for inputs new to the source;
        # lower for older ones that joined it -- skipping what it went through. Those of its
        # older inputs not handed out here get the job queued again when they are.
        progress = dict(jobs[-1].progress or {})
        progress["after_pk"] = min(int(progress.get("after_pk", 0)), min(missing) - 1)
        jobs_repo.reopen(conn, jobs[-1].pk, progress)
        live = True  # by this call, or by another one just before it
    if not live:
        return own, taken
    ready_own = [p for p in own if input_of.get(p) in done]
    ready_taken = [p for p in taken if input_of.get(p) in done]
    if not (ready_own or ready_taken):
        return own, taken
    return ready_own, ready_taken


def _may_requeue(jobs: Sequence[Row[Any]]) -> bool:
    """Only after a job that ended normally: one that failed, or stopped because the model or
    the source is gone, is not retried on every LABEL_START (PatchTasks queues a new one)."""
    if not jobs:
        return False
    last = jobs[-1]
    result = last.result if isinstance(last.result, dict) else {}
    return last.state == jobs_repo.DONE and not ({"skipped", "stopped"} & set(result))

"""Tasks: PostTasks, GetTask, ListTasks, PatchTasks, DeleteTasks.

A task is validated and normalised by ``domain/task_rules.py`` (old and new field names are
both accepted and both answered), checked against the app here (workers and reviewers are
members, concepts exist, the saved search / dataset / input of the source exists), then stored
as one ``tasks`` row (the normalised spec) plus ``task_users`` rows (workers with their weights,
reviewers). A batch is validated whole before anything is written, in one transaction.

The task's inputs are never copied: ``task_model.task_input_pks`` resolves the source live.
After a PatchTasks, ``task_model.on_task_changed`` lets the assignment engine re-plan pending
work.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_pb2
from sqlalchemy import Connection, Row

from labeldesk.domain import errors, label_orders
from labeldesk.domain.task_rules import (
    AGREEMENT_KEY,
    ASSIGNMENTS_KEY,
    PROGRESS_KEY,
    TASK_STATUSES,
    NormalisedTask,
    normalise_task,
    prefixed,
    task_status,
)
from labeldesk.services import auto_annotation as auto
from labeldesk.services import prelabels, task_model
from labeldesk.services import registry as rpc
from labeldesk.services.common import new_ids, page_of, require_one, require_unique, timestamp
from labeldesk.services.concepts import require_concepts
from labeldesk.services.context import AppRef, RequestContext
from labeldesk.services.datasets import require_dataset
from labeldesk.services.review import agreement
from labeldesk.services.task_annotations import assignment_list, task_metrics, worker_progress
from labeldesk.services.task_model import load_task, task_missing
from labeldesk.services.task_record import TaskRecord, record_of
from labeldesk.services.task_timing import TIMING, timing
from labeldesk.storage.repos import accounts
from labeldesk.storage.repos import inputs as inputs_repo
from labeldesk.storage.repos import searches as searches_repo
from labeldesk.storage.repos import tasks as repo

Source = resources_pb2.TaskInputSource

#: ``additional_fields`` of GetTask / ListTasks (Clarifai's names, plus ``metrics`` / ``counts``
#: for all metrics at once).
USER_FIELDS = ("worker.users", "review.users")
METRIC_FIELDS = (
    "metrics",
    "counts",
    "metrics.input_source.inputs_count_estimated",
    "metrics.work.inputs_count_estimated",
    "metrics.work.inputs_percent_estimated",
    "metrics.review.inputs_count_estimated",
    "metrics.review.inputs_count_estimated_per_reviewer",
    "metrics.review.inputs_percent_estimated",
    "metrics.review.inputs_percent_estimated_per_reviewer",
    "metrics.review.inputs_reviewable_count_estimated_per_reviewer",
)
#: the consensus agreement report (``services/review.agreement``), answered in ``metadata.agreement``:
#: the proto's TaskMetrics has no place for per-labeler scores
AGREEMENT = AGREEMENT_KEY
#: per-worker progress (GetTaskInputCount's numbers), answered in ``metadata.progress``
PROGRESS = PROGRESS_KEY
#: the assignment queue itself (input, worker, TASK_ASSIGNMENT_* status), in ``metadata.assignments``
ASSIGNMENTS = ASSIGNMENTS_KEY
ADDITIONAL_FIELDS = ("all", *USER_FIELDS, *METRIC_FIELDS, AGREEMENT, PROGRESS, ASSIGNMENTS, TIMING)


# --------------------------------------------------------------------------- checks against the app


def _check_members(conn: Connection, app: AppRef, task: NormalisedTask, where: str) -> None:
    members = accounts.members(conn, app.pk, app.owner_id)
    for field, ids in (("worker.user_ids", task.worker_ids), ("review.user_ids", task.reviewer_ids)):
        strangers = [u for u in ids if u not in members]
        if strangers:
            raise errors.invalid(
                f"{where}.{field}: user(s) {', '.join(repr(u) for u in strangers)} are neither the owner "
                f"nor collaborators of app '{app.id}'",
                "add them with PostCollaborators first, or remove them from the task",
            )


def _check_source(conn: Connection, app_pk: int, source: resources_pb2.TaskInputSource, where: str) -> None:
    with prefixed(f"{where}.input_source.id: "):
        if source.type == Source.SAVED_SEARCH:
            require_one(searches_repo.by_ids(conn, app_pk, [source.id]), "saved search", source.id)
        elif source.type == Source.DATASET:
            require_dataset(conn, app_pk, source.id)
        elif source.type == Source.INPUT:
            require_one(inputs_repo.by_ids(conn, app_pk, [source.id]), "input", source.id)


def check_task(conn: Connection, app: AppRef, task: resources_pb2.Task, where: str) -> NormalisedTask:
    """Validate one task of a request against the rules and the app; write nothing."""
    checked = normalise_task(task, where)
    _check_members(conn, app, checked, where)
    require_concepts(conn, app.pk, list(checked.concept_ids), f"{where}.concept_ids")
    _check_source(conn, app.pk, checked.spec.input_source, where)
    return checked


# --------------------------------------------------------------------------- writing


def _row_values(task_id: str, checked: NormalisedTask) -> dict[str, Any]:
    spec = checked.spec
    spec.id = task_id
    return {
        "id": task_id,
        "spec": spec.SerializeToString(),
        "status": spec.status.code,
        "input_source_type": spec.input_source.type,
        "input_source_id": spec.input_source.id,
        "label_order_id": spec.label_order_id,
    }


def _task_users(checked: NormalisedTask) -> list[repo.TaskUser]:
    workers = [repo.TaskUser(u, repo.WORKER, checked.weights.get(u, 1.0)) for u in checked.worker_ids]
    return workers + [repo.TaskUser(u, repo.REVIEWER) for u in checked.reviewer_ids]


def _overwrite(conn: Connection, old: TaskRecord, checked: NormalisedTask) -> TaskRecord:
    repo.update_one(conn, old.pk, _row_values(old.id, checked))
    repo.replace_users(conn, old.pk, _task_users(checked))
    new = load_task(conn, old.app_pk, old.id)
    task_model.on_task_changed(conn, new, old.spec)
    return new


def _merge_status(conn: Connection, old: TaskRecord, task: resources_pb2.Task, where: str) -> TaskRecord:
    """PatchTasks ``merge``: Clarifai supports changing only the status this way."""
    extra = [f.name for f, _ in task.ListFields() if f.name not in ("id", "status")]
    if extra:
        raise errors.invalid(
            f"{where}: action 'merge' only changes the status; {', '.join(extra)} cannot be merged",
            "send only id and status, or use action 'overwrite' with the full task",
        )
    if not task.status.code:
        raise errors.invalid(f"{where}.status.code: give the new status", 'e.g. {"code": "TASK_DONE"}')
    code = task_status(task.status.code, f"{where}.status.code")
    spec = resources_pb2.Task()
    spec.CopyFrom(old.spec)
    spec.status.CopyFrom(status_pb2.Status(code=code, description=TASK_STATUSES[code]))
    repo.update_one(conn, old.pk, {"spec": spec.SerializeToString(), "status": code})
    new = load_task(conn, old.app_pk, old.id)
    task_model.on_task_changed(conn, new, old.spec)
    return new


# --------------------------------------------------------------------------- reading


def _wanted(fields: Sequence[str]) -> set[str]:
    unknown = [f for f in fields if f not in ADDITIONAL_FIELDS]
    if unknown:
        raise errors.invalid(
            f"additional_fields: {', '.join(repr(f) for f in unknown)} not supported",
            f"supported: {', '.join(ADDITIONAL_FIELDS)}",
        )
    wanted = set(fields)
    if "all" in wanted:
        wanted.update(ADDITIONAL_FIELDS)
    return wanted


def _user_protos(conn: Connection, ids: Collection[str]) -> dict[str, resources_pb2.User]:
    return {
        r.id: resources_pb2.User(
            id=r.id,
            first_name=r.first_name,
            last_name=r.last_name,
            primary_email=r.email or "",
            created_at=timestamp(r.created_at),
        )
        for r in repo.users_info(conn, ids)
    }


def _fill_users(conn: Connection, task: resources_pb2.Task, wanted: Collection[str]) -> None:
    groups = []
    if "worker.users" in wanted:
        groups.append(task.worker.users)
    if "review.users" in wanted:
        groups.append(task.review.users)
    infos = _user_protos(conn, {u.id for g in groups for u in g})
    for users in groups:
        for u in users:
            if u.id in infos:
                u.CopyFrom(infos[u.id])
    if "worker.users" in wanted:
        for w in task.worker.workers:
            if w.user.id in infos:
                w.user.CopyFrom(infos[w.user.id])


def task_proto(
    conn: Connection, app: AppRef, row: Row[Any], wanted: Collection[str] = ()
) -> resources_pb2.Task:
    """A stored task as the API answers it, with the requested additional fields."""
    record = record_of(row)
    task = resources_pb2.Task()
    task.CopyFrom(record.spec)
    task.id = record.id
    task.app_id = app.id
    task.user_id = app.owner_id
    task.created_at.CopyFrom(timestamp(row.created_at))
    task.modified_at.CopyFrom(timestamp(row.modified_at))
    task.status.code = record.status
    task.status.description = TASK_STATUSES.get(record.status, task.status.description)
    _fill_users(conn, task, wanted)
    if any(f in METRIC_FIELDS for f in wanted):
        task.metrics.CopyFrom(task_metrics(conn, record))
        if task.HasField("ai_assistant"):  # acceptance per model: TaskMetrics has no field for it
            task.metadata.update({prelabels.METRICS_KEY: prelabels.report(conn, record)})
    if AGREEMENT in wanted:
        task.metadata.update({AGREEMENT: agreement(conn, record)})
    if PROGRESS in wanted:
        task.metadata.update({PROGRESS: worker_progress(conn, record)})
        if any(w.HasField("model") for w in task.worker.workers):
            task.metadata.update({"auto_annotation": auto.progress(conn, app.pk, record.pk)})
    if ASSIGNMENTS in wanted:
        task.metadata.update({ASSIGNMENTS: assignment_list(conn, record)})
    if TIMING in wanted:
        task.metadata.update({TIMING: timing(conn, record)})
    return task


def _filter_of(req: service_pb2.ListTasksRequest) -> repo.TaskFilter:
    """ListTasks filters. ``including_label_order_tasks`` false (or unset) leaves out the tasks made
    by a label order (``domain/label_orders.py``): labeldesk makes none, so it leaves out nothing;
    ``label_order_id`` is a kept field, and tasks that carry one are listed like any other."""
    worker_ids = list(req.worker_user_ids) + [w.user_id for w in req.worker_ids if w.user_id]
    return repo.TaskFilter(
        ids=list(req.ids),
        worker_user_ids=worker_ids,
        review_user_ids=list(req.review_user_ids),
        input_source_type=req.input_source_type,
        input_source_ids=list(req.input_source_ids),
        label_order_ids=list(req.label_order_ids),
    )


def _require_ids(tasks: Sequence[resources_pb2.Task]) -> list[str]:
    ids = [t.id for t in tasks]
    missing = [f"tasks[{i}].id" for i, t in enumerate(ids) if not t]
    if not ids or missing:
        raise errors.invalid(
            f"{', '.join(missing) or 'tasks'}: give the id of every task to change", "ListTasks shows the ids"
        )
    require_unique("task", ids, "tasks")
    return ids


class TasksService:
    @rpc.write("PostTasks")
    def post_tasks(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.PostTasksRequest
    ) -> service_pb2.MultiTaskResponse:
        app = ctx.require_app()
        ids = new_ids(
            "task",
            "tasks",
            req.tasks,
            lambda ids: repo.by_ids(conn, app.pk, ids),
            'e.g. {"tasks": [{"type": "CONCEPTS_CLASSIFICATION"}]}',
        )
        checked = [check_task(conn, app, t, f"tasks[{i}]") for i, t in enumerate(req.tasks)]
        for i, c in enumerate(checked):
            auto.check_models(conn, app, c, f"tasks[{i}]")
            prelabels.check_assistant(conn, app, c.spec, f"tasks[{i}]")
        for task_id, c in zip(ids, checked):
            pk = repo.insert_one(conn, app.pk, {**_row_values(task_id, c), "created_by": ctx.caller_id})
            repo.replace_users(conn, pk, _task_users(c))
            auto.queue_jobs(conn, app, pk, task_id, c)
            prelabels.queue_job(conn, app, pk, task_id, c.spec)
        rows = repo.by_ids(conn, app.pk, ids)
        return service_pb2.MultiTaskResponse(tasks=[task_proto(conn, app, rows[i]) for i in ids])

    @rpc.read("GetTask")
    def get_task(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.GetTaskRequest
    ) -> service_pb2.SingleTaskResponse:
        app = ctx.require_app()
        wanted = _wanted(req.additional_fields)
        row = repo.by_id(conn, app.pk, req.task_id) if req.task_id else None
        if row is None:
            raise task_missing(req.task_id)
        return service_pb2.SingleTaskResponse(task=task_proto(conn, app, row, wanted))

    @rpc.read("ListTasks")
    def list_tasks(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.ListTasksRequest
    ) -> service_pb2.MultiTaskResponse:
        app = ctx.require_app()
        wanted = _wanted(req.additional_fields)
        page = page_of(req.page, req.per_page)
        q = repo.page_query(app.pk, _filter_of(req)).offset(page.offset).limit(page.per_page)
        rows = [
            r
            for r in conn.execute(q)
            if label_orders.listed(
                label_orders.made_by_label_order(r.label_order_id), req.including_label_order_tasks
            )
        ]
        return service_pb2.MultiTaskResponse(tasks=[task_proto(conn, app, r, wanted) for r in rows])

    @rpc.write("PatchTasks")
    def patch_tasks(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.PatchTasksRequest
    ) -> service_pb2.MultiTaskResponse:
        """``overwrite`` replaces the whole task (validated as on create; the workers, weights and
        ``workers_per_input`` may change: ``on_task_changed`` re-plans pending work, submitted
        work stays). ``merge`` changes only the status, as in Clarifai."""
        app = ctx.require_app()
        action = req.action or "overwrite"
        if action not in ("overwrite", "merge"):
            raise errors.invalid(
                f"action: '{req.action}' is not supported for tasks", "use 'overwrite' or 'merge'"
            )
        ids = _require_ids(req.tasks)
        old = [load_task(conn, app.pk, i) for i in ids]
        if action == "overwrite":
            checked = [check_task(conn, app, t, f"tasks[{i}]") for i, t in enumerate(req.tasks)]
            for i, c in enumerate(checked):
                auto.check_models(conn, app, c, f"tasks[{i}]")
                prelabels.check_assistant(conn, app, c.spec, f"tasks[{i}]")
            for record, c in zip(old, checked):
                new = _overwrite(conn, record, c)
                auto.sync_jobs(conn, app, record.pk, record.id, c)
                prelabels.requeue(conn, app, new, record.spec)
        else:
            for i, (record, t) in enumerate(zip(old, req.tasks)):
                _merge_status(conn, record, t, f"tasks[{i}]")
        rows = repo.by_ids(conn, app.pk, ids)
        return service_pb2.MultiTaskResponse(tasks=[task_proto(conn, app, rows[i]) for i in ids])

    @rpc.write("DeleteTasks")
    def delete_tasks(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.DeleteTasksRequest
    ) -> status_pb2.BaseResponse:
        """Delete tasks by id (all or nothing: an unknown id fails the call and deletes none).

        The task, its workers/reviewers and its assignment queue go. Its annotations stay, still
        tagged with ``task_id``: they are labels on the app's inputs (ground truth others may
        already train or search on), and ``ListAnnotations`` can still find them by that task id.
        Delete them explicitly with DeleteAnnotations if they are unwanted.
        """
        app = ctx.require_app()
        if not req.ids:
            raise errors.invalid("ids: give the ids of the tasks to delete", '{"ids": ["<task id>"]}')
        records = [load_task(conn, app.pk, i) for i in dict.fromkeys(req.ids)]
        repo.delete_pks(conn, [r.pk for r in records])
        return status_pb2.BaseResponse()

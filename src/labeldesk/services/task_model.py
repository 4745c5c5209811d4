"""The shared read model of a labeling task: what other services (assignments, review,
annotations) need to know about a task, loaded in one place.

A task is stored as one ``tasks`` row whose ``spec`` column holds the *normalised*
``resources_pb2.Task`` (see ``domain/task_rules.normalise_task``): the old and new field names
are both filled (``worker.user_ids`` / ``worker.users`` / ``worker.workers``, ``review.user_ids`` /
``review.users``, ``concept_ids`` / ``concepts``), ``status.code`` is set, and PARTITIONED weights
are kept as given (relative numbers). The ``status`` column mirrors ``spec.status.code``.

API (names other engineers build on -- keep them):

- :class:`~labeldesk.services.task_record.TaskRecord` -- frozen view of a task with helpers
  ``worker_ids``, ``reviewer_ids``, ``weights``, ``weighted``, ``workers_per_input``, ``strategy``,
  ``review_strategy``, ``sample_percentage``, ``labeler_threshold``, ``reviewer_threshold``,
  ``iou_threshold``, ``is_open``; ``record_of`` there builds one from a ``tasks`` row;
- :func:`load_task` -- a task by id, or ApiError TASK_MISSING (54102);
- :func:`task_input_pks` -- the inputs a task's source selects *now* (live), oldest first;
- :func:`on_task_changed` -- the hook PatchTasks calls after a task changed.
"""

from __future__ import annotations

from clarifai_grpc.grpc.api import resources_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2
from sqlalchemy import Connection

from labeldesk.domain import errors
from labeldesk.services.common import require_one
from labeldesk.services.review import ReviewEngine
from labeldesk.services.searches import saved_search_input_pks
from labeldesk.services.seat_plans import SeatPlanner, reopen, replan
from labeldesk.services.source_switch import source_changed, switch_source
from labeldesk.services.task_record import TaskRecord, record_of
from labeldesk.storage.repos import datasets as ds_repo
from labeldesk.storage.repos import tasks as repo

Source = resources_pb2.TaskInputSource


def task_missing(task_id: str) -> errors.ApiError:
    return errors.ApiError(
        status_code_pb2.TASK_MISSING,
        f"task '{task_id}' does not exist in this app",
        "check the task id (ListTasks shows the app's tasks)",
    )


def load_task(conn: Connection, app_pk: int, task_id: str) -> TaskRecord:
    """The task ``task_id`` of the app, or ApiError TASK_MISSING (54102) naming it."""
    row = repo.by_id(conn, app_pk, task_id) if task_id else None
    if row is None:
        raise task_missing(task_id)
    return record_of(row)


def task_input_pks(conn: Connection, app_pk: int, task: TaskRecord | resources_pb2.Task) -> list[int]:
    """The inputs the task's ``input_source`` selects at this moment, oldest first.

    Resolved live on every call, so inputs added to the app, the dataset or matching the saved
    search after the task was created are included (and removed ones are not). A source that
    no longer exists (saved search or dataset deleted) is an error naming it.
    """
    spec = task.spec if isinstance(task, TaskRecord) else task
    source = spec.input_source
    if source.type == Source.SAVED_SEARCH:
        return saved_search_input_pks(conn, app_pk, source.id)
    if source.type == Source.DATASET:
        ds = require_one(ds_repo.by_ids(conn, app_pk, [source.id]), "dataset", source.id)
        return repo.input_pks_in(conn, app_pk, ds_repo.input_pks_query(int(ds.pk)))
    if source.type == Source.INPUT:
        return repo.input_pk_of(conn, app_pk, source.id)
    return repo.all_input_pks(conn, app_pk)


def on_task_changed(conn: Connection, task: TaskRecord, old_spec: resources_pb2.Task) -> None:
    """Hook run by PatchTasks inside its writing transaction, once per changed task, after the
    new spec and ``task_users`` are stored: ``task`` is the task as it is now, ``old_spec`` its
    spec before the change (the same normalised form, so ``TaskRecord(task.pk, task.id,
    task.app_pk, old_spec, <old status>)`` gives the old view). Not called on create (plans are
    made when work is handed out) nor on delete (the queue goes with the task).

    The seat planner (:func:`~labeldesk.services.seat_plans.replan`) re-plans the *pending* work
    when workers, weights, ``workers_per_input``, the strategy or the input source changed, without
    touching submitted work (annotations and non-pending assignments); a new input source treats
    the inputs it leaves out as inputs that left the source (:mod:`~labeldesk.services.source_switch`);
    then new review thresholds
    decide the inputs not yet decided (:meth:`~labeldesk.services.review.ReviewEngine.reevaluate`).
    It must not commit; an ApiError it raises aborts the whole PatchTasks (nothing is changed).
    """
    replan(conn, task, old_spec)
    if source_changed(old_spec, task.spec):
        switch_source(conn, task.pk, task_input_pks(conn, task.app_pk, task))
    old = TaskRecord(task.pk, task.id, task.app_pk, old_spec, task.status)
    rejected = ReviewEngine().reevaluate(conn, task, old)
    if rejected:
        planner = SeatPlanner(conn, task)
        for inp in rejected:
            reopen(conn, planner, inp)

"""The shared read model of a labeling task: what other services (assignments, review,
annotations) need to know about a task, loaded in one place.

A task is stored as one ``tasks`` row whose ``spec`` column holds the *normalised*
``resources_pb2.Task`` (see ``domain/task_rules.normalise_task``): the old and new field names
are both filled (``worker.user_ids`` / ``worker.users`` / ``worker.workers``, ``review.user_ids`` /
``review.users``, ``concept_ids`` / ``concepts``), ``status.code`` is set, and PARTITIONED weights
are kept as given (relative numbers). The ``status`` column mirrors ``spec.status.code``.

API (names other engineers build on -- keep them):

- :class:`TaskRecord` -- frozen view of a task with helpers ``worker_ids``, ``reviewer_ids``,
  ``weights``, ``weighted``, ``workers_per_input``, ``strategy``, ``review_strategy``,
  ``sample_percentage``, ``labeler_threshold``, ``reviewer_threshold``, ``iou_threshold``,
  ``is_open``; :func:`record_of` builds one from a ``tasks`` row;
- :func:`load_task` -- a task by id, or ApiError TASK_MISSING (54102);
- :func:`task_input_pks` -- the inputs a task's source selects *now* (live), oldest first;
- :func:`on_task_changed` -- the hook PatchTasks calls after a task changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2
from google.protobuf import json_format
from sqlalchemy import Connection, Row

from labeldesk.domain import errors
from labeldesk.domain.review_rules import consensus_iou_threshold, effective_labeler_threshold
from labeldesk.domain.review_sampling import sample_percent
from labeldesk.services.common import require_one
from labeldesk.services.searches import saved_search_input_pks
from labeldesk.storage.repos import datasets as ds_repo
from labeldesk.storage.repos import tasks as repo

Task = resources_pb2.Task
Worker = resources_pb2.TaskWorker
Review = resources_pb2.TaskReview
Source = resources_pb2.TaskInputSource
Partition = resources_pb2.TaskWorkerPartitionedStrategyInfo

#: Statuses in which a task hands out no new work. Clarifai has no "paused" task status;
#: TASK_IDLE is what labeldesk treats as paused.
CLOSED_STATUSES: frozenset[int] = frozenset(
    {
        status_code_pb2.TASK_DONE,
        status_code_pb2.TASK_WONT_DO,
        status_code_pb2.TASK_FAILED,
        status_code_pb2.TASK_IDLE,
    }
)


@dataclass(frozen=True)
class TaskRecord:
    """One task as stored: its keys, its normalised spec and its status code."""

    pk: int
    id: str
    app_pk: int
    spec: resources_pb2.Task
    status: int

    @property
    def worker_ids(self) -> tuple[str, ...]:
        """Workers in the order given at creation (empty for a non-assigned task)."""
        return tuple(self.spec.worker.user_ids)

    @property
    def reviewer_ids(self) -> tuple[str, ...]:
        return tuple(self.spec.review.user_ids)

    @property
    def strategy(self) -> int:
        """``TaskWorker.TaskWorkerStrategy``: PARTITIONED, FULL or DYNAMIC."""
        return int(self.spec.worker.strategy)

    @property
    def review_strategy(self) -> int:
        """``TaskReview.TaskReviewStrategy``: NONE, MANUAL or CONSENSUS."""
        return int(self.spec.review.strategy)

    @property
    def weighted(self) -> bool:
        info = self.spec.worker.partitioned_strategy_info
        return bool(self.strategy == Worker.PARTITIONED and info.type == Partition.WEIGHTED)

    @property
    def weights(self) -> dict[str, float]:
        """Relative weight of each worker (WEIGHTED as given; 1.0 each otherwise), in worker order."""
        given = self.spec.worker.partitioned_strategy_info.weights
        if not self.weighted:
            return {w: 1.0 for w in self.worker_ids}
        return {w: float(given[w]) if w in given else 1.0 for w in self.worker_ids}

    @property
    def workers_per_input(self) -> int:
        """How many distinct workers label each input: all of them for FULL, the partition's
        ``workers_per_input`` for PARTITIONED, and that value (default 1) for DYNAMIC."""
        n = len(self.worker_ids)
        if self.strategy == Worker.FULL:
            return n
        k = int(self.spec.worker.partitioned_strategy_info.workers_per_input) or 1
        return min(k, n) if n else k

    @property
    def sample_percentage(self) -> float:
        """Review sample of a MANUAL task in percent, normalised (``sample_percentage`` 0.5 and 50
        both give 50.0, see ``review_sampling.sample_percent``); 0 when not MANUAL."""
        if self.review_strategy != Review.MANUAL:
            return 0.0
        return sample_percent(float(self.spec.review.manual_strategy_info.sample_percentage))

    @property
    def labeler_threshold(self) -> int:
        """CONSENSUS: the raw number of labelers who must agree (0 means 1, -1 means all)."""
        info = self.spec.review.consensus_strategy_info
        return effective_labeler_threshold(info.approval_threshold_labelers, info.approval_threshold)

    @property
    def reviewer_threshold(self) -> int:
        """The raw number of reviewer approvals work needs (0 means 1, -1 means all):
        ``approval_threshold_reviewers`` for CONSENSUS, ``approval_threshold`` for MANUAL."""
        if self.review_strategy == Review.CONSENSUS:
            return int(self.spec.review.consensus_strategy_info.approval_threshold_reviewers)
        return int(self.spec.review.manual_strategy_info.approval_threshold)

    @property
    def iou_threshold(self) -> float:
        """IoU at which regions of two labelers are the same object (``metadata.consensus_iou_threshold``)."""
        return consensus_iou_threshold(json_format.MessageToDict(self.spec.metadata))

    @property
    def is_open(self) -> bool:
        """Whether the task still hands out work (not TASK_DONE / TASK_WONT_DO / failed / paused)."""
        return self.status not in CLOSED_STATUSES


def record_of(row: Row[Any]) -> TaskRecord:
    spec = resources_pb2.Task.FromString(row.spec)
    spec.status.code = row.status
    return TaskRecord(pk=int(row.pk), id=row.id, app_pk=int(row.app_pk), spec=spec, status=int(row.status))


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

    Owned by the assignment engine: re-plan the *pending* work when workers, weights,
    ``workers_per_input``, the strategy or the input source changed, without touching submitted
    work (annotations and non-pending assignments). The default does nothing. It must not
    commit; an ApiError it raises aborts the whole PatchTasks (nothing is changed).
    """
    from labeldesk.services.assignments import replan  # imported here: the engine imports this module

    replan(conn, task, old_spec)

"""A labeling task as the services see it: :class:`TaskRecord`, built from a ``tasks`` row by
:func:`record_of`. Knows nothing of how tasks are loaded or planned, so everything that works on a
task (loading, planning seats, review) can build on it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2
from google.protobuf import json_format
from sqlalchemy import Row

from labeldesk.domain.review_rules import consensus_iou_threshold, effective_labeler_threshold
from labeldesk.domain.review_sampling import sample_percent

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

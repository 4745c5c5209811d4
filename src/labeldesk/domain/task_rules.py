"""Validation and normalisation of a ``resources_pb2.Task`` as PostTasks / PatchTasks receive it.

Pure: no database. What needs the database (are the workers members of the app, do the
concepts, the saved search or the dataset exist) is checked by ``services/tasks.py`` with the
ids this module extracts.

Normalisation (what is stored in ``tasks.spec`` and answered back):

* old and new field names are both accepted and both answered: ``worker.user_ids`` /
  ``worker.users`` / ``worker.workers[].user``, ``review.user_ids`` / ``review.users``,
  ``concept_ids`` / ``concepts[].concept``, and for consensus ``approval_threshold`` /
  ``approval_threshold_labelers``;
* defaults for what proto3 cannot tell from "not given": ``type`` CONCEPTS_CLASSIFICATION,
  ``worker.strategy`` PARTITIONED when ``partitioned_strategy_info`` is given, else FULL;
  partition ``type`` WEIGHTED when weights are given, else EVENLY; ``workers_per_input`` 1;
  ``review.strategy`` NONE; ``input_source.type`` ALL_INPUTS; ``status.code`` TASK_IN_PROGRESS.

Every error is an ApiError 11102 whose description starts with the field path
(``tasks[0].worker.partitioned_strategy_info.weights ...``) and says what to change.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2
from google.protobuf import json_format

from labeldesk.domain import auto_annotation as auto
from labeldesk.domain import errors
from labeldesk.domain.assignment import validate_partition
from labeldesk.domain.review_rules import (
    consensus_iou_threshold,
    effective_labeler_threshold,
    resolve_threshold,
)
from labeldesk.domain.review_sampling import sample_percent

Task = resources_pb2.Task
Worker = resources_pb2.TaskWorker
Partition = resources_pb2.TaskWorkerPartitionedStrategyInfo
Review = resources_pb2.TaskReview
Source = resources_pb2.TaskInputSource

#: Status codes a task may have.
TASK_STATUSES: dict[int, str] = {
    status_code_pb2.TASK_IN_PROGRESS: "Task in progress",
    status_code_pb2.TASK_DONE: "Task done",
    status_code_pb2.TASK_WONT_DO: "Task won't be done",
    status_code_pb2.TASK_FAILED: "Task failed",
    status_code_pb2.TASK_IDLE: "Task idle (paused)",
}

_SOURCES_WITH_ID = {Source.SAVED_SEARCH: "saved search", Source.DATASET: "dataset", Source.INPUT: "input"}


@dataclass(frozen=True)
class NormalisedTask:
    """A checked task: the spec to store plus the ids the service must check against the app."""

    spec: resources_pb2.Task
    worker_ids: tuple[str, ...]
    reviewer_ids: tuple[str, ...]
    weights: dict[str, float]  # relative weight of every worker (1.0 unless WEIGHTED)
    concept_ids: tuple[str, ...]
    #: (model id, version id or "") of the model workers (auto-annotation), in order
    model_workers: tuple[tuple[str, str], ...] = ()


@contextmanager
def prefixed(prefix: str) -> Iterator[None]:
    """Re-raise an ApiError from a rule with ``prefix`` (a field path) before its description."""
    try:
        yield
    except errors.ApiError as e:
        raise errors.ApiError(e.code, f"{prefix}{e.description}", e.details) from e


def merged_ids(fields: Sequence[tuple[str, Sequence[str]]]) -> tuple[str, ...]:
    """Ids given under several field names (old and new), in order, each once.

    Within one field an empty id or a repeated id is an error naming that field; the same id
    under two field names is the same user (clients echo GetTask's answer, which fills both).
    """
    out: dict[str, None] = {}
    for path, ids in fields:
        seen: set[str] = set()
        for i, value in enumerate(ids):
            if not value:
                raise errors.invalid(f"{path}[{i}]: the id is empty", "give a user id or remove the entry")
            if value in seen:
                raise errors.invalid(f"{path}: '{value}' is listed more than once", "list each id once")
            seen.add(value)
            out[value] = None
    return tuple(out)


def _check_enum(value: int, enum: Any, path: str) -> None:
    if value not in enum.values():
        names = ", ".join(v.name for v in enum.DESCRIPTOR.values if not v.name.endswith("NOT_SET"))
        raise errors.invalid(f"{path}: {value} is not a known value", f"use one of {names}")


# --------------------------------------------------------------------------- workers


def model_workers(worker: resources_pb2.TaskWorker, where: str) -> tuple[tuple[str, str], ...]:
    """The (model id, version id) of the workers that are models (auto-annotation)."""
    out: dict[str, str] = {}
    for i, w in enumerate(worker.workers):
        if not w.HasField("model"):
            continue
        if not w.model.id:
            raise errors.invalid(
                f"{where}.worker.workers[{i}].model.id: name the model", 'e.g. {"model": {"id": "faces"}}'
            )
        if w.model.id in out:
            raise errors.invalid(f"{where}.worker.workers: model '{w.model.id}' is listed more than once")
        out[w.model.id] = w.model.model_version.id
    return tuple(out.items())


def _worker_ids(worker: resources_pb2.TaskWorker, where: str) -> tuple[str, ...]:
    _check_enum(worker.type, Worker.WorkerType, f"{where}.worker.type")
    for i, w in enumerate(worker.workers):
        if w.HasField("workflow") or not (w.user.id or w.HasField("model")):
            raise errors.invalid(
                f"{where}.worker.workers[{i}]: workers are users or models",
                'give {"user": {"id": "<user id>"}} or {"model": {"id": "<model id>"}}',
            )
    if worker.type == Worker.WORKER_AUTO and not any(w.HasField("model") for w in worker.workers):
        raise errors.invalid(
            f"{where}.worker.type: an auto-annotation task (WORKER_AUTO) needs a model worker",
            'add {"model": {"id": "<model id>"}} to worker.workers',
        )
    return merged_ids(
        [
            (f"{where}.worker.user_ids", list(worker.user_ids)),
            (f"{where}.worker.users", [u.id for u in worker.users]),
            (f"{where}.worker.workers", [w.user.id for w in worker.workers if not w.HasField("model")]),
        ]
    )


def _given_weights(info: resources_pb2.TaskWorkerPartitionedStrategyInfo) -> dict[str, Any]:
    return json_format.MessageToDict(info.weights) if info.weights.fields else {}


def _normalise_worker(
    worker: resources_pb2.TaskWorker, where: str
) -> tuple[tuple[str, ...], dict[str, float]]:
    """Check and fill ``worker`` in place; answer the worker ids and their relative weights."""
    ids = _worker_ids(worker, where)
    info = worker.partitioned_strategy_info
    if worker.strategy == Worker.WORKER_STRATEGY_NOT_SET:
        worker.strategy = Worker.PARTITIONED if worker.HasField("partitioned_strategy_info") else Worker.FULL
    _check_enum(worker.strategy, Worker.TaskWorkerStrategy, f"{where}.worker.strategy")
    given = _given_weights(info)
    if info.type == Partition.PARTITIONED_WORKER_STRATEGY_NOT_SET and worker.strategy == Worker.PARTITIONED:
        info.type = Partition.WEIGHTED if given else Partition.EVENLY
    _check_enum(
        info.type, Partition.TaskWorkerPartitionedStrategy, f"{where}.worker.partitioned_strategy_info.type"
    )
    k = info.workers_per_input or 1
    weighted = worker.strategy == Worker.PARTITIONED and info.type == Partition.WEIGHTED
    if worker.strategy == Worker.PARTITIONED or (ids and (given or info.workers_per_input)):
        with prefixed(f"{where}."):
            validate_partition(list(ids), given, k, weighted)
    elif given:
        raise errors.invalid(
            f"{where}.worker.partitioned_strategy_info.weights: the task has weights but no workers",
            "list the workers in worker.user_ids (or worker.users), or remove the weights",
        )
    if worker.strategy in (Worker.PARTITIONED, Worker.DYNAMIC):
        info.workers_per_input = k
    _fill_users(worker.user_ids, worker.users, ids)
    models = [w for w in worker.workers if w.HasField("model")]
    del worker.workers[:]
    worker.workers.extend(resources_pb2.Worker(user=resources_pb2.User(id=i)) for i in ids)
    worker.workers.extend(models)
    weights = {w: float(given[w]) if weighted else 1.0 for w in ids}
    return ids, weights


def _fill_users(user_ids: Any, users: Any, ids: Sequence[str]) -> None:
    del user_ids[:]
    user_ids.extend(ids)
    del users[:]
    users.extend(resources_pb2.User(id=i) for i in ids)


# --------------------------------------------------------------------------- review


def _normalise_review(review: resources_pb2.TaskReview, n_workers: int, where: str) -> tuple[str, ...]:
    """Check and fill ``review`` in place; answer the reviewer ids."""
    ids = merged_ids(
        [
            (f"{where}.review.user_ids", list(review.user_ids)),
            (f"{where}.review.users", [u.id for u in review.users]),
        ]
    )
    if review.strategy == Review.TASK_REVIEW_STRATEGY_NOT_SET:
        review.strategy = Review.NONE
    _check_enum(review.strategy, Review.TaskReviewStrategy, f"{where}.review.strategy")
    if review.strategy == Review.MANUAL:
        _check_sample_percentage(review.manual_strategy_info.sample_percentage, where)
        with prefixed(f"{where}.review.manual_strategy_info.approval_threshold: "):
            resolve_threshold(review.manual_strategy_info.approval_threshold, len(ids))
    if review.strategy == Review.CONSENSUS:
        _check_consensus(review.consensus_strategy_info, n_workers, len(ids), where)
    _fill_users(review.user_ids, review.users, ids)
    return ids


def _check_sample_percentage(pct: float, where: str) -> None:
    """The share of inputs to review: a fraction in [0, 1] or a percentage in (1, 100]
    (``review_sampling.sample_percent``)."""
    with prefixed(f"{where}.review.manual_strategy_info."):
        sample_percent(pct)


def _check_consensus(
    info: resources_pb2.TaskReviewConsensusStrategyInfo, n_workers: int, n_reviewers: int, where: str
) -> None:
    path = f"{where}.review.consensus_strategy_info"
    labelers = effective_labeler_threshold(info.approval_threshold_labelers, info.approval_threshold)
    # a task without listed workers (anyone may label) sets no upper bound on the labeler threshold
    population = n_workers if n_workers else max(labelers, 0)
    with prefixed(f"{path}.approval_threshold_labelers: "):
        resolve_threshold(labelers, population)
    with prefixed(f"{path}.approval_threshold_reviewers: "):
        resolve_threshold(info.approval_threshold_reviewers, n_reviewers)
    if not info.approval_threshold_labelers:
        info.approval_threshold_labelers = info.approval_threshold
    if not info.approval_threshold:
        info.approval_threshold = info.approval_threshold_labelers


# --------------------------------------------------------------------------- the rest


def _normalise_concepts(task: resources_pb2.Task, where: str) -> tuple[str, ...]:
    ids = merged_ids(
        [
            (f"{where}.concept_ids", list(task.concept_ids)),
            (f"{where}.concepts", [c.concept.id for c in task.concepts]),
        ]
    )
    given = {c.concept.id: c for c in task.concepts}
    concepts = [given.get(i) or resources_pb2.TaskConcept(concept=resources_pb2.Concept(id=i)) for i in ids]
    del task.concept_ids[:]
    task.concept_ids.extend(ids)
    del task.concepts[:]
    task.concepts.extend(concepts)
    return ids


def _normalise_source(source: resources_pb2.TaskInputSource, where: str) -> None:
    if source.type == Source.INPUT_SOURCE_TYPE_NOT_SET:
        source.type = Source.ALL_INPUTS
    _check_enum(source.type, Source.TaskInputSourceType, f"{where}.input_source.type")
    kind = _SOURCES_WITH_ID.get(source.type)
    if kind and not source.id:
        name = Source.TaskInputSourceType.Name(source.type)
        raise errors.invalid(
            f"{where}.input_source.id: an input source of type {name} needs the id of the {kind}",
            f'e.g. {{"type": "{name}", "id": "<{kind} id>"}}',
        )
    if not kind:
        source.id = ""


#: keys under which GetTask answers computed reports in ``metadata`` (``additional_fields:
#: ["agreement"]``, ``["progress"]``, ``["assignments"]``); computed, so never stored
AGREEMENT_KEY = "agreement"
PROGRESS_KEY = "progress"
ASSIGNMENTS_KEY = "assignments"
COMPUTED_METADATA = (AGREEMENT_KEY, PROGRESS_KEY, ASSIGNMENTS_KEY)


def _check_metadata(task: resources_pb2.Task, where: str) -> None:
    """``metadata.consensus_iou_threshold`` must be a number in (0, 1]; computed keys a client
    echoes back from GetTask are dropped."""
    for key in COMPUTED_METADATA:
        if key in task.metadata.fields:
            del task.metadata.fields[key]
    consensus_iou_threshold(json_format.MessageToDict(task.metadata), f"{where}.metadata")


def task_status(code: int, path: str) -> int:
    """``code`` if it is a task status (0, not given, means TASK_IN_PROGRESS), else ApiError 11102."""
    code = code or status_code_pb2.TASK_IN_PROGRESS
    if code not in TASK_STATUSES:
        names = ", ".join(status_code_pb2.StatusCode.Name(c) for c in TASK_STATUSES)
        raise errors.invalid(f"{path}: {code} is not a task status", f"use one of {names}")
    return code


def _normalise_status(task: resources_pb2.Task, where: str) -> None:
    code = task_status(task.status.code, f"{where}.status.code")
    task.status.code = code
    task.status.description = task.status.description or TASK_STATUSES[code]


def normalise_task(task: resources_pb2.Task, where: str) -> NormalisedTask:
    """Check ``task`` (as posted or as the full task of a PatchTasks overwrite) and answer its
    normalised copy; ``where`` is its field path in the request (``tasks[0]``)."""
    spec = resources_pb2.Task()
    spec.CopyFrom(task)
    if spec.type == Task.TYPE_NOT_SET:
        spec.type = Task.CONCEPTS_CLASSIFICATION
    _check_enum(spec.type, Task.TaskType, f"{where}.type")
    _check_enum(spec.priority, Task.TaskPriority, f"{where}.priority")
    models = model_workers(spec.worker, where)
    workers, weights = _normalise_worker(spec.worker, where)
    reviewers = _normalise_review(spec.review, len(workers), where)
    concepts = _normalise_concepts(spec, where)
    _normalise_source(spec.input_source, where)
    _normalise_status(spec, where)
    _check_metadata(spec, where)
    for name in ("created_at", "modified_at", "app_id", "user_id"):
        spec.ClearField(name)
    if models:
        for i, c in enumerate(spec.concepts):
            auto.rule_of(c.auto_annotation_config, f"{where}.concepts[{i}]")
    return NormalisedTask(spec, workers, reviewers, weights, concepts, models)

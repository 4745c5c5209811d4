"""The work inside a task: GetTaskAnnotationCount, GetTaskInputCount, PatchAnnotationsStatus,
GetInputSamples, and the progress metrics GetTask answers in ``additional_fields``.

Where the numbers come from:

- annotations belong to a task through ``annotations.task_id`` (set from
  ``annotation_info.task_id`` by the annotations service); input-level annotations never count;
- the assignment queue (``task_assignments``, written by the assignment engine) says which
  inputs a worker holds and in which state; where a (worker, input) pair has no queue row
  (non-assigned tasks, DYNAMIC work never pulled), the worker's annotations on the input decide;
- an input's state for one worker is the least advanced of its states (pending before awaiting
  consensus review, awaiting review, review denied, success), so one unfinished box keeps it open.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2 as sc
from sqlalchemy import Connection, Row

from labeldesk.domain import errors, statuses
from labeldesk.domain.review_sampling import is_sampled_for_review
from labeldesk.files.signing import FileLinks
from labeldesk.services import registry as rpc
from labeldesk.services.annotation_views import annotation_proto
from labeldesk.services.assignments import require_reviewer
from labeldesk.services.context import AppRef, RequestContext
from labeldesk.services.inputs import input_protos
from labeldesk.services.review import fill_consensus_info
from labeldesk.services.task_model import load_task, task_input_pks
from labeldesk.services.task_record import TaskRecord
from labeldesk.storage.repos import inputs as inputs_repo
from labeldesk.storage.repos import reviews as reviews_repo
from labeldesk.storage.repos import tasks as repo

Review = resources_pb2.TaskReview

# The fields of TaskStatusCountPerUser, least advanced first.
PENDING, CONSENSUS, AWAITING, DENIED, SUCCESS = (
    "pending",
    "awaiting_consensus_review",
    "awaiting_review",
    "review_denied",
    "success",
)
BUCKET_ORDER = (PENDING, CONSENSUS, AWAITING, DENIED, SUCCESS)
FINAL = frozenset({DENIED, SUCCESS})
REVIEWED = frozenset({Review.MANUAL, Review.CONSENSUS})

#: Annotation status → bucket (what PatchAnnotationsStatus may set and filter on).
ANNOTATION_BUCKETS: dict[int, str] = {
    sc.ANNOTATION_PENDING: PENDING,
    sc.ANNOTATION_AWAITING_CONSENSUS_REVIEW: CONSENSUS,
    sc.ANNOTATION_AWAITING_REVIEW: AWAITING,
    sc.ANNOTATION_REVIEW_DENIED: DENIED,
    sc.ANNOTATION_SUCCESS: SUCCESS,
}
#: Assignment status (``domain/statuses``) → bucket; any other queue status is pending.
ASSIGNMENT_BUCKETS: dict[int, str] = {
    statuses.PENDING: PENDING,
    statuses.AWAITING_CONSENSUS_REVIEW: CONSENSUS,
    statuses.AWAITING_REVIEW: AWAITING,
    statuses.REJECTED: DENIED,
    statuses.SUCCESS: SUCCESS,
}

States = dict[int, dict[str, str]]  # input pk → user id → bucket


def _least_advanced(a: str | None, b: str) -> str:
    return b if a is None or BUCKET_ORDER.index(b) < BUCKET_ORDER.index(a) else a


def work_states(conn: Connection, task: TaskRecord, user_ids: Sequence[str] = ()) -> States:
    """Per input and user, how far the user's work on it in the task has come."""
    from_queue: States = {}
    for input_pk, user, status in repo.assignment_states(conn, task.pk, user_ids):
        cur = from_queue.setdefault(input_pk, {})
        cur[user] = _least_advanced(cur.get(user), ASSIGNMENT_BUCKETS.get(status, PENDING))
    from_annotations: States = {}
    for input_pk, user, status in repo.annotation_states(conn, task.app_pk, task.id, user_ids):
        cur = from_annotations.setdefault(input_pk, {})
        cur[user] = _least_advanced(cur.get(user), ANNOTATION_BUCKETS.get(status, PENDING))
    for input_pk, users in from_annotations.items():
        queued = from_queue.setdefault(input_pk, {})
        for user, bucket in users.items():
            queued.setdefault(user, bucket)
    return from_queue


def _users_in_order(task: TaskRecord, requested: Sequence[str], seen: Iterable[str]) -> list[str]:
    if requested:
        return list(dict.fromkeys(requested))
    listed = list(task.worker_ids)
    return listed + sorted(set(seen) - set(listed))


def _count_row(user: str, counts: Counter[str]) -> resources_pb2.TaskStatusCountPerUser:
    return resources_pb2.TaskStatusCountPerUser(
        user_id=user,
        worker=resources_pb2.Worker(user=resources_pb2.User(id=user)),
        **{bucket: counts[bucket] for bucket in BUCKET_ORDER},
    )


def _count_response(
    app: AppRef, task: TaskRecord, per_user: dict[str, Counter[str]], requested: Sequence[str]
) -> service_pb2.SingleTaskCountResponse:
    users = _users_in_order(task, requested, per_user)
    return service_pb2.SingleTaskCountResponse(
        app_id=app.id,
        task_id=task.id,
        counts=[_count_row(u, per_user.get(u, Counter())) for u in users],
    )


# --------------------------------------------------------------------------- metrics


def _percent(part: int, whole: int) -> int:
    """Rounded down, so 100 means everything is done."""
    return part * 100 // whole if whole else 0


#: review actions that make an input reviewed by its reviewer (``task_review_log.action``)
COUNTED_REVIEWS = frozenset(
    service_pb2.PutTaskAssignmentsRequestAction.Name(a)
    for a in (service_pb2.REVIEW_APPROVE, service_pb2.REVIEW_REJECT)
)


def review_sample(conn: Connection, task: TaskRecord, input_pks: list[int]) -> list[int]:
    """Of ``input_pks``, those whose work goes to review: MANUAL's ``sample_percentage`` share
    (``review_sampling.is_sampled_for_review`` salted by the task id), every input otherwise."""
    if task.review_strategy != Review.MANUAL:
        return input_pks
    ids = repo.input_ids_of(conn, input_pks)
    return [p for p in input_pks if is_sampled_for_review(task.id, ids[p], task.sample_percentage)]


def worker_progress(conn: Connection, task: TaskRecord) -> dict[str, dict[str, int]]:
    """Per worker, how many of the task's inputs are in each state of their work (the numbers of
    GetTaskInputCount), for GetTask ``additional_fields: ["progress"]``."""
    per_user = counts_per_user(conn, task)
    return {user: dict(sorted(counts.items())) for user, counts in sorted(per_user.items())}


#: at most this many assignments are listed by GetTask ``additional_fields: ["assignments"]``
ASSIGNMENTS_LISTED = 10_000


def assignment_list(conn: Connection, task: TaskRecord) -> dict[str, Any]:
    """The task's assignments — input, worker and ``TASK_ASSIGNMENT_*`` status — oldest input first,
    for GetTask ``additional_fields: ["assignments"]`` (V2 has no RPC that lists them)."""
    states = sorted(repo.assignment_states(conn, task.pk))
    shown = states[:ASSIGNMENTS_LISTED]
    ids = repo.input_ids_of(conn, sorted({pk for pk, _, _ in shown}))
    return {
        "items": [
            {"input_id": ids[pk], "worker_id": worker, "status": sc.StatusCode.Name(status)}
            for pk, worker, status in shown
        ],
        "total": len(states),
        "truncated": len(states) > len(shown),
    }


def counts_per_user(
    conn: Connection, task: TaskRecord, user_ids: Sequence[str] = ()
) -> dict[str, Counter[str]]:
    per_user: dict[str, Counter[str]] = {}
    for users in work_states(conn, task, user_ids).values():
        for user, bucket in users.items():
            per_user.setdefault(user, Counter())[bucket] += 1
    return per_user


def task_metrics(conn: Connection, task: TaskRecord) -> resources_pb2.TaskMetrics:
    """Progress of a task over the inputs its source selects now.

    - input_source: inputs in the source;
    - work: inputs labeled by enough workers (``workers_per_input``; any one worker when the task
      lists none) -- submitted work is anything but pending;
    - review: inputs whose labels are final (success or review denied), which includes inputs
      that skip review; reviewable inputs per reviewer follow the review strategy. Reviewed
      inputs per reviewer (in ``task.reviewer_ids`` order) come from the review log
      (``task_review_log``): as Clarifai counts them, the inputs the reviewer approved or
      rejected, each once however often; a request for changes does not count (the work goes
      back to its labeler and is reviewed again). One grouped query reads each reviewer's
      distinct inputs; only those still reviewable count -- in the source now, like every other
      number here, and in MANUAL's current sample -- so a reviewer's count never exceeds their
      reviewable inputs and 100 % means all of them are reviewed. The source is loaded anyway,
      so the filter is a set lookup.
    """
    source = task_input_pks(conn, task.app_pk, task)
    states = work_states(conn, task)
    required = max(task.workers_per_input, 1)
    labeled = [p for p in source if sum(b != PENDING for b in states.get(p, {}).values()) >= required]
    reviewed = [p for p in labeled if all(b in FINAL for b in states[p].values())]
    sample = set(review_sample(conn, task, source)) if task.review_strategy in REVIEWED else set()
    reviewable = len(sample)
    by_reviewer = (
        reviews_repo.reviewed_inputs(conn, task.pk, COUNTED_REVIEWS) if sample and task.reviewer_ids else {}
    )
    per_reviewer = [len(by_reviewer.get(r, set()) & sample) for r in task.reviewer_ids]
    total = len(source)
    return resources_pb2.TaskMetrics(
        input_source=resources_pb2.TaskInputSourceMetrics(inputs_count_estimated=total),
        work=resources_pb2.TaskWorkMetrics(
            inputs_count_estimated=len(labeled), inputs_percent_estimated=_percent(len(labeled), total)
        ),
        review=resources_pb2.TaskReviewMetrics(
            inputs_count_estimated=len(reviewed),
            inputs_percent_estimated=_percent(len(reviewed), total),
            inputs_count_estimated_per_reviewer=per_reviewer,
            inputs_percent_estimated_per_reviewer=[_percent(n, reviewable) for n in per_reviewer],
            inputs_reviewable_count_estimated_per_reviewer=[reviewable for _ in task.reviewer_ids],
        ),
    )


# --------------------------------------------------------------------------- samples


def _sample_hits(
    conn: Connection,
    app: AppRef,
    task: TaskRecord,
    sampled: list[int],
    user_ids: Sequence[str],
    links: FileLinks | None,
) -> list[resources_pb2.Hit]:
    by_input: dict[int, list[Row[Any]]] = {}
    for row in repo.annotations_on(conn, app.pk, task.id, sampled, user_ids):
        by_input.setdefault(int(row.input_pk), []).append(row)
    shown = [p for p in sampled if p in by_input or not user_ids]
    rows = inputs_repo.by_pks(conn, shown)
    inputs = dict(zip(shown, input_protos(conn, [rows[p] for p in shown], links, with_datasets=False)))
    hits: list[resources_pb2.Hit] = []
    rendered: list[Any] = []  # the rows of the hits' annotations, in order
    for pk in shown:
        inp = inputs[pk]
        for a in by_input.get(pk, []):
            hits.append(
                resources_pb2.Hit(
                    score=1.0,
                    input=inp,
                    annotation=annotation_proto(a._mapping),
                    user_id=a.user_id,
                    app_id=app.id,
                )
            )
            rendered.append(a._mapping)
        if pk not in by_input:
            hits.append(resources_pb2.Hit(score=1.0, input=inp, app_id=app.id))
    fill_consensus_info(conn, app.pk, rendered, [h.annotation for h in hits if h.HasField("annotation")])
    return hits


def _annotation_status(code: int, path: str) -> int:
    if code not in ANNOTATION_BUCKETS:
        names = ", ".join(sc.StatusCode.Name(c) for c in ANNOTATION_BUCKETS)
        raise errors.invalid(
            f"{path}: {code} is not an annotation status of task work", f"use one of {names}"
        )
    return code


class TaskAnnotationsService:
    @rpc.read("GetTaskAnnotationCount")
    def get_task_annotation_count(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.GetTaskCountRequest
    ) -> service_pb2.SingleTaskCountResponse:
        """Per user, the number of the task's annotations in each status."""
        app = ctx.require_app()
        task = load_task(conn, app.pk, req.task_id)
        counts = repo.annotation_counts(conn, app.pk, task.id, list(req.user_ids))
        per_user: dict[str, Counter[str]] = {}
        for user, by_status in counts.items():
            c = per_user.setdefault(user, Counter())
            for status, n in by_status.items():
                c[ANNOTATION_BUCKETS.get(status, PENDING)] += n
        return _count_response(app, task, per_user, list(req.user_ids))

    @rpc.read("GetTaskInputCount")
    def get_task_input_count(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.GetTaskCountRequest
    ) -> service_pb2.SingleTaskCountResponse:
        """Per worker, the number of inputs of the task in each state of their work."""
        app = ctx.require_app()
        task = load_task(conn, app.pk, req.task_id)
        per_user = counts_per_user(conn, task, list(req.user_ids))
        return _count_response(app, task, per_user, list(req.user_ids))

    @rpc.write("PatchAnnotationsStatus")
    def patch_annotations_status(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.PatchAnnotationsStatusRequest
    ) -> service_pb2.PatchAnnotationsStatusResponse:
        """Move the task's annotations of ``user_ids`` (every user if empty) whose status is one of
        ``status_codes`` (any if empty) to ``status_code``. Owner or task reviewers only."""
        app = ctx.require_app()
        task = load_task(conn, app.pk, req.task_id)
        if not ctx.is_owner:
            require_reviewer(task, ctx.caller_id)
        if req.action not in ("", "overwrite"):
            raise errors.invalid(f"action: '{req.action}' is not supported", "use 'overwrite'")
        if not req.status_code:
            raise errors.invalid("status_code: give the status to set", 'e.g. "ANNOTATION_SUCCESS"')
        target = _annotation_status(req.status_code, "status_code")
        sources = [_annotation_status(c, f"status_codes[{i}]") for i, c in enumerate(req.status_codes)]
        users, n = repo.set_annotation_status(
            conn, app.pk, task.id, list(dict.fromkeys(req.user_ids)), sources, target
        )
        return service_pb2.PatchAnnotationsStatusResponse(user_ids=users, updated_count=n)

    @rpc.read("GetInputSamples")
    def get_input_samples(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.GetInputSamplesRequest
    ) -> service_pb2.MultiInputAnnotationResponse:
        """The review sample: inputs of the source that ``is_sampled_for_review`` picks (MANUAL's
        ``sample_percentage``; every input otherwise), oldest first, one hit per task annotation
        of the requested labelers on it. Without ``user_ids`` an input nobody has labeled yet
        still appears, as a hit without annotation."""
        app = ctx.require_app()
        task = load_task(conn, app.pk, req.task_id)
        sampled = review_sample(conn, task, task_input_pks(conn, app.pk, task))
        return service_pb2.MultiInputAnnotationResponse(
            hits=_sample_hits(conn, app, task, sampled, list(dict.fromkeys(req.user_ids)), ctx.files)
        )

"""Task assignments: PutTaskAssignments (LABEL_START, LABEL_SUBMIT, REVIEW_START, REVIEW_APPROVE,
REVIEW_REQUEST_CHANGES, REVIEW_REJECT) and ListNextTaskAssignments. Which seats an input gets, and
re-planning on PatchTasks, is :mod:`labeldesk.services.seat_plans`.

The work queue
--------------
Every input of a task has ``workers_per_input`` *seats* (rows of ``task_assignments``; the state
machine is :mod:`labeldesk.domain.statuses`). Seats are created lazily, a batch of inputs at a
time, when a worker asks for work and has too little: the planner takes the next inputs of the
task's source above the task's watermark (``tasks.planned_upto``) and writes their seats in one
INSERT. So a million-input task costs nothing at creation, and inputs that join the source later
are planned when they are reached; inputs *older* than the watermark that join a dataset or saved
search later are found by a rescan (at most every ``Settings.source_rescan_seconds``, first thing in
a LABEL_START), which also refills the seats of inputs that left the source and came back, and lets
saved-search inputs that stop matching leave (``domain/assignment_source.py``).

* FULL: a seat for every worker on every input.
* PARTITIONED (EVENLY / WEIGHTED): the seats' workers come from :class:`PartitionPlanner`
  (deterministic, stable, shares follow the weights, capped at one seat per worker and input).
* DYNAMIC: the seats are OPEN; LABEL_START takes free seats for the caller (an input at most once
  per worker), with a lease: a started, unsubmitted seat whose lease ran out can be taken by
  another worker. The same worker asking again gets its own unfinished inputs first.

Who may call: LABEL_* actions and ListNextTaskAssignments need the caller in the task's
``worker.user_ids``; REVIEW_* actions need them in ``review.user_ids``; anyone else gets
TASK_PERMISSION_DENIED (54103). A task that is TASK_DONE, TASK_WONT_DO, TASK_FAILED or TASK_IDLE
(paused) hands out nothing: LABEL_START, ListNextTaskAssignments and REVIEW_START answer SUCCESS
with an empty list and a ``status.description`` saying why. Work already handed out can still be
submitted and reviewed.

What a submission and a reviewer's verdict do beyond the seat's own transition (consensus,
reviewer votes, comments, scores) is decided by :class:`labeldesk.services.review.ReviewEngine`.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2, status_pb2
from sqlalchemy import Connection

from labeldesk.config import Settings
from labeldesk.domain import errors
from labeldesk.domain import statuses as st
from labeldesk.domain.assignment import DEFAULT_PICK_LIMIT
from labeldesk.domain.assignment_source import source_changes
from labeldesk.domain.review_sampling import is_sampled_for_review
from labeldesk.files.signing import FileLinks
from labeldesk.services import auto_annotation as auto
from labeldesk.services import prelabel_queue, prelabels
from labeldesk.services import registry as rpc
from labeldesk.services.common import timestamp
from labeldesk.services.context import RequestContext
from labeldesk.services.inputs import input_message
from labeldesk.services.review import ReviewEngine, Verdict
from labeldesk.services.seat_plans import MAX_BATCH, MIN_BATCH, SeatPlanner, reopen
from labeldesk.services.task_cache import TaskCache
from labeldesk.services.task_model import task_input_pks, task_missing
from labeldesk.services.task_record import TaskRecord
from labeldesk.storage.clock import utcnow
from labeldesk.storage.repos import assignments as repo
from labeldesk.storage.repos import datasets as ds_repo
from labeldesk.storage.repos import input_writes
from labeldesk.storage.repos import inputs as inputs_repo
from labeldesk.storage.repos import models as models_repo
from labeldesk.storage.repos import reviews as reviews_repo
from labeldesk.storage.repos.assignments import SourceInput

Action = service_pb2.PutTaskAssignmentsRequestAction
Worker = resources_pb2.TaskWorker
Source = resources_pb2.TaskInputSource

#: plan-then-take rounds per LABEL_START before answering with what was found
_ROUNDS = 4
#: a labeler's own annotation statuses (ANNOTATION_SUCCESS is the default when none is given):
#: what a submission moves to the status the review strategy decides
_LABELER_STATUSES = (st.ANNOTATION_FOR[st.PENDING], st.ANNOTATION_FOR[st.SUCCESS])


# --------------------------------------------------------------------------- permissions


def _denied(task: TaskRecord, user_id: str, role: str, field: str) -> errors.ApiError:
    return errors.ApiError(
        status_code_pb2.TASK_PERMISSION_DENIED,
        f"user '{user_id}' is not a {role} of task '{task.id}'",
        f"only the users in the task's {field} may do this; the task's owner can add you with PatchTasks",
    )


def require_worker(task: TaskRecord, user_id: str) -> None:
    if user_id not in task.worker_ids:
        raise _denied(task, user_id, "worker", "worker.user_ids")


def require_reviewer(task: TaskRecord, user_id: str) -> None:
    if user_id not in task.reviewer_ids:
        raise _denied(task, user_id, "reviewer", "review.user_ids")


def closed_note(task: TaskRecord) -> str | None:
    """Why a task hands out no work, or None when it is open."""
    if task.is_open:
        return None
    name = status_code_pb2.StatusCode.Name(task.status)
    return (
        f"task '{task.id}' is {name}: it hands out no new work (set its status to TASK_IN_PROGRESS to resume)"
    )


_REPOINT = "point the task at another source with PatchTasks"


class SourceGone(errors.ApiError):
    """The task's input source (dataset or saved search) was deleted: nothing more can be planned."""


class TaskSource:
    """The task's input source, read in pk order above the watermark, and rescanned below it."""

    def __init__(self, conn: Connection, task: TaskRecord) -> None:
        self.conn = conn
        self.task = task
        self.kind = int(task.spec.input_source.type)
        self._dataset_pk: int | None = None
        self._live: list[int] | None = None

    @property
    def monotone(self) -> bool:
        """ALL_INPUTS only grows by new (higher) pks, so no rescan is ever needed."""
        return self.kind in (Source.ALL_INPUTS, Source.INPUT_SOURCE_TYPE_NOT_SET)

    def dataset_pk(self) -> int:
        if self._dataset_pk is None:
            ds_id = self.task.spec.input_source.id
            row = ds_repo.by_ids(self.conn, self.task.app_pk, [ds_id]).get(ds_id)
            if row is None:
                raise SourceGone(
                    errors.DOES_NOT_EXIST,
                    f"input_source.id: dataset '{ds_id}' of task '{self.task.id}' no longer exists",
                    _REPOINT,
                )
            self._dataset_pk = int(row.pk)
        return self._dataset_pk

    def _live_pks(self) -> list[int]:
        """Saved searches and single inputs: resolved once per request, in Python."""
        if self._live is None:
            try:
                self._live = task_input_pks(self.conn, self.task.app_pk, self.task)
            except errors.ApiError as e:  # the saved search was deleted
                if e.code != errors.DOES_NOT_EXIST:
                    raise
                raise SourceGone(e.code, e.description, _REPOINT) from e
        return self._live

    def after(self, after_pk: int, limit: int) -> list[SourceInput]:
        if self.monotone:
            return repo.app_inputs_after(self.conn, self.task.app_pk, after_pk, limit)
        if self.kind == Source.DATASET:
            return repo.dataset_inputs_after(self.conn, self.task.app_pk, self.dataset_pk(), after_pk, limit)
        return repo.source_inputs(self.conn, [p for p in self._live_pks() if p > after_pk][:limit])

    @property
    def settles(self) -> bool:
        """Whether inputs a planner passed are looked at again once the writes in flight while it
        planned are over (:mod:`labeldesk.storage.repos.input_writes`; PostgreSQL): the sources
        walked in pk order. A saved search's or an input list's are rescanned whole (:meth:`rescan`)."""
        return self.conn.dialect.name != "sqlite" and (self.monotone or self.kind == Source.DATASET)

    def below_stamp(self) -> int | None:
        """What tells whether inputs can have joined the source below a walk's mark since it was
        read -- read once no write of the app's inputs was in flight, so that every input below
        the mark had committed: for ``ALL_INPUTS`` 0 (only new inputs join it, above the mark),
        for a dataset its ``late_version``, None for a saved search or an input list (resolved
        anew each time: nothing tells)."""
        if self.monotone:
            return 0
        if self.kind != Source.DATASET:
            return None
        return ds_repo.late_version(self.conn, self.dataset_pk())

    def unplanned_between(self, above_pk: int, upto_pk: int, limit: int) -> list[SourceInput]:
        """The source's inputs with ``above_pk`` < pk <= ``upto_pk`` that have no seat in the task,
        oldest first: those whose writes committed after a planner had passed them."""
        if self.monotone:
            return repo.app_inputs_unplanned(
                self.conn, self.task.app_pk, self.task.pk, above_pk, upto_pk, limit
            )
        if self.kind == Source.DATASET:
            ds = self.dataset_pk()
            return repo.dataset_inputs_unplanned(self.conn, self.task.pk, ds, upto_pk, limit, above_pk)
        return []

    def rescan(self, upto_pk: int, limit: int) -> list[SourceInput]:
        """Inputs at or below the watermark to plan (again): those that joined the source late and
        those that left it and came back (their seats are no longer marked off source; the caller
        refills them). A saved search's inputs that stopped matching leave the task here (a
        dataset's leave when they are taken out of it)."""
        if self.monotone:
            return []
        if self.kind == Source.DATASET:
            found = repo.dataset_inputs_unplanned(self.conn, self.task.pk, self.dataset_pk(), upto_pk, limit)
        else:
            live = self._live_pks()
            on, off = repo.planned_by_source_mark(self.conn, self.task.pk)
            changes = source_changes(on, off, live)
            repo.leave_source(self.conn, [self.task.pk], changes.left)
            fresh = [p for p in live if p <= upto_pk and p not in on and p not in off]
            found = repo.source_inputs(self.conn, sorted([*fresh, *changes.back])[:limit])
        repo.return_to_source(self.conn, self.task.pk, [i.pk for i in found])
        return found


# --------------------------------------------------------------------------- the service


class AssignmentsService:
    def __init__(self, settings: Settings | None = None, review: ReviewEngine | None = None) -> None:
        self.settings = settings or Settings()
        self.reviews = review or ReviewEngine(self.settings)
        self.tasks = TaskCache()  # the records of tasks, reused while their stored spec is unchanged

    # ----------------------------------------------------------------------- RPCs

    @rpc.write("ListNextTaskAssignments")
    def list_next_task_assignments(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.ListNextTaskAssignmentsRequest
    ) -> service_pb2.MultiInputResponse:
        """LABEL_START under a GET: the caller's next inputs (leased like LABEL_START's)."""
        seats, note = self._started(conn, ctx, req.task_id)
        resp = service_pb2.MultiInputResponse(inputs=[a.input for a in seats])
        _explain(resp.status, note)
        return resp

    @rpc.write("PutTaskAssignments")
    def put_task_assignments(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.PutTaskAssignmentsRequest
    ) -> service_pb2.MultiTaskAssignmentResponse:
        me = ctx.caller_id
        if req.action == Action.LABEL_SUBMIT:  # answered from the rows it wrote: no re-read
            done = None
            with repo.statements_alone(conn) as alone:
                if alone:
                    done = self._submit_pending(conn, ctx, req)
            if done is None:
                task, found = self._task_and_seats(conn, ctx, req)
                done = self.label_submit(conn, task, me, req, found)
            return service_pb2.MultiTaskAssignmentResponse(task_assignments=[_proto(s, None) for s in done])
        if req.action == Action.LABEL_START:
            assignments, note = self._started(conn, ctx, req.task_id)
        else:
            task = self._task(conn, ctx, req.task_id)
            full = True  # work to do comes with its inputs' data; decisions just name the inputs
            if req.action == Action.REVIEW_START:
                workers = [w.user.id for w in req.review_start_config.workers if w.user.id]
                pks, note = self.review_start(conn, task, me, workers)
            elif req.action in _REVIEW_EVENTS:
                (pks, note), full = self.review(conn, task, me, req), False
            else:
                raise errors.invalid(
                    f"action: {Action.Name(req.action) if req.action in Action.values() else req.action} "
                    "is not an action labeldesk can carry out",
                    "use one of LABEL_START, LABEL_SUBMIT, REVIEW_START, REVIEW_APPROVE, "
                    "REVIEW_REQUEST_CHANGES, REVIEW_REJECT",
                )
            assignments = self._protos(conn, pks, ctx.files, full)
        resp = service_pb2.MultiTaskAssignmentResponse(task_assignments=assignments)
        _explain(resp.status, note)
        return resp

    # ----------------------------------------------------------------------- LABEL_START

    def _started(
        self, conn: Connection, ctx: RequestContext, task_id: str
    ) -> tuple[list[resources_pb2.TaskAssignment], str | None]:
        """A LABEL_START's answer: the caller's work with its inputs (and an assisted task's
        pre-labels), and why there is none for a closed task. The task is read with the caller's
        queue lock when the process can (PostgreSQL, one round trip less:
        :meth:`TaskCache.load_locking_queue`), and seats the leasing statements answered with
        their inputs are not read again."""
        task, locked = self.tasks.load_locking_queue(
            conn, ctx.require_app().pk, _named(task_id), ctx.caller_id
        )
        answers: dict[int, repo.SeatWithInput] = {}
        pks, note = self.label_start(conn, task, ctx.caller_id, answers, locked)
        return self._protos(conn, pks, ctx.files, assisted=task, known=answers), note

    def label_start(
        self,
        conn: Connection,
        task: TaskRecord,
        worker_id: str,
        answers: dict[int, repo.SeatWithInput],
        queue_locked: bool = False,
    ) -> tuple[list[int], str | None]:
        """Up to 10 seats for ``worker_id``, leased: its started work first, then (PARTITIONED/FULL)
        its planned work in input order or (DYNAMIC) newly taken free seats. Plans more inputs when
        short. Answers the seat pks and, for a closed task, why there are none; seats read with
        their inputs on the way are added to ``answers`` (``repo.claim_free_seats``).
        ``queue_locked``: the worker's queue lock is held already (:meth:`_started`)."""
        require_worker(task, worker_id)
        note = closed_note(task)
        if note is not None:
            return [], note
        if not queue_locked:
            repo.lock_worker_queue(conn, task.pk, worker_id)
        now = utcnow()
        self._rescan(conn, task, now)  # first: inputs that left the source are not handed out
        until = now + timedelta(seconds=self.settings.lease_seconds)
        limit = DEFAULT_PICK_LIMIT
        dynamic = task.strategy == Worker.DYNAMIC
        # DYNAMIC seats are leased when taken: a worker never holds unstarted ones there
        own = repo.own_work(conn, task.pk, worker_id, limit, unstarted=not dynamic)
        taken: list[int] = []
        planner: SeatPlanner | None = None
        # Nothing left to plan ends the rounds after one more look: another worker's planner may
        # have committed seats for this worker after its first look and before the plan state was
        # read (PostgreSQL, READ COMMITTED) -- without that look the worker would be told "no work".
        exhausted = False
        for _ in range(_ROUNDS):
            if dynamic and len(own) + len(taken) < limit:
                taken += repo.claim_free_seats(
                    conn,
                    task.pk,
                    worker_id,
                    now,
                    until,
                    limit - len(own) - len(taken),
                    task.workers_per_input,
                    answers,
                )
            if exhausted or len(own) + len(taken) >= limit:
                break
            planner = planner or SeatPlanner(conn, task)
            want = limit - len(own) - len(taken)
            try:
                exhausted = not self._plan_more(conn, task, planner, worker_id, want, now)
            except SourceGone:  # work already handed out can still be finished; with none, say why
                if not (own or taken):
                    raise
                break
            if not dynamic:
                own = repo.own_work(conn, task.pk, worker_id, limit)
        own, taken = prelabel_queue.prefer_ready(conn, task, own, taken)  # ready pre-labels first
        # (claimed seats were leased and stamped started when taken)
        repo.set_lease(conn, own, until, now, answers)
        return own + taken, None

    def _plan_more(
        self,
        conn: Connection,
        task: TaskRecord,
        planner: SeatPlanner,
        worker_id: str,
        want: int,
        now: datetime,
    ) -> bool:
        """Plan further inputs until ``worker_id`` could get ``want`` more (or the source is
        exhausted); answers whether anything new may be available.

        The planning lock is taken only when there is something to plan, so idle workers polling
        a finished task do not queue behind each other."""
        source = TaskSource(conn, task)
        seen = repo.plan_state(conn, task.pk)
        if seen.unsettled_above is not None and self._settle(conn, task, planner, source, worker_id):
            return True  # inputs passed before their writes committed have seats now: take work first
        share = planner.share(worker_id)
        if share <= 0:
            return False
        held_above = auto.decided_upto(conn, task, source)  # inputs a model worker has yet to decide
        if not source.after(seen.planned_upto, 1) or (
            held_above is not None and held_above <= seen.planned_upto
        ):
            return False
        state = repo.lock_plan(conn, task.pk, seen.planned_upto)  # waits for a concurrent planner
        if state is None:
            return True  # someone else planned meanwhile: try taking work again first
        batch = min(MAX_BATCH, max(MIN_BATCH, math.ceil(2 * want / share)))
        upto, gained = state.planned_upto, 0
        while gained < want:
            inputs = source.after(upto, batch)
            if held_above is not None:
                inputs = [i for i in inputs if i.pk <= held_above]
            if not inputs:
                break
            gained += self._create(conn, task, planner, inputs, worker_id)
            upto = inputs[-1].pk
            batch = min(MAX_BATCH, batch * 2)
        if upto != state.planned_upto:
            repo.advance_plan(conn, task.pk, state.planned_upto, upto, source.settles)
        return gained > 0

    def _settle(
        self, conn: Connection, task: TaskRecord, planner: SeatPlanner, source: TaskSource, worker_id: str
    ) -> bool:
        """Once no write of the app's inputs that began before is in flight (never waiting for one),
        plan the inputs the planners passed while writes were in flight and that have no seats:
        a write that committed after a later pk's did. Those a model worker has yet to decide
        stay unsettled (its job, queued again, decides them). Answers whether ``worker_id``
        gained any."""
        state = repo.try_lock_plan(conn, task.pk)
        if state is None or state.unsettled_above is None:
            return False  # another planner is at work (a later LABEL_START settles), or settled
        if not input_writes.idle(conn, task.app_pk):
            return False  # a later LABEL_START looks again
        gained, above, held = 0, state.unsettled_above, None
        while True:
            passed = source.unplanned_between(above, state.planned_upto, MAX_BATCH)
            ready = auto.hold_undecided(conn, task, passed)  # a model worker decides them first
            if ready:
                gained += self._create(conn, task, planner, ready, worker_id)
            if held is None and len(ready) < len(passed):
                held = min(set(passed) - set(ready)).pk - 1
            if len(passed) < MAX_BATCH:
                break
            above = passed[-1].pk
        repo.settle_plan(conn, task.pk, held)
        return gained > 0

    def _rescan(self, conn: Connection, task: TaskRecord, now: datetime) -> None:
        """At most every ``source_rescan_seconds`` (never for ALL_INPUTS, whose new inputs always
        have higher pks): plan the inputs that joined the source below the watermark or came back
        to it, and let those that stopped matching a saved search leave (:meth:`TaskSource.rescan`)."""
        source = TaskSource(conn, task)
        if source.monotone or not self._rescan_due(repo.plan_state(conn, task.pk), now):
            return
        state = repo.try_lock_plan(conn, task.pk)
        if state is None or not self._rescan_due(state, now):
            return  # another planner is at work (a later LABEL_START rescans), or rescanned
        try:
            version = source.below_stamp()  # (not ALL_INPUTS, so a dataset's late joins or None)
            if version is not None and version == state.source_rescan_version:
                # no input joined the dataset late since the last rescan: nothing to look for
                repo.set_plan_state(conn, task.pk, rescanned_at=now, rescan_version=version)
                return
            late = source.rescan(state.planned_upto, MAX_BATCH)
        except SourceGone:  # LABEL_START says so when the worker has no work left
            return
        ready = auto.hold_undecided(conn, task, late)  # a model worker decides late inputs first
        if ready:
            self._create(conn, task, SeatPlanner(conn, task), ready, "")
        if len(late) < MAX_BATCH:  # complete: the next one may skip, unless it left some waiting
            kept = version if len(ready) == len(late) else None
            repo.set_plan_state(conn, task.pk, rescanned_at=now, rescan_version=kept)

    def _rescan_due(self, state: repo.PlanState, now: datetime) -> bool:
        last = state.source_rescanned_at
        return last is None or (now - last).total_seconds() >= self.settings.source_rescan_seconds

    @staticmethod
    def _create(
        conn: Connection,
        task: TaskRecord,
        planner: SeatPlanner,
        inputs: Sequence[SourceInput],
        worker_id: str,
    ) -> int:
        if any(w.HasField("model") for w in task.spec.worker.workers):  # auto-annotated: not for humans
            done = models_repo.auto_annotated(conn, task.id, None, [i.pk for i in inputs])
            inputs = [i for i in inputs if i.pk not in done]
        seats = planner.seats_for(inputs)
        repo.insert_seats(conn, task.pk, seats)
        return planner.gain(seats, worker_id)

    # ----------------------------------------------------------------------- LABEL_SUBMIT

    def _usual_submission(
        self, ctx: RequestContext, req: service_pb2.PutTaskAssignmentsRequest
    ) -> tuple[TaskRecord, tuple[int, int, bytes]] | None:
        """The task as this process last read it (its record and stored row), when ``req`` is the
        usual submission (one input named) of a task known not to be CONSENSUS (whose seats must
        all be locked, in order, before any is: see :meth:`label_submit`); else None."""
        if not req.input_id or req.label_submit_config.task_assignments or not req.task_id:
            return None
        known = self.tasks.known(ctx.require_app().pk, req.task_id)
        if known is None or known[0].review_strategy == resources_pb2.TaskReview.CONSENSUS:
            return None
        return known

    def _task_and_seats(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.PutTaskAssignmentsRequest
    ) -> tuple[TaskRecord, tuple[SourceInput, list[Any]] | None]:
        """A LABEL_SUBMIT's task and, for :meth:`_usual_submission`, the caller's seats on the
        input, locked, read with it in one query. Otherwise (or when the query finds no seat) the
        seats are left to :meth:`label_submit`, which then finds out what is wrong the slow way."""
        known = self._usual_submission(ctx, req)
        if known is None:
            return self._task(conn, ctx, req.task_id), None
        app_pk = known[0].app_pk
        both = repo.task_and_worker_seats(conn, app_pk, req.task_id, req.input_id, ctx.caller_id)
        if both is None:
            raise task_missing(req.task_id)
        return self.tasks.record(app_pk, req.task_id, both[0]), both[1]

    def _submit_pending(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.PutTaskAssignmentsRequest
    ) -> list[Any] | None:
        """The commonest submission in one statement that commits on its own (PostgreSQL,
        ``repo.statements_alone``: one round trip): the caller's PENDING seat on the input moves to
        what the task as this process last read it says, with the caller's annotations, if the
        task's stored row is still the one that record was made from and the seat is still PENDING
        and the caller's. None, having written nothing, otherwise (a re-submission, a changed
        task, CONSENSUS, an AI assistant, no such seat...): :meth:`label_submit` then runs it in a
        transaction and answers what is wrong."""
        known = self._usual_submission(ctx, req)
        if known is None:
            return None
        task, row = known
        input_id, worker_id = req.input_id, ctx.caller_id
        if task.spec.HasField("ai_assistant") or worker_id not in task.worker_ids:
            return None  # (not a worker by this record: the stored task may say otherwise)
        new = _new_status(task, input_id, worker_id, st.PENDING)
        now = utcnow()
        seat = repo.submit_pending_seat(
            conn,
            task.app_pk,
            task.id,
            row,
            input_id,
            worker_id,
            new,
            now,
            _LABELER_STATUSES,
            st.ANNOTATION_FOR[new],
        )
        if seat is None:
            return None
        pk, created_at, comment, reviewer_id = seat
        return [_SeatView(pk, created_at, now, worker_id, input_id, new, comment, reviewer_id)]

    def label_submit(
        self,
        conn: Connection,
        task: TaskRecord,
        worker_id: str,
        req: service_pb2.PutTaskAssignmentsRequest,
        found: tuple[SourceInput, list[Any]] | None = None,
    ) -> list[Any]:
        """The caller hands in its work on the input(s): each seat moves to SUCCESS,
        AWAITING_REVIEW or AWAITING_CONSENSUS_REVIEW by the task's review strategy, and the
        caller's task annotations on the input (PENDING, or SUCCESS as labelers post them) follow.
        Answers the seats as they are now (read again only when consensus may have moved them).
        ``found``: the worker's seats on ``req.input_id``, already read with the task."""
        require_worker(task, worker_id)
        # CONSENSUS: all of the input's seats, locked in one order, so the last of its labelers to
        # submit sees every other submission and concurrent submitters cannot deadlock
        lock_all = task.review_strategy == resources_pb2.TaskReview.CONSENSUS
        config = req.label_submit_config.task_assignments
        # the usual submission names one input: the input and the worker's seats in one query
        if lock_all:  # became CONSENSUS since this process last read it: lock them all
            found = None
        elif found is None and req.input_id and not config:
            found = repo.worker_seats_of_input_id(conn, task.app_pk, task.pk, req.input_id, worker_id)
        if found is not None:
            refs: list[tuple[SourceInput, list[int]]] = [(found[0], [])]
        else:
            refs = self._targets(conn, task, req.input_id, config, "label_submit_config")
        out: list[Any] = []
        now = utcnow()
        for inp, _ in refs:
            locked = (
                found[1]
                if found is not None
                else repo.seats_of_input(conn, task.pk, inp.pk, worker_ids=() if lock_all else [worker_id])
            )
            seats = [s for s in locked if s.worker_id == worker_id]
            if not seats:
                raise errors.invalid(
                    f"input '{inp.id}' is not assigned to '{worker_id}' in task '{task.id}'",
                    "call LABEL_START for your work"
                    + (
                        "; in a DYNAMIC task an input whose lease ran out may have gone to another worker"
                        if task.strategy == Worker.DYNAMIC
                        else ""
                    ),
                )
            seat = seats[0]
            new = _new_status(task, inp.id, worker_id, seat.status)
            changed = new != seat.status
            moved = repo.AnnotationMove(
                task.app_pk, task.id, inp.pk, worker_id, _LABELER_STATUSES, st.ANNOTATION_FOR[new]
            )
            repo.submit_seat(conn, int(seat.pk), new if changed else None, now, moved)
            if task.spec.HasField("ai_assistant"):
                prelabels.record_outcomes(conn, task, inp.pk, worker_id)
            if changed:
                self.reviews.after_submit(conn, task, inp, new)
            out.append(
                _SeatView(
                    seat.pk,
                    seat.created_at,
                    now if changed else seat.modified_at,
                    seat.worker_id,
                    inp.id,
                    new,
                    seat.comment,
                    seat.reviewer_id,
                )
            )
        if lock_all:  # consensus may have settled the seats after the submission
            return repo.by_pks(conn, [int(v.pk) for v in out])
        return out

    # ----------------------------------------------------------------------- review

    def review_start(
        self, conn: Connection, task: TaskRecord, reviewer_id: str, worker_ids: Sequence[str]
    ) -> tuple[list[int], str | None]:
        """Up to 10 inputs' submissions awaiting review (of ``worker_ids`` if given), held for the
        reviewer for one lease so two reviewers do not get the same input."""
        require_reviewer(task, reviewer_id)
        note = closed_note(task)
        if note is not None:
            return [], note
        now = utcnow()
        until = now + timedelta(seconds=self.settings.lease_seconds)
        return repo.review_queue(conn, task.pk, reviewer_id, worker_ids, now, until, DEFAULT_PICK_LIMIT), None

    def review(
        self, conn: Connection, task: TaskRecord, reviewer_id: str, req: service_pb2.PutTaskAssignmentsRequest
    ) -> tuple[list[int], str | None]:
        """REVIEW_APPROVE / REQUEST_CHANGES / REJECT on the work awaiting review of each input named:
        all of it, or that of ``config.workers`` / the ``config.task_assignments`` named (under
        CONSENSUS they name the version approved, or who redoes their work). What the verdict does
        is :meth:`ReviewEngine.decide`'s; a rejected input returns to the pool here. Every input
        reviewed is written to the review log (who, which action, when) in one batch."""
        require_reviewer(task, reviewer_id)
        event, field = _REVIEW_EVENTS[req.action]
        config = getattr(req, field)
        refs = self._targets(conn, task, req.input_id, config.task_assignments, field)
        workers = {w.user.id for w in config.workers if w.user.id}
        seat_comments, input_comments = _comments(config.task_assignments)
        planner = SeatPlanner(conn, task)
        out: list[int] = []
        notes: list[str] = []
        for inp, seat_pks in refs:
            awaiting = repo.seats_of_input(conn, task.pk, inp.pk, statuses=st.REVIEWABLE)
            named = workers | {s.worker_id for s in awaiting if int(s.pk) in seat_pks}
            if seat_pks and not named:
                raise errors.invalid(
                    f"{field}.task_assignments: no assignment named on input '{inp.id}' awaits review",
                    "REVIEW_START lists the work awaiting review",
                )
            comment = input_comments.get(inp.id, "")
            verdict = Verdict(reviewer_id, event, frozenset(named), comment, seat_comments)
            decision = self.reviews.decide(conn, task, inp, awaiting, verdict)
            if decision.reopen:  # the input returns to the pool: fresh seats for other workers
                reopen(conn, planner, inp)
            if decision.note:
                notes.append(decision.note)
            out.extend(decision.seat_pks)
        reviews_repo.log_reviews(conn, task.pk, reviewer_id, Action.Name(req.action), [i.pk for i, _ in refs])
        return out, "; ".join(notes) or None

    # ----------------------------------------------------------------------- helpers

    def _task(self, conn: Connection, ctx: RequestContext, task_id: str) -> TaskRecord:
        return self.tasks.load(conn, ctx.require_app().pk, _named(task_id))

    @staticmethod
    def _targets(
        conn: Connection,
        task: TaskRecord,
        input_id: str,
        assignments: Sequence[resources_pb2.TaskAssignment],
        field: str,
    ) -> list[tuple[SourceInput, list[int]]]:
        """The inputs an action is about, each with the seat pks named for it (empty: all): from
        ``input_id`` and from ``<field>.task_assignments`` (by ``id`` or ``input.id``)."""
        named: dict[str, list[int]] = {}
        if input_id:
            named[input_id] = []
        seat_pks: list[int] = []
        for n, a in enumerate(assignments):
            if a.id:
                if not a.id.isdigit():
                    raise errors.invalid(
                        f"{field}.task_assignments[{n}].id: '{a.id[:60]}' is not a task assignment id",
                        "use the ids PutTaskAssignments returned",
                    )
                seat_pks.append(int(a.id))
            elif a.input.id:
                named.setdefault(a.input.id, [])
        seats = [s for s in repo.by_pks(conn, seat_pks) if int(s.task_pk) == task.pk]
        missing = sorted(set(seat_pks) - {int(s.pk) for s in seats})
        if missing:
            raise errors.invalid(
                f"{field}.task_assignments: task '{task.id}' has no assignment "
                + ", ".join(f"'{p}'" for p in missing[:10]),
                "use the ids PutTaskAssignments returned for this task",
            )
        seat_inputs = inputs_repo.by_pks(conn, {int(s.input_pk) for s in seats})
        for s in seats:
            named.setdefault(seat_inputs[int(s.input_pk)].id, []).append(int(s.pk))
        if not named:
            raise errors.invalid(
                f"input_id: say which input the action is for (or list {field}.task_assignments)"
            )
        refs = repo.input_refs(conn, task.app_pk, list(named))
        absent = [i for i in named if i not in refs]
        if absent:
            raise errors.not_found("input", absent[0])
        return [(refs[i], named[i]) for i in named]

    @staticmethod
    def _protos(
        conn: Connection,
        pks: Sequence[int],
        links: FileLinks | None,
        full: bool = True,
        assisted: TaskRecord | None = None,
        known: Mapping[int, repo.SeatWithInput] | None = None,
    ) -> list[resources_pb2.TaskAssignment]:
        """The assignments, each with its input: whole (data to label or review) when ``full``,
        else just the input's id (answers to submissions and review decisions). Labeling work of
        an ``assisted`` task carries its pre-labels in ``input.data.regions``. ``known``: seats
        already read with their inputs, by seat pk."""
        if not full:
            return [_proto(s, None) for s in repo.by_pks(conn, pks)]
        rows = repo.with_inputs(conn, pks, known)  # the seats with their inputs, in one query
        protos = _seat_inputs(conn, rows, links)
        if assisted is not None and assisted.spec.HasField("ai_assistant"):
            prelabels.attach(conn, assisted, {int(r.pk): p for r, p in zip(rows, protos)})
        return [
            _proto(
                _SeatView(
                    r.seat_pk,
                    r.seat_created_at,
                    r.seat_modified_at,
                    r.worker_id,
                    r.id,
                    r.seat_status,
                    r.comment,
                    r.reviewer_id,
                ),
                p,
            )
            for r, p in zip(rows, protos)
        ]


def _seat_inputs(
    conn: Connection, rows: Sequence[repo.SeatWithInput], links: FileLinks | None
) -> list[resources_pb2.Input]:
    """The answer's inputs, as ``input_protos`` makes them: input-level concepts and dataset ids
    are read only for the inputs the seats' query found to have some."""
    levels = [r.level_pk for r in rows if r.level_pk is not None]
    concepts = repo.concepts_of_level(conn, levels) if levels else {}
    wanted: dict[int, set[str]] = defaultdict(set)
    for r in rows:
        wanted[r.app_pk].update(cid for cid, _ in concepts.get(r.level_pk or 0, []))
    names = {
        (app_pk, cid): name
        for app_pk, ids in wanted.items()
        if ids
        for cid, name in repo.concept_names(conn, app_pk, sorted(ids)).items()
    }
    in_datasets = [r.pk for r in rows if r.in_datasets]
    datasets = repo.dataset_ids_of(conn, in_datasets) if in_datasets else {}
    return [
        input_message(
            r,
            links,
            [(cid, names.get((r.app_pk, cid)), value) for cid, value in concepts.get(r.level_pk or 0, [])],
            datasets.get(r.pk, []),
        )
        for r in rows
    ]


class _SeatView(NamedTuple):
    """A seat as a submission left it (the columns an answer shows)."""

    pk: int
    created_at: datetime
    modified_at: datetime
    worker_id: str
    input_id: str
    status: int
    comment: str | None
    reviewer_id: str | None


def _named(task_id: str) -> str:
    """``task_id``, which a call on a task must give."""
    if not task_id:
        raise errors.invalid("task_id: give the id of the task", "ListTasks shows the app's tasks")
    return task_id


def _new_status(task: TaskRecord, input_id: str, worker_id: str, status: int) -> int:
    """What a submission of the worker's seat on the input, in ``status``, moves it to: the task's
    review strategy and sampling decide."""
    sampled = task.sample_percentage > 0 and is_sampled_for_review(task.id, input_id, task.sample_percentage)
    target = st.status_on_submit(
        resources_pb2.TaskReview.TaskReviewStrategy.Name(task.review_strategy), sampled
    )
    return st.next_status(status, st.Event.SUBMIT, target, subject=f"input '{input_id}' of '{worker_id}'")


def _proto(seat: Any, full_input: resources_pb2.Input | None) -> resources_pb2.TaskAssignment:
    """One assignment of an answer: with its whole input, or (None) just the input's id."""
    out = resources_pb2.TaskAssignment(
        id=str(seat.pk),
        created_at=timestamp(seat.created_at),
        modified_at=timestamp(seat.modified_at),
        input=full_input,
        status=_seat_status(seat),
    )
    out.worker.user.id = seat.worker_id  # set in place: no Worker and User messages to copy in
    if full_input is None:
        out.input.id = seat.input_id
    return out


_REVIEW_EVENTS: dict[int, tuple[st.Event, str]] = {
    Action.REVIEW_APPROVE: (st.Event.APPROVE, "review_approve_config"),
    Action.REVIEW_REQUEST_CHANGES: (st.Event.REQUEST_CHANGES, "review_request_changes_config"),
    Action.REVIEW_REJECT: (st.Event.REJECT, "review_reject_config"),
}


def _seat_status(seat: Any) -> status_pb2.Status:
    """An assignment's status; ``details`` carries the last reviewer's comment on the work."""
    description = st.name(seat.status)
    if seat.comment and seat.status == st.PENDING:
        description += f" (changes requested by '{seat.reviewer_id}')"
    return status_pb2.Status(code=seat.status, description=description, details=seat.comment or "")


def _comments(assignments: Sequence[resources_pb2.TaskAssignment]) -> tuple[dict[int, str], dict[str, str]]:
    """A reviewer's comments, given as ``status.description`` (or ``status.details``) of the
    config's ``task_assignments``: by assignment id (seat pk) and by ``input.id``."""
    by_seat: dict[int, str] = {}
    by_input: dict[str, str] = {}
    for a in assignments:
        text = (a.status.description or a.status.details).strip()
        if not text:
            continue
        if a.id.isdigit():
            by_seat[int(a.id)] = text
        elif a.input.id:
            by_input[a.input.id] = text
    return by_seat, by_input


def _explain(status: status_pb2.Status, note: str | None) -> None:
    """A successful answer that explains itself (e.g. why a closed task handed out nothing)."""
    if note:
        status.code = errors.SUCCESS
        status.description = note

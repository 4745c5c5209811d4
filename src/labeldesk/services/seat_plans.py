"""Planning the seats of a task's inputs: which workers an input gets (:class:`SeatPlanner`) and
how planned seats change when PatchTasks changes the task (:func:`replan`). The work queue itself
(who takes which seat) is :mod:`labeldesk.services.assignments`."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from functools import lru_cache
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2
from sqlalchemy import Connection, Row

from labeldesk.domain import statuses as st
from labeldesk.domain.assignment import PartitionPlanner, choose_replacements, plan_full
from labeldesk.domain.assignment_source import live_seats, reopens_on_reject, seats_missing
from labeldesk.services.task_record import TaskRecord
from labeldesk.storage.repos import assignments as repo
from labeldesk.storage.repos.assignments import SourceInput

Worker = resources_pb2.TaskWorker

#: one planning batch: at least this many inputs, at most MAX_BATCH
MIN_BATCH = 128
MAX_BATCH = 5000


def partition_planner(task_id: str, weights: dict[str, float], k: int) -> PartitionPlanner:
    """The task's :class:`PartitionPlanner`, reused while its workers, weights and ``k`` are the same.

    A planner's layouts (one worker order per hash byte, 256 of them, each ranking every worker)
    are built lazily and kept: a fresh planner spent ~20 ms of a 32-worker task's planning batch
    (640 inputs) on them, while holding the write lock; a warm one plans the batch in ~4 ms. The
    plan is a pure function of these keys, so sharing it changes no seat."""
    return _kept_planner(task_id, tuple(weights.items()), k)


#: partition planners kept per process (the least recently used go first)
MAX_PLANNERS = 256


@lru_cache(maxsize=MAX_PLANNERS)
def _kept_planner(task_id: str, weights: tuple[tuple[str, float], ...], k: int) -> PartitionPlanner:
    return PartitionPlanner(task_id, dict(weights), k)


def _rows_by_input(rows: Iterable[Row[Any]]) -> dict[int, list[Row[Any]]]:
    out: dict[int, list[Row[Any]]] = defaultdict(list)
    for r in rows:
        out[int(r.input_pk)].append(r)
    return out


class SeatPlanner:
    """Which seats an input of ``task`` gets: for new inputs (:meth:`seats_for`) and to top up an
    input that lost seats or needs more (:meth:`refill`). Pure apart from reading worker loads."""

    def __init__(self, conn: Connection, task: TaskRecord) -> None:
        self.conn = conn
        self.task = task
        self.k = task.workers_per_input
        self.workers = plan_full(task.worker_ids)
        self._partition = (
            partition_planner(task.id, task.weights, self.k)
            if task.strategy == Worker.PARTITIONED and self.workers
            else None
        )
        self._load: dict[str, int] | None = None

    @property
    def dynamic(self) -> bool:
        return bool(self.task.strategy == Worker.DYNAMIC)

    def share(self, worker_id: str) -> float:
        """Fraction of new inputs that give ``worker_id`` a seat (DYNAMIC: any free seat is theirs)."""
        if self._partition is not None:
            return self._partition.targets.get(worker_id, 0.0)
        return 1.0 if worker_id in self.workers or self.dynamic else 0.0

    def seats_for(self, inputs: Sequence[SourceInput]) -> list[tuple[int, str, int]]:
        """Seats ``(input_pk, worker_id, status)`` to create for ``inputs`` (those that already have
        seats are topped up instead of planned afresh)."""
        existing = repo.seats_by_input(self.conn, self.task.pk, [i.pk for i in inputs])
        fresh = [i for i in inputs if i.pk not in existing]
        out: list[tuple[int, str, int]] = []
        if self.dynamic:
            out = [(i.pk, repo.placeholder(j), st.OPEN) for i in fresh for j in range(1, self.k + 1)]
        elif self._partition is not None:
            plan = self._partition.plan(i.id for i in fresh)
            out = [(i.pk, w, st.PENDING) for i in fresh for w in plan[i.id]]
        else:
            out = [(i.pk, w, st.PENDING) for i in fresh for w in self.workers]
        for i in inputs:
            if i.pk in existing:
                out.extend(self.refill(i, existing[i.pk]))
        return out

    def refill(self, inp: SourceInput, seats: Sequence[Row[Any]]) -> list[tuple[int, str, int]]:
        """Seats that bring ``inp`` back to ``workers_per_input`` live (non-REJECTED) seats, never
        giving it to a worker who already had it."""
        holders = {s.worker_id for s in seats if not repo.is_placeholder(s.worker_id)}
        if not self.dynamic and self._partition is None:  # FULL: every current worker
            return [(inp.pk, w, st.PENDING) for w in self.workers if w not in holders]
        missing = seats_missing(live_seats(s.status for s in seats), self.k)
        if missing <= 0:
            return []
        if self.dynamic:
            return self._open_seats(inp, seats, holders, missing)
        load = self.load()
        weights = self.task.weights
        chosen = choose_replacements(self.task.id, inp.id, holders, weights, load, missing, k=self.k)
        for w in chosen:
            load[w] = load.get(w, 0) + 1
        return [(inp.pk, w, st.PENDING) for w in chosen]

    def _open_seats(
        self, inp: SourceInput, seats: Sequence[Row[Any]], holders: Collection[str], missing: int
    ) -> list[tuple[int, str, int]]:
        """DYNAMIC: up to ``missing`` new OPEN seats, but no more than the workers who never had the
        input can take -- a seat nobody may take would keep the input waiting (consensus) forever."""
        takers = sum(1 for w in self.workers if w not in holders)
        count = max(0, min(missing, takers - sum(1 for s in seats if s.status == st.OPEN)))
        used = {s.worker_id for s in seats}
        free = (repo.placeholder(j) for j in range(1, len(seats) + count + 1))
        return [(inp.pk, p, st.OPEN) for p in [p for p in free if p not in used][:count]]

    def load(self) -> dict[str, int]:
        if self._load is None:
            self._load = repo.load_by_worker(self.conn, self.task.pk)
        return self._load

    def gain(self, seats: Iterable[tuple[int, str, int]], worker_id: str) -> int:
        """How many of ``seats`` the worker can take: its own, or (DYNAMIC) distinct open inputs."""
        if self.dynamic:
            return len({i for i, _, s in seats if s == st.OPEN})
        return sum(1 for _, w, _ in seats if w == worker_id)


def reopen(conn: Connection, planner: SeatPlanner, inp: SourceInput) -> None:
    """Reviewers rejected the work on ``inp``: it returns to the pool -- fresh seats for workers who
    did not have it -- while it is in the task's source (one that left it is not re-opened)."""
    task_pk = planner.task.pk
    if reopens_on_reject(True, repo.is_off_source(conn, task_pk, inp.pk)):
        repo.insert_seats(conn, task_pk, planner.refill(inp, repo.seats_of_input(conn, task_pk, inp.pk)))


def replan(conn: Connection, task: TaskRecord, old_spec: resources_pb2.Task) -> None:
    """Adapt the planned seats after PatchTasks changed ``old_spec`` into ``task``'s spec.

    Submitted work and started DYNAMIC work never move. Changing the strategy or the input source
    drops the seats nobody has begun and plans again from the first input (lazily); otherwise:
    a removed worker's unsubmitted seats go to the remaining workers (PARTITIONED: to whoever is
    furthest below its target share; DYNAMIC: back to the pool; FULL: nobody else needs them), a
    worker added to a FULL task gets every input planned so far, and a new ``workers_per_input``
    adds or removes unbegun seats. New weights apply to inputs planned from now on.
    """
    old = TaskRecord(task.pk, task.id, task.app_pk, old_spec, task.status)
    removed = set(old.worker_ids) - set(task.worker_ids)
    added = set(task.worker_ids) - set(old.worker_ids)
    src_old, src_new = old.spec.input_source, task.spec.input_source
    if old.strategy != task.strategy or (src_old.type, src_old.id) != (src_new.type, src_new.id):
        repo.drop_movable(conn, task.pk, removed)
        repo.set_plan_state(conn, task.pk, reset=True)
        return
    planner = SeatPlanner(conn, task)
    if removed:
        _move_work_of(conn, task, planner, removed)
    if task.strategy == Worker.FULL:
        for w in sorted(added):
            repo.give_all_planned_inputs(conn, task.pk, w)
    elif old.workers_per_input != task.workers_per_input:
        _resize(conn, task, planner)


def _move_work_of(conn: Connection, task: TaskRecord, planner: SeatPlanner, removed: Collection[str]) -> None:
    gone = _rows_by_input(repo.unsubmitted_of(conn, task.pk, removed))
    if not gone:
        return
    if task.strategy == Worker.FULL:
        repo.delete_seats(conn, [int(s.pk) for rows in gone.values() for s in rows])
        return
    inputs = {i.pk: i for i in repo.source_inputs(conn, list(gone))}
    all_seats = repo.seats_by_input(conn, task.pk, list(gone))
    for input_pk, rows in gone.items():
        moving = {int(s.pk) for s in rows}
        repo.delete_seats(conn, moving)
        kept = [s for s in all_seats[input_pk] if int(s.pk) not in moving]
        # the removed workers are no longer candidates, so the seats go to remaining workers
        repo.insert_seats(conn, task.pk, planner.refill(inputs[input_pk], kept))


def _resize(conn: Connection, task: TaskRecord, planner: SeatPlanner) -> None:
    """``workers_per_input`` changed: top every planned input up, or drop unbegun surplus seats."""
    planned = repo.planned_input_pks(conn, task.pk)
    for start in range(0, len(planned), MAX_BATCH):
        chunk = planned[start : start + MAX_BATCH]
        inputs = {i.pk: i for i in repo.source_inputs(conn, chunk)}
        seats = repo.seats_by_input(conn, task.pk, chunk)
        new: list[tuple[int, str, int]] = []
        drop: list[int] = []
        for input_pk, rows in seats.items():
            live = [s for s in rows if s.status != st.REJECTED]
            surplus = len(live) - planner.k
            if surplus > 0:
                unbegun = [
                    s
                    for s in live
                    if s.status == st.OPEN or (s.status == st.PENDING and s.lease_until is None)
                ]
                drop.extend(int(s.pk) for s in unbegun[-surplus:])
            elif surplus < 0 and input_pk in inputs:
                new.extend(planner.refill(inputs[input_pk], rows))
        repo.delete_seats(conn, drop)
        repo.insert_seats(conn, task.pk, new)

"""The work queue: task assignment rows ("seats"), the lazy plan's watermark, and every lock the
assignment engine takes. No other module locks rows for the queue.

How exactness is kept under concurrency
---------------------------------------
*SQLite*: every write transaction starts with ``BEGIN IMMEDIATE`` (storage/engine.py), so write
transactions run one at a time; the reads and writes below are then trivially race-free.

*PostgreSQL* (READ COMMITTED), three locks:

1. **Seats** -- an input's ``workers_per_input`` places are rows, created once by the planner.
   Taking a free seat (an OPEN one or one whose DYNAMIC lease expired) is ``SELECT ... FOR UPDATE
   SKIP LOCKED`` followed by an ``UPDATE`` of the locked row: two transactions can never take the
   same seat, concurrent workers skip each other's rows instead of queueing behind them, and the
   number of seats of an input (hence of its workers) never grows by taking them.
2. **One worker, one queue at a time** -- a transaction-scoped advisory lock on (task, worker)
   serialises the LABEL_START calls of the *same* worker (two browser tabs), so they cannot both
   take a seat of the same input; the ``(task, input, worker)`` unique constraint backs this up.
3. **Planning** -- ``SELECT ... FOR NO KEY UPDATE`` on the task's row serialises the planners of a
   task, so the watermark advances once per batch and no input gets seats twice. Planning runs only
   when a worker's queue is short, so the hot path does not touch this lock. It is NO KEY UPDATE,
   not UPDATE, so that it does not block the foreign-key checks (``FOR KEY SHARE`` on the task's
   row) of rows inserted that reference the task -- refilled seats, review votes, consensus scores
   -- which submit and review take while holding seat locks: a planner holding the task's row
   while waiting for a seat would otherwise deadlock with them. A LABEL_START that waited for
   another planner and finds the watermark moved lets go of the lock at once (:func:`lock_plan`),
   and the work any later LABEL_START can do as well (settling, rescans) never waits for it
   (:func:`try_lock_plan`).

And one condition: inputs commit in any order, so a planner can pass an input whose write commits
after a later pk's. The range a planner passed stays *unsettled* (``tasks.unsettled_above``) until
a planner finds no write of the app's inputs in flight (:mod:`labeldesk.storage.repos.input_writes`)
and plans what in it has no seats (:func:`app_inputs_unplanned`, :func:`dataset_inputs_unplanned`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from hashlib import blake2b
from typing import Any, NamedTuple

from clarifai_grpc.grpc.api import resources_pb2
from sqlalchemy import (
    Connection,
    Integer,
    Row,
    String,
    and_,
    bindparam,
    case,
    delete,
    exists,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    update,
)

from labeldesk.domain.statuses import AWAITING_CONSENSUS_REVIEW, AWAITING_REVIEW, OPEN, PENDING
from labeldesk.storage import raw
from labeldesk.storage import tables as t
from labeldesk.storage.clock import utcnow
from labeldesk.storage.repos import multirow
from labeldesk.storage.repos.reviews import REVIEW

TA = t.task_assignments
Q = TA.c
I = t.inputs.c  # noqa: E741 - the inputs table's columns, as elsewhere
T = t.tasks.c
DI = t.dataset_inputs.c
ANNOTATIONS = t.metadata.tables["annotations"]  # ``t.annotations`` is shadowed for type checkers
A = ANNOTATIONS.c
IR = t.task_input_reviews.c
RV = t.task_review_votes.c

#: the queue table again, for "does this worker already have this input" subqueries
_OTHER = TA.alias("other")
#: placeholder worker ids of untaken DYNAMIC seats start with this ('#' never occurs in a user id)
SEAT_PREFIX = "#"
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_CHUNK = 500  # stay under SQLite's bound-parameter limit
_DATASET_SOURCE = int(resources_pb2.TaskInputSource.DATASET)  # tasks.input_source_type of a dataset

#: the columns every caller of this module reads
_SEAT_COLUMNS: tuple[Any, ...] = (
    Q.pk,
    Q.task_pk,
    Q.input_pk,
    Q.worker_id,
    Q.status,
    Q.lease_until,
    Q.reviewer_id,
    Q.review_lease_until,
    Q.comment,
    Q.created_at,
    Q.modified_at,
)

_SEAT_AND_INPUT_ID: tuple[Any, ...] = (*_SEAT_COLUMNS, I.id.label("input_id"))


class SourceInput(NamedTuple):
    pk: int
    id: str


class PlanState(NamedTuple):
    planned_upto: int
    source_rescanned_at: datetime | None
    #: PostgreSQL: the inputs above this pk (up to ``planned_upto``) were planned while writes of
    #: inputs may have been in flight (:mod:`labeldesk.storage.repos.input_writes`); None: settled
    unsettled_above: int | None = None
    #: a dataset task: the dataset's ``late_version`` its last complete rescan started from
    source_rescan_version: int | None = None


def placeholder(seat_number: int) -> str:
    return f"{SEAT_PREFIX}{seat_number}"


def is_placeholder(worker_id: str) -> bool:
    return worker_id.startswith(SEAT_PREFIX)


def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for i in range(0, len(values), _CHUNK):
        yield values[i : i + _CHUNK]


def _postgres(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


# --------------------------------------------------------------------------- locks and plan state


def lock_worker_queue(conn: Connection, task_pk: int, worker_id: str) -> None:
    """Serialise one worker's queue operations on one task until the transaction ends (PostgreSQL;
    SQLite's write transactions are serial already).

    The same statement has PostgreSQL use generic plans for the rest of the transaction (a
    LABEL_START's): the queue's statements are written so that one plan fits whatever the
    parameters (see :func:`_had_it`), and with their custom plans, PostgreSQL planned the seat
    claim and the look for expired leases again on every call (~0.2 ms of its CPU each, more than
    running them: docs/postgres.md, "Query plans")."""
    if _postgres(conn):
        _LOCK_QUEUE.first(conn, (_queue_key(task_pk, worker_id),))


def _queue_key(task_pk: int, worker_id: str) -> int:
    """The advisory lock's key of one worker's queue on one task."""
    digest = blake2b(f"{task_pk}\x00{worker_id}".encode(), digest_size=8, person=b"labeldesk.q").digest()
    return int.from_bytes(digest, "big", signed=True)


_LOCK_QUEUE_SQL = "pg_advisory_xact_lock(?), set_config('plan_cache_mode', 'force_generic_plan', true)"
#: (key,): PostgreSQL only. ``set_config(..., true)`` lasts until the transaction ends
_LOCK_QUEUE = raw.Sql(f"SELECT {_LOCK_QUEUE_SQL}")


def plan_state(conn: Connection, task_pk: int, lock: bool = False) -> PlanState:
    """The task's plan watermark; ``lock`` waits for and holds the task's planning lock."""
    return _plan_state(task_pk, (_PLAN_STATE_LOCKED if lock else _PLAN_STATE).first(conn, (task_pk,)))


def lock_plan(conn: Connection, task_pk: int, seen_upto: int) -> PlanState | None:
    """The task's planning lock, held, and its plan watermark; or None, when another planner moved
    the watermark past ``seen_upto`` while this one waited for the lock.

    On PostgreSQL that None comes without the lock: the wait is in a savepoint, rolled back. The
    caller goes on to take the work the other planner made, and its transaction would otherwise
    hold the lock until it commits, so that every LABEL_START that found the pool dry at the same
    moment would pass through the lock one whole transaction after the other. Uncontended, it is
    the one statement it always was."""
    state = try_lock_plan(conn, task_pk)
    if state is not None:  # nobody was planning (always so on SQLite)
        return state if state.planned_upto == seen_upto else None
    _PLAN_SAVEPOINT.run(conn, ())
    state = plan_state(conn, task_pk, lock=True)  # waits for the planner (or the task is gone)
    if state.planned_upto == seen_upto:
        _PLAN_RELEASE.run(conn, ())  # keeps the lock: this transaction plans
        return state
    _PLAN_ROLLBACK.run(conn, ())  # lets go of the lock: the others waiting get it now
    return None


def try_lock_plan(conn: Connection, task_pk: int) -> PlanState | None:
    """The task's planning lock, held, and its plan watermark; or None, never waiting, when another
    transaction holds the lock (PostgreSQL; SQLite's writers take turns, so it is always free).
    For work any later LABEL_START can do as well: settling, the source's rescan."""
    if not _postgres(conn):
        return plan_state(conn, task_pk, lock=True)
    row = _PLAN_STATE_TRY.first(conn, (task_pk,))
    return None if row is None else _plan_state(task_pk, row)


def _plan_state(task_pk: int, row: Any) -> PlanState:
    if row is None:
        raise LookupError(f"task {task_pk} is gone")
    upto, rescanned, unsettled, version = row
    return PlanState(
        int(upto or 0),
        None if rescanned is None else raw.read_time(rescanned),
        None if unsettled is None else int(unsettled),
        None if version is None else int(version),
    )


#: (task_pk,): prebuilt, as every statement of LABEL_START's path (building the select per call
#: cost more than running it)
_PLAN_STATE_SQL = (
    "SELECT planned_upto, source_rescanned_at, unsettled_above, source_rescan_version FROM tasks WHERE pk = ?"
)
_PLAN_STATE = raw.Sql(_PLAN_STATE_SQL)
#: FOR NO KEY UPDATE on PostgreSQL: see the module docstring (SQLite's writers are serial anyway)
_PLAN_STATE_LOCKED = raw.Sql(_PLAN_STATE_SQL, f"{_PLAN_STATE_SQL} FOR NO KEY UPDATE")
#: PostgreSQL: the lock when nobody holds it, else no row (:func:`lock_plan`)
_PLAN_STATE_TRY = raw.Sql(_PLAN_STATE_SQL, f"{_PLAN_STATE_SQL} FOR NO KEY UPDATE SKIP LOCKED")
_PLAN_SAVEPOINT = raw.Sql("SAVEPOINT plan")
_PLAN_ROLLBACK = raw.Sql("ROLLBACK TO SAVEPOINT plan")
_PLAN_RELEASE = raw.Sql("RELEASE SAVEPOINT plan")


def set_plan_state(
    conn: Connection,
    task_pk: int,
    rescanned_at: datetime | None = None,
    reset: bool = False,
    rescan_version: int | None = None,
) -> None:
    """Note a source rescan (complete from the dataset's ``rescan_version``, when given: else the
    next one looks at the whole source again); ``reset`` starts planning over from the first input."""
    values: dict[str, Any] = {}
    if reset:
        values = {
            "planned_upto": 0,
            "source_rescanned_at": None,
            "unsettled_above": None,
            "source_rescan_version": None,
        }
    if rescanned_at is not None:
        values["source_rescanned_at"] = rescanned_at
        values["source_rescan_version"] = rescan_version
    if values:
        conn.execute(update(t.tasks).where(T.pk == task_pk).values(**values))


def advance_plan(conn: Connection, task_pk: int, passed_from: int, upto: int, unsettled: bool) -> None:
    """A planning batch moved the watermark from ``passed_from`` up to ``upto``. ``unsettled``
    (PostgreSQL, a source walked in pk order): the inputs passed are looked at again later
    (:func:`app_inputs_unplanned`, :func:`dataset_inputs_unplanned`) -- from the lowest watermark
    not settled yet."""
    _ADVANCE_PLAN.run(conn, (upto, passed_from if unsettled else None, task_pk))


_ADVANCE_PLAN = raw.Sql(
    "UPDATE tasks SET planned_upto = ?, unsettled_above = COALESCE(unsettled_above, ?) WHERE pk = ?"
)


def settle_plan(conn: Connection, task_pk: int, still_above: int | None = None) -> None:
    """Every input up to the watermark was looked at once no write begun before was in flight --
    but those above ``still_above``, when given, which are to be looked at again."""
    _SETTLE_PLAN.run(conn, (still_above, task_pk))


_SETTLE_PLAN = raw.Sql("UPDATE tasks SET unsettled_above = ? WHERE pk = ?")


def task_row(
    conn: Connection, app_pk: int, task_id: str, queue: tuple[int, str] | None = None
) -> tuple[int, int, bytes] | None:
    """``(pk, status, spec)`` of the app's task ``task_id``, or None. ``queue`` (``(task_pk,
    worker_id)``, the pk as last seen): on PostgreSQL the same statement takes that worker's queue
    lock (:func:`lock_worker_queue`) when the task is found -- held for the pk given, whatever the
    row's (the caller compares them)."""
    if queue is not None and _postgres(conn):
        row = _TASK_ROW_LOCKING_QUEUE.first(conn, (_queue_key(*queue), app_pk, task_id))
    else:
        row = _TASK_ROW.first(conn, (app_pk, task_id))
    return None if row is None else (row[0], row[1], bytes(row[2]))


_TASK_ROW_SQL = "SELECT pk, status, spec{lock} FROM tasks WHERE app_pk = ? AND id = ?"
_TASK_ROW = raw.Sql(_TASK_ROW_SQL.format(lock=""))
#: (key, app_pk, task_id): PostgreSQL only; the lock is taken for the row found (there is one at most)
_TASK_ROW_LOCKING_QUEUE = raw.Sql(_TASK_ROW_SQL.format(lock=f", {_LOCK_QUEUE_SQL}"))


# --------------------------------------------------------------------------- task input sources


def app_inputs_after(conn: Connection, app_pk: int, after_pk: int, limit: int) -> list[SourceInput]:
    """The app's inputs with pk > ``after_pk``, oldest first."""
    return [SourceInput(pk, i) for pk, i in _APP_INPUTS_AFTER.rows(conn, (app_pk, after_pk, limit))]


_APP_INPUTS_AFTER = raw.Sql("SELECT pk, id FROM inputs WHERE app_pk = ? AND pk > ? ORDER BY pk LIMIT ?")


def app_inputs_unplanned(
    conn: Connection, app_pk: int, task_pk: int, above_pk: int, upto_pk: int, limit: int
) -> list[SourceInput]:
    """The app's inputs with ``above_pk`` < pk <= ``upto_pk`` that have no seat in the task, oldest
    first (an ``ALL_INPUTS`` planner passed them before their writes committed)."""
    rows = _APP_INPUTS_UNPLANNED.rows(conn, (app_pk, above_pk, upto_pk, task_pk, limit))
    return [SourceInput(pk, i) for pk, i in rows]


_APP_INPUTS_UNPLANNED = raw.Sql(
    "SELECT i.pk, i.id FROM inputs i WHERE i.app_pk = ? AND i.pk > ? AND i.pk <= ? AND NOT EXISTS "
    "(SELECT 1 FROM task_assignments ta WHERE ta.task_pk = ? AND ta.input_pk = i.pk) ORDER BY i.pk LIMIT ?"
)


def dataset_inputs_after(
    conn: Connection, app_pk: int, dataset_pk: int, after_pk: int, limit: int
) -> list[SourceInput]:
    """The dataset's inputs with pk > ``after_pk``, oldest first."""
    q = (
        select(I.pk, I.id)
        .select_from(t.dataset_inputs.join(t.inputs, I.pk == DI.input_pk))
        .where(DI.dataset_pk == dataset_pk, DI.input_pk > after_pk, I.app_pk == app_pk)
        .order_by(DI.input_pk)
        .limit(limit)
    )
    return [SourceInput(int(r.pk), r.id) for r in conn.execute(q)]


def dataset_inputs_unplanned(
    conn: Connection, task_pk: int, dataset_pk: int, upto_pk: int, limit: int, above_pk: int = 0
) -> list[SourceInput]:
    """Dataset inputs with ``above_pk`` < pk <= ``upto_pk`` (the watermark) that have no seat in
    the task (they joined late), or whose seats are marked ``off_source`` (they left and came back)."""
    planned = exists(select(literal(1)).where(Q.task_pk == task_pk, Q.input_pk == DI.input_pk))
    came_back = exists(
        select(literal(1)).where(Q.task_pk == task_pk, Q.input_pk == DI.input_pk, Q.off_source)
    )
    q = (
        select(I.pk, I.id)
        .select_from(t.dataset_inputs.join(t.inputs, I.pk == DI.input_pk))
        .where(
            DI.dataset_pk == dataset_pk,
            DI.input_pk > above_pk,
            DI.input_pk <= upto_pk,
            or_(~planned, came_back),
        )
        .order_by(DI.input_pk)
        .limit(limit)
    )
    return [SourceInput(int(r.pk), r.id) for r in conn.execute(q)]


def source_inputs(conn: Connection, pks: Sequence[int]) -> list[SourceInput]:
    """(pk, id) of the given inputs, in pk order."""
    out: list[SourceInput] = []
    for chunk in _chunks(sorted(set(pks))):
        out.extend(
            SourceInput(int(r.pk), r.id) for r in conn.execute(select(I.pk, I.id).where(I.pk.in_(chunk)))
        )
    return sorted(out)


def without_seats(conn: Connection, task_pk: int, input_pks: Sequence[int]) -> list[int]:
    """Those of ``input_pks`` that have no seat in the task yet."""
    planned: set[int] = set()
    for chunk in _chunks(list(input_pks)):
        q = select(Q.input_pk).where(Q.task_pk == task_pk, Q.input_pk.in_(chunk)).distinct()
        planned.update(int(p) for p in conn.execute(q).scalars())
    return [p for p in input_pks if p not in planned]


# --------------------------------------------------------------------------- planning


def seats_by_input(conn: Connection, task_pk: int, input_pks: Collection[int]) -> dict[int, list[Row[Any]]]:
    """Every seat of the given inputs in the task, by input (those of a new planning batch have
    none: one look at which have any, the seats read only for those)."""
    out: dict[int, list[Row[Any]]] = defaultdict(list)
    planned = [
        p
        for chunk in _chunks(sorted(input_pks))
        for (p,) in _PLANNED.rows(conn, (task_pk, *chunk), len(chunk))
    ]
    for chunk in _chunks(planned):
        q = select(*_SEAT_COLUMNS).where(Q.task_pk == task_pk, Q.input_pk.in_(chunk)).order_by(Q.pk)
        for r in conn.execute(q):
            out[int(r.input_pk)].append(r)
    return out


#: (task_pk, *input_pks): those inputs with seats in the task. PostgreSQL: one look-up of the unique
#: (task, input, worker) index per input, written as :func:`_had_it` is -- the plain form read
#: every seat of the task per planned batch while the statistics did not know the task yet
_PLANNED = raw.Sql(
    "SELECT DISTINCT input_pk FROM task_assignments WHERE task_pk = ? AND input_pk IN ({in})",
    "SELECT i.pk FROM tasks tk JOIN inputs i ON tk.pk = ? AND i.pk IN ({in}) WHERE EXISTS "
    "(SELECT 1 FROM task_assignments ta WHERE ta.task_pk = tk.pk AND ta.input_pk = i.pk OFFSET 0)",
)


def insert_seats(conn: Connection, task_pk: int, seats: Sequence[tuple[int, str, int]]) -> None:
    """Create seats ``(input_pk, worker_id, status)`` in one batched INSERT."""
    if not seats:
        return
    ts = raw.bind_time(raw.is_sqlite(conn), utcnow())
    multirow.insert_values(conn, TA, _SEAT_INSERT, [(task_pk, i, w, s, "", ts, ts) for i, w, s in seats])


#: the columns of a new seat (``off_source`` has a server default; ``comment``'s is SQLAlchemy's)
_SEAT_INSERT = ("task_pk", "input_pk", "worker_id", "status", "comment", "created_at", "modified_at")


def load_by_worker(conn: Connection, task_pk: int) -> dict[str, int]:
    """How many inputs each worker holds in the task (any status but OPEN)."""
    q = select(Q.worker_id, func.count()).where(Q.task_pk == task_pk, Q.status != OPEN).group_by(Q.worker_id)
    return {w: int(n) for w, n in conn.execute(q) if not is_placeholder(w)}


def planned_input_pks(conn: Connection, task_pk: int) -> list[int]:
    q = select(Q.input_pk).where(Q.task_pk == task_pk).distinct().order_by(Q.input_pk)
    return [int(p) for p in conn.execute(q).scalars()]


def give_all_planned_inputs(conn: Connection, task_pk: int, worker_id: str) -> None:
    """FULL: a worker who joins gets a PENDING seat on every input planned so far (one statement)."""
    ts = utcnow()
    theirs = _OTHER
    have = select(theirs.c.input_pk).where(theirs.c.task_pk == task_pk, theirs.c.worker_id == worker_id)
    planned = (
        select(
            literal(task_pk).label("task_pk"),
            Q.input_pk,
            literal(worker_id).label("worker_id"),
            literal(PENDING).label("status"),
            literal(ts).label("created_at"),
            literal(ts).label("modified_at"),
        )
        .where(Q.task_pk == task_pk, Q.input_pk.not_in(have))
        .group_by(Q.input_pk)
    )
    conn.execute(
        insert(TA).from_select(
            ["task_pk", "input_pk", "worker_id", "status", "created_at", "modified_at"], planned
        )
    )


def unsubmitted_of(conn: Connection, task_pk: int, worker_ids: Collection[str]) -> list[Row[Any]]:
    """The PENDING seats of these workers (started or not), locked."""
    if not worker_ids:
        return []
    q = (
        select(*_SEAT_COLUMNS)
        .where(Q.task_pk == task_pk, Q.status == PENDING, Q.worker_id.in_(list(worker_ids)))
        .order_by(Q.input_pk)
        .with_for_update()
    )
    return list(conn.execute(q))


#: seats nobody has begun: a DYNAMIC seat no worker took (OPEN), or planned PENDING work that
#: LABEL_START never handed out (no lease; handing out, a takeover and REQUEST_CHANGES all set one)
_UNSTARTED = or_(Q.status == OPEN, and_(Q.status == PENDING, Q.lease_until.is_(None)))


def drop_movable(conn: Connection, task_pk: int, removed_workers: Collection[str]) -> int:
    """Delete the seats nobody has begun: OPEN seats, unstarted PENDING ones, and every PENDING seat
    of ``removed_workers``. Submitted and started work stays. Answers how many were deleted."""
    movable = [_UNSTARTED]
    if removed_workers:
        movable.append(and_(Q.status == PENDING, Q.worker_id.in_(list(removed_workers))))
    return int(conn.execute(delete(TA).where(Q.task_pk == task_pk, or_(*movable))).rowcount)


def drop_unstarted_seats(
    conn: Connection, app_pk: int, dataset_id: str, input_pks: Collection[int] | None = None
) -> int:
    """Inputs left dataset ``dataset_id`` (all of its inputs when ``input_pks`` is None: the dataset
    is deleted): :func:`leave_source` in every task of the app whose input source is that dataset.
    Answers how many seats were deleted."""
    on_dataset = select(T.pk).where(
        T.app_pk == app_pk,
        T.input_source_type == _DATASET_SOURCE,
        T.input_source_id == dataset_id,
    )
    task_pks = [int(p) for p in conn.execute(on_dataset).scalars()]
    return leave_source(conn, task_pks, input_pks)


def leave_source(conn: Connection, task_pks: Sequence[int], input_pks: Collection[int] | None = None) -> int:
    """Inputs left the source of these tasks (every input when ``input_pks`` is None): delete their
    unstarted seats (:data:`_UNSTARTED`, ``domain/assignment_source.kept_on_leaving``), so nobody is
    handed them any more, and mark the kept ones -- started, submitted and reviewed work --
    ``off_source``. An input without seats left is planned again by the source rescan if it comes
    back; one with kept seats is refilled then (:func:`return_to_source`). Answers how many seats
    were deleted.

    The seats are locked in pk order before they are changed (PostgreSQL), as submissions lock an
    input's seats, so the two cannot deadlock over one input; a seat LABEL_START leases meanwhile
    no longer matches once its lease is committed, and is kept."""
    if not task_pks or (input_pks is not None and not input_pks):
        return 0
    scopes: list[Any] = [None] if input_pks is None else list(_chunks(sorted(set(input_pks))))
    dropped = 0
    for scope in scopes:
        q = select(Q.pk, _UNSTARTED.label("unstarted")).where(Q.task_pk.in_(list(task_pks)))
        if scope is not None:
            q = q.where(Q.input_pk.in_(scope))
        rows = list(conn.execute(q.order_by(Q.pk).with_for_update()))
        for chunk in _chunks([int(r.pk) for r in rows if r.unstarted]):
            dropped += int(conn.execute(delete(TA).where(Q.pk.in_(chunk))).rowcount)
        for chunk in _chunks([int(r.pk) for r in rows if not r.unstarted]):
            conn.execute(update(TA).where(Q.pk.in_(chunk)).values(off_source=True))
    return dropped


def return_to_source(conn: Connection, task_pk: int, input_pks: Collection[int]) -> None:
    """These inputs are back in the task's source: their seats are no longer ``off_source``."""
    for chunk in _chunks(sorted(set(input_pks))):
        conn.execute(
            update(TA)
            .where(Q.task_pk == task_pk, Q.input_pk.in_(chunk), Q.off_source)
            .values(off_source=False)
        )


def planned_by_source_mark(conn: Connection, task_pk: int) -> tuple[set[int], set[int]]:
    """The task's inputs with seats: those in its source (no seat marked) and those marked off it."""
    q = select(Q.input_pk, func.max(case((Q.off_source, 1), else_=0))).where(Q.task_pk == task_pk)
    on: set[int] = set()
    off: set[int] = set()
    for input_pk, marked in conn.execute(q.group_by(Q.input_pk)):
        (off if marked else on).add(int(input_pk))
    return on, off


def is_off_source(conn: Connection, task_pk: int, input_pk: int) -> bool:
    """Whether the input left the task's source (one of its seats there is marked)."""
    q = select(literal(1)).where(Q.task_pk == task_pk, Q.input_pk == input_pk, Q.off_source).limit(1)
    return conn.execute(q).first() is not None


# --------------------------------------------------------------------------- handing out work


# The hot path's statements: SQL text sent to the driver (storage/raw.py: SQLAlchemy's execute
# path cost ~4x what SQLite takes to run them). PostgreSQL's variants add the row locks.
_TASK = bindparam("task_pk", type_=Integer)
_WORKER = bindparam("worker_id", type_=String)
_LIMIT = bindparam("limit", type_=Integer)


def _had_it(seat: Any, worker: Any) -> Any:
    """Whether the worker has (had) a seat on ``seat``'s input of its task: one look-up of the
    (task, input) prefix of the unique index per candidate seat, whatever the planner's statistics.

    Written the plain way (``other.task_pk = :task AND other.worker_id = :worker``), PostgreSQL --
    whenever its statistics did not know the task yet (a new task, until autovacuum analyzes the
    table) and so expected one row for it -- ran the test as one scan of all the worker's seats of
    the task per candidate, through the (task, worker, ...) queue index: a seat claim cost more the
    more the worker had done (14 ms after 3,000 submissions). Here the task and input come from the
    candidate row (estimated as an average task, not as "one row"), ``worker_id || ''`` is not an
    index search key, and ``OFFSET 0`` keeps the test a per-row sub-plan rather than an anti-join:
    the only index that fits is the unique one (docs/postgres.md, "Query plans")."""
    other = _OTHER.c
    return exists(
        select(literal_column("1"))
        .where(
            other.task_pk == seat.task_pk,
            other.input_pk == seat.input_pk,
            other.worker_id.concat(literal_column("''")) == worker,
        )
        .offset(literal_column("0"))
    )


_HAD_IT = _had_it(Q, _WORKER)
_OPEN_SEATS = (
    select(Q.pk, Q.input_pk)
    .where(Q.task_pk == _TASK, Q.status == OPEN, ~_HAD_IT)
    .order_by(Q.input_pk)
    .limit(_LIMIT)
    .with_for_update(skip_locked=True, of=TA)
)


def _locked(sql: str, lock: str) -> raw.Sql:
    """``sql`` as is on SQLite (its write transactions are serial), with ``lock`` on PostgreSQL."""
    return raw.Sql(sql, f"{sql} {lock}")


_OWN = (
    "SELECT pk FROM task_assignments{index} WHERE task_pk = ? AND worker_id = ? AND status = {pending} AND "
)
_OWN_STARTED_SQL = _OWN + "lease_until > ? ORDER BY input_pk LIMIT ?"
#: (task_pk, worker_id, epoch, limit): the worker's started, unsubmitted seats. SQLite's planner
#: would walk every started seat of the task (``ix_task_assignments_leases``, a range on the lease)
#: where the worker's own ten are at hand, in input order
_OWN_STARTED = raw.Sql(
    _OWN_STARTED_SQL.format(index=" INDEXED BY ix_task_assignments_queue", pending=PENDING),
    _OWN_STARTED_SQL.format(index="", pending=PENDING) + " FOR UPDATE",
)
#: (task_pk, worker_id, limit): the worker's planned seats never handed out
_OWN_UNSTARTED = _locked(
    _OWN.format(index="", pending=PENDING) + "lease_until IS NULL ORDER BY input_pk LIMIT ?", "FOR UPDATE"
)
#: no seat of this input was ever the worker's (param: worker_id), written as :func:`_had_it` is
#: (``OFFSET 0`` is PostgreSQL's; SQLite's planner takes the unique index's prefix anyway)
_NEVER_HAD = (
    "NOT EXISTS (SELECT 1 FROM task_assignments other WHERE other.task_pk = {t}.task_pk "
    "AND other.input_pk = {t}.input_pk AND other.worker_id || '' = ?{offset})"
)
_EXPIRED_WHERE = (
    f"ta.task_pk = ? AND ta.status = {PENDING} "
    "AND ta.lease_until < ? AND ta.worker_id != ? AND {not_off} AND {never_had}"
)
#: started seats of others whose lease ran out (params: task_pk, now, worker_id, worker_id), on
#: inputs the worker never had, not off the source (that work stays with its worker)
_EXPIRED_WHERE_SQLITE = _EXPIRED_WHERE.format(
    not_off="ta.off_source = 0", never_had=_NEVER_HAD.format(t="ta", offset="")
)
_EXPIRED_WHERE_PG = _EXPIRED_WHERE.format(
    not_off="NOT ta.off_source", never_had=_NEVER_HAD.format(t="ta", offset=" OFFSET 0")
)
_EXPIRED_SQL = "SELECT ta.pk, ta.input_pk FROM task_assignments ta WHERE {where} ORDER BY ta.input_pk LIMIT ?"
#: (task_pk, now, worker_id, worker_id, limit): those seats, first ones first
_EXPIRED = raw.Sql(
    _EXPIRED_SQL.format(where=_EXPIRED_WHERE_SQLITE),
    _EXPIRED_SQL.format(where=_EXPIRED_WHERE_PG) + " FOR UPDATE OF ta SKIP LOCKED",
)
_PICK_OPEN = (
    f"SELECT free.pk FROM task_assignments free WHERE free.task_pk = ? AND free.status = {OPEN} "
    "AND {never_had} ORDER BY free.input_pk LIMIT ?"
)
_TAKE = f"UPDATE task_assignments SET worker_id = ?, status = {PENDING}, lease_until = ?, modified_at = ?, "
#: (worker_id, lease_until, now, now, task_pk, worker_id, limit) -- DYNAMIC with one seat per
#: input: the first OPEN seats on inputs the worker never had, taken in one statement (SQLite's;
#: PostgreSQL's is :data:`_TAKE_OPEN_ANSWERED`, which picks them once -- ``= ANY(ARRAY(...))`` is
#: an init plan -- and updates them by pk: with ``pk IN (subquery)`` and statistics from before
#: the task had seats, it walked every seat of the table and ran the pick once per seat).
_TAKE_OPEN = raw.Sql(
    _TAKE
    + "started_at = COALESCE(started_at, ?) WHERE pk IN ("
    + _PICK_OPEN.format(never_had=_NEVER_HAD.format(t="free", offset=""))
    + ") RETURNING pk, input_pk"
)


def own_work(conn: Connection, task_pk: int, worker_id: str, limit: int, unstarted: bool = True) -> list[int]:
    """The worker's PENDING seats (pks), locked: started ones first (resumed work), then (if
    ``unstarted``) planned ones not yet handed out, in input order; at most ``limit``."""
    if limit <= 0:
        return []
    sqlite = raw.is_sqlite(conn)
    pks = [r[0] for r in _OWN_STARTED.rows(conn, (task_pk, worker_id, raw.bind_time(sqlite, _EPOCH), limit))]
    if unstarted and len(pks) < limit:
        pks += [r[0] for r in _OWN_UNSTARTED.rows(conn, (task_pk, worker_id, limit - len(pks)))]
    return pks


def claim_free_seats(
    conn: Connection,
    task_pk: int,
    worker_id: str,
    now: datetime,
    lease_until: datetime,
    limit: int,
    k: int,
    answers: dict[int, SeatWithInput],
) -> list[int]:
    """DYNAMIC: take up to ``limit`` seats on distinct inputs the worker never had, for the worker.

    Seats whose lease ran out come first (their inputs are the oldest unfinished work), then OPEN
    seats in input order. Rows are locked with SKIP LOCKED, so concurrent workers take different
    seats; answers the pks taken. On PostgreSQL the seats taken come with their inputs, as
    :func:`with_inputs` reads them (the statement that takes them answers them), added to
    ``answers`` by seat pk; and, usually, while no lease ran out, one statement
    (:data:`_TAKE_OPEN_FIRST`) makes sure of that, takes and answers: two round trips less per
    LABEL_START.
    """
    if limit <= 0:
        return []
    sqlite = raw.is_sqlite(conn)
    at = raw.bind_time(sqlite, now)
    take = (worker_id, raw.bind_time(sqlite, lease_until), at, at, task_pk, worker_id)
    if k == 1 and not sqlite:  # the usual case, while no lease ran out: all in one round trip
        first = _TAKE_OPEN_FIRST.rows(conn, (*take, task_pk, at, worker_id, worker_id, limit, True))
        if first:
            return _answered_seats(first, answers)
    chosen: dict[int, int] = {}  # input_pk -> seat pk
    for pk, input_pk in _EXPIRED.rows(conn, (task_pk, at, worker_id, worker_id, limit)):
        chosen.setdefault(input_pk, pk)
    if not chosen and k == 1:  # one seat per input (the usual case): select and take in one UPDATE
        if not sqlite:
            return _answered_seats(_TAKE_OPEN_ANSWERED.rows(conn, (*take, limit, True)), answers)
        took = _TAKE_OPEN.rows(conn, (*take, limit))
        return [pk for pk, _ in sorted(took, key=lambda r: r[1])]
    params: dict[str, Any] = {"task_pk": task_pk, "worker_id": worker_id, "now": now, "limit": limit}
    if len(chosen) < limit:
        # k seats per input: fetch enough rows to find `limit` distinct inputs
        params["limit"] = (limit - len(chosen)) * max(1, k)
        for r in conn.execute(_OPEN_SEATS, params):
            if len(chosen) >= limit:
                break
            chosen.setdefault(int(r.input_pk), int(r.pk))
    pks = list(chosen.values())
    if pks and sqlite:
        _CLAIM.run(conn, (*take[:4], *pks), n_in=len(pks))
    elif pks:
        _answered_seats(_CLAIM_ANSWERED.rows(conn, (*take[:4], *pks, True), n_in=len(pks)), answers)
    return pks


# The hot path's statements are built once: constructing a statement costs more CPU than
# SQLite takes to run it (see docs/performance.md).
_PKS = bindparam("pks", expanding=True, type_=Integer)
_CLAIM_SQL = _TAKE + "started_at = COALESCE(started_at, ?) WHERE pk IN ({in})"
#: (worker_id, lease_until, now, now, *pks): the seats chosen, the worker's now
_CLAIM = raw.Sql(_CLAIM_SQL)
_BY_PKS = select(*_SEAT_AND_INPUT_ID).join(t.inputs, I.pk == Q.input_pk).where(Q.pk.in_(_PKS))


def set_lease(
    conn: Connection,
    pks: Collection[int],
    lease_until: datetime,
    now: datetime,
    answers: dict[int, SeatWithInput],
) -> None:
    """Hand the worker's own seats out again until ``lease_until``; a seat handed out for the first
    time is stamped ``started_at`` (as claimed seats are by :func:`claim_free_seats`). On
    PostgreSQL the seats come back with their inputs, added to ``answers`` by seat pk (as
    :func:`claim_free_seats` adds them)."""
    if not pks:
        return
    sqlite = raw.is_sqlite(conn)
    at = raw.bind_time(sqlite, now)
    params = (raw.bind_time(sqlite, lease_until), at, at, *pks)
    if sqlite:
        _SET_LEASE.run(conn, params, n_in=len(pks))
        return
    _answered_seats(_SET_LEASE_ANSWERED.rows(conn, (*params, True), n_in=len(pks)), answers)


_SET_LEASE_SQL = (
    "UPDATE task_assignments SET lease_until = ?, modified_at = ?, started_at = COALESCE(started_at, ?) "
    "WHERE pk IN ({in})"
)
_SET_LEASE = raw.Sql(_SET_LEASE_SQL)


def by_pks(conn: Connection, pks: Sequence[int]) -> list[Row[Any]]:
    """Seats (with their ``input_id``) in the order of ``pks``."""
    found: dict[int, Row[Any]] = {}
    for chunk in _chunks(list(pks)):
        found.update({int(r.pk): r for r in conn.execute(_BY_PKS, {"pks": list(chunk)})})
    return [found[p] for p in pks if p in found]


class SeatWithInput(NamedTuple):
    """A seat with its whole input, as an answer shows them (:func:`with_inputs`)."""

    seat_pk: int
    seat_status: int
    seat_created_at: datetime
    seat_modified_at: datetime
    worker_id: str
    comment: str | None
    reviewer_id: str | None
    pk: int
    app_pk: int
    id: str
    data: bytes
    metadata: Any
    status: int
    created_at: datetime
    modified_at: datetime
    #: the input-level annotation carrying concepts (None: no concepts given with the input)
    level_pk: int | None
    #: whether the input is in a dataset
    in_datasets: bool


def with_inputs(
    conn: Connection, pks: Sequence[int], known: Mapping[int, SeatWithInput] | None = None
) -> list[SeatWithInput]:
    """Seats with their whole input rows, in the order of ``pks``, in one query, which also says
    whether each input has concepts (:func:`concepts_of_level`) and datasets to read. Seats in
    ``known`` (read so already, by seat pk) are not read again."""
    found: dict[int, SeatWithInput] = dict(known or {})
    for chunk in _chunks([p for p in pks if p not in found]):
        for r in _WITH_INPUTS.rows(conn, (True, *chunk), n_in=len(chunk)):
            seat = _seat_with_input(r)
            found[seat.seat_pk] = seat
    return [found[p] for p in pks if p in found]


def _answered_seats(rows: Sequence[Any], answers: dict[int, SeatWithInput]) -> list[int]:
    """The pks of seats :func:`_answered` wrote, in its order, each added to ``answers``."""
    seats = [_seat_with_input(r) for r in rows]
    answers.update((s.seat_pk, s) for s in seats)
    return [s.seat_pk for s in seats]


def _seat_with_input(r: Sequence[Any]) -> SeatWithInput:
    """A row of :data:`_WITH_INPUTS_COLUMNS`."""
    return SeatWithInput(
        r[0], r[1], raw.read_time(r[2]), raw.read_time(r[3]), r[4], r[5], r[6], r[7], r[8], r[9],
        bytes(r[10]), raw.read_json(r[11]), r[12], raw.read_time(r[13]), raw.read_time(r[14]),
        r[15], bool(r[16]),
    )  # fmt: skip


_WITH_INPUTS_COLUMNS = (
    "SELECT ta.pk, ta.status, ta.created_at, ta.modified_at, ta.worker_id, ta.comment, ta.reviewer_id, "
    "i.pk, i.app_pk, i.id, i.data, i.metadata, i.status, i.created_at, i.modified_at, "
    "(SELECT a.pk FROM annotations a WHERE a.input_pk = i.pk AND a.input_level = ? AND EXISTS "
    "(SELECT 1 FROM annotation_concepts ac WHERE ac.annotation_pk = a.pk{offset}) "
    "ORDER BY a.pk DESC LIMIT 1), "
    "EXISTS (SELECT 1 FROM dataset_inputs di WHERE di.input_pk = i.pk{offset}) "
)
#: (True, *seat pks). PostgreSQL: each seat's input is a per-row look-up of its primary key (a
#: ``LATERAL`` sub-query with ``OFFSET 0``) and each ``EXISTS`` a per-row probe of its index
#: (``OFFSET 0`` keeps PostgreSQL from hashing the whole table once per call): with the plain join it
#: merge-joined the seats with the inputs' primary-key index, reading every input below the highest
#: one handed out (11,000 rows, 1.5 ms per LABEL_START at 10k inputs, growing with the app), and
#: hashed all of ``dataset_inputs`` once per call
_WITH_INPUTS_PG = (
    _WITH_INPUTS_COLUMNS.format(offset=" OFFSET 0")
    + "FROM {seats} ta CROSS JOIN LATERAL (SELECT * FROM inputs WHERE inputs.pk = ta.input_pk OFFSET 0) i "
)
_WITH_INPUTS = raw.Sql(
    _WITH_INPUTS_COLUMNS.format(offset="")
    + "FROM task_assignments ta JOIN inputs i ON i.pk = ta.input_pk WHERE ta.pk IN ({in})",
    _WITH_INPUTS_PG.format(seats="task_assignments") + "WHERE ta.pk IN ({in})",
)


def _answered(update: str, order: str = "") -> raw.Sql:
    """PostgreSQL's ``update`` of seats answering the seats it wrote with their inputs
    (:data:`_WITH_INPUTS`' columns, its last parameter ``True`` after the update's): what
    :func:`with_inputs` would read next, without the round trip."""
    return raw.Sql(
        f"WITH took AS ({update} RETURNING pk, status, created_at, modified_at, worker_id, comment, "
        f"reviewer_id, input_pk) {_WITH_INPUTS_PG.format(seats='took')}{order}"
    )


def _take_open_answered(also: str = "") -> raw.Sql:
    """PostgreSQL's :data:`_TAKE_OPEN`, answering the seats taken with their inputs, in input
    order; ``also``: a further condition on taking any."""
    return _answered(
        _TAKE
        + "started_at = COALESCE(started_at, ?) WHERE pk = ANY(ARRAY("
        + _PICK_OPEN.format(never_had=_NEVER_HAD.format(t="free", offset=" OFFSET 0") + also)
        + " FOR UPDATE SKIP LOCKED))",
        "ORDER BY ta.input_pk",
    )


#: (worker_id, lease_until, now, now, task_pk, worker_id, limit, True)
_TAKE_OPEN_ANSWERED = _take_open_answered()
#: (worker_id, lease_until, now, now, task_pk, worker_id, task_pk, now, worker_id, worker_id,
#: limit, True): :data:`_TAKE_OPEN_ANSWERED` while no seat's lease ran out that
#: :data:`_EXPIRED` would hand the worker first (it takes nothing otherwise): a DYNAMIC
#: LABEL_START's usual claim in one round trip instead of two
_TAKE_OPEN_FIRST = _take_open_answered(
    f" AND NOT EXISTS (SELECT 1 FROM task_assignments ta WHERE {_EXPIRED_WHERE_PG})"
)
#: (worker_id, lease_until, now, now, *pks, True): PostgreSQL's :data:`_CLAIM`, answering the seats
_CLAIM_ANSWERED = _answered(_CLAIM_SQL)
#: (lease_until, now, now, *pks, True): PostgreSQL's :data:`_SET_LEASE`, answering the seats
_SET_LEASE_ANSWERED = _answered(_SET_LEASE_SQL)


def concepts_of_level(conn: Connection, annotation_pks: Sequence[int]) -> dict[int, list[tuple[str, float]]]:
    """(concept id, value) of each annotation, in the order listings show them."""
    out: dict[int, list[tuple[str, float]]] = defaultdict(list)
    for chunk in _chunks(list(annotation_pks)):
        for a_pk, cid, value in _LEVEL_CONCEPTS.rows(conn, chunk, n_in=len(chunk)):
            out[a_pk].append((cid, value))
    return out


_LEVEL_CONCEPTS = raw.Sql(
    "SELECT annotation_pk, concept_id, value FROM annotation_concepts WHERE annotation_pk IN ({in})"
)


def dataset_ids_of(conn: Connection, input_pks: Sequence[int]) -> dict[int, list[str]]:
    """The ids of each input's datasets, oldest dataset first."""
    out: dict[int, list[str]] = defaultdict(list)
    for chunk in _chunks(list(input_pks)):
        for input_pk, ds_id in _DATASET_IDS.rows(conn, chunk, n_in=len(chunk)):
            out[input_pk].append(ds_id)
    return out


_DATASET_IDS = raw.Sql(
    "SELECT di.input_pk, d.id FROM dataset_inputs di JOIN datasets d ON d.pk = di.dataset_pk "
    "WHERE di.input_pk IN ({in}) ORDER BY d.pk"
)


def concept_names(conn: Connection, app_pk: int, ids: Sequence[str]) -> dict[str, str]:
    """The names of the app's concepts ``ids`` (those that exist)."""
    out: dict[str, str] = {}
    for chunk in _chunks(list(ids)):
        out.update(_CONCEPT_NAMES.rows(conn, (app_pk, *chunk), n_in=len(chunk)))
    return out


_CONCEPT_NAMES = raw.Sql("SELECT id, name FROM concepts WHERE app_pk = ? AND id IN ({in})")


# --------------------------------------------------------------------------- submitting and reviewing


def seats_of_input(
    conn: Connection,
    task_pk: int,
    input_pk: int,
    *,
    worker_ids: Collection[str] = (),
    statuses: Collection[int] = (),
    pks: Collection[int] = (),
) -> list[Row[Any]]:
    """The input's seats in the task (optionally only these workers / statuses / pks), locked."""
    if not (statuses or pks) and len(worker_ids) <= 1:  # submissions: the prebuilt statements
        params = {"task_pk": task_pk, "input_pk": input_pk}
        if not worker_ids:
            return list(conn.execute(_SEATS_OF_INPUT, params))
        return list(conn.execute(_WORKER_SEATS_OF_INPUT, {**params, "worker_id": next(iter(worker_ids))}))
    q = select(*_SEAT_COLUMNS).where(Q.task_pk == task_pk, Q.input_pk == input_pk)
    if worker_ids:
        q = q.where(Q.worker_id.in_(list(worker_ids)))
    if statuses:
        q = q.where(Q.status.in_(list(statuses)))
    if pks:
        q = q.where(Q.pk.in_(list(pks)))
    return list(conn.execute(q.order_by(Q.pk).with_for_update()))


_SEATS_OF_INPUT = (
    select(*_SEAT_COLUMNS)
    .where(Q.task_pk == _TASK, Q.input_pk == bindparam("input_pk", type_=Integer))
    .order_by(Q.pk)
    .with_for_update()
)
_WORKER_SEATS_OF_INPUT = _SEATS_OF_INPUT.where(Q.worker_id == _WORKER)


class Seat(NamedTuple):
    """A seat as a submission reads it."""

    pk: int
    input_pk: int
    worker_id: str
    status: int
    comment: str | None
    reviewer_id: str | None
    created_at: datetime
    modified_at: datetime


def worker_seats_of_input_id(
    conn: Connection, app_pk: int, task_pk: int, input_id: str, worker_id: str
) -> tuple[SourceInput, list[Seat]] | None:
    """A submission's lookup in one query: the app's input named ``input_id`` with the worker's
    seats on it in the task, locked. None when the input does not exist or the worker has no seat
    on it (the caller then finds out which, the slow way)."""
    rows = _WORKER_SEATS_OF_INPUT_ID.rows(conn, (app_pk, input_id, task_pk, worker_id))
    if not rows:
        return None
    seats = [
        Seat(p, i, worker_id, s, c, r, raw.read_time(ca), raw.read_time(ma)) for p, i, s, c, r, ca, ma in rows
    ]
    return SourceInput(seats[0].input_pk, input_id), seats


_SEAT_COLS = "pk, input_pk, status, comment, reviewer_id, created_at, modified_at"
#: (app_pk, input_id, task_pk, worker_id). PostgreSQL: the worker's seats are a per-row (LATERAL)
#: look-up from the input's row (found by its unique (app, id)) on the unique (task, input, worker)
#: index, written as :func:`_had_it` is and for the same reason: with the plain join, PostgreSQL,
#: not knowing a new task yet, walked every seat the worker had in it, per submission (SQLite has
#: no LATERAL, and its planner takes the input first anyway)
_WORKER_SEATS_OF_INPUT_ID = raw.Sql(
    f"SELECT ta.{_SEAT_COLS.replace(', ', ', ta.')} "
    "FROM task_assignments ta JOIN inputs i ON i.pk = ta.input_pk "
    "WHERE i.app_pk = ? AND i.id = ? AND ta.task_pk = ? AND ta.worker_id = ? ORDER BY ta.pk",
    f"SELECT s.{_SEAT_COLS.replace(', ', ', s.')} "
    "FROM inputs i JOIN tasks tk ON i.app_pk = ? AND i.id = ? AND tk.pk = ? "
    f"CROSS JOIN LATERAL (SELECT {_SEAT_COLS} FROM task_assignments ta "
    "WHERE ta.task_pk = tk.pk AND ta.input_pk = i.pk AND ta.worker_id || '' = ? "
    "ORDER BY ta.pk OFFSET 0 FOR UPDATE OF ta) s ORDER BY s.pk",
)


def task_and_worker_seats(
    conn: Connection, app_pk: int, task_id: str, input_id: str, worker_id: str
) -> tuple[tuple[int, int, bytes], tuple[SourceInput, list[Seat]] | None] | None:
    """A submission's look-up of the task and the worker's seats, in one query: the task's
    :func:`task_row` (None when the task does not exist) with what :func:`worker_seats_of_input_id`
    answers (the seats locked; None when the input does not exist or has no seat of the worker).
    Saves a LABEL_SUBMIT one statement (a round trip on PostgreSQL)."""
    rows = _TASK_AND_WORKER_SEATS.rows(conn, (input_id, worker_id, app_pk, task_id))
    if not rows:
        return None
    task = (rows[0][0], rows[0][1], bytes(rows[0][2]))
    if rows[0][3] is None:  # the outer joins found no seat
        return task, None
    seats = [
        Seat(p, i, worker_id, s, c, r, raw.read_time(ca), raw.read_time(ma))
        for _, _, _, p, i, s, c, r, ca, ma in rows
    ]
    return task, (SourceInput(seats[0].input_pk, input_id), seats)


#: (input_id, worker_id, app_pk, task_id): the task's row by its unique (app, id), left-joined to
#: the input by its unique (app, id) and to the worker's seats on it by the unique (task, input,
#: worker) index; PostgreSQL locks the seats in a LATERAL look-up as _WORKER_SEATS_OF_INPUT_ID does
#: (a locking clause may not name the nullable side of an outer join)
_TASK_AND_WORKER_SEATS = raw.Sql(
    f"SELECT tk.pk, tk.status, tk.spec, ta.{_SEAT_COLS.replace(', ', ', ta.')} "
    "FROM tasks tk LEFT JOIN inputs i ON i.app_pk = tk.app_pk AND i.id = ? "
    "LEFT JOIN task_assignments ta ON ta.task_pk = tk.pk AND ta.input_pk = i.pk AND ta.worker_id = ? "
    "WHERE tk.app_pk = ? AND tk.id = ? ORDER BY ta.pk",
    f"SELECT tk.pk, tk.status, tk.spec, s.{_SEAT_COLS.replace(', ', ', s.')} "
    "FROM tasks tk LEFT JOIN inputs i ON i.app_pk = tk.app_pk AND i.id = ? "
    f"LEFT JOIN LATERAL (SELECT {_SEAT_COLS} FROM task_assignments ta "
    "WHERE ta.task_pk = tk.pk AND ta.input_pk = i.pk AND ta.worker_id || '' = ? "
    "ORDER BY ta.pk OFFSET 0 FOR UPDATE OF ta) s ON true "
    "WHERE tk.app_pk = ? AND tk.id = ? ORDER BY s.pk",
)


def update_seat(conn: Connection, pk: int, **values: Any) -> None:
    conn.execute(update(TA).where(Q.pk == pk).values(modified_at=utcnow(), **values))


class AnnotationMove(NamedTuple):
    """The worker's task annotations on an input moving from ``froms`` to ``to`` (the annotation
    side of a submission; :func:`set_task_annotation_status`)."""

    app_pk: int
    task_id: str
    input_pk: int
    worker_id: str
    froms: tuple[int, ...]
    to: int


def submit_seat(
    conn: Connection, pk: int, status: int | None, now: datetime, annotations: AnnotationMove | None = None
) -> None:
    """A submission of the seat: ``submitted_at`` stamped and, unless ``status`` is None (no
    change), the new status -- one UPDATE; with ``annotations``, those move first. PostgreSQL
    does both in one statement (the annotations' UPDATE in a ``WITH``, which always runs to
    completion): one round trip less per LABEL_SUBMIT."""
    at = raw.bind_time(raw.is_sqlite(conn), now)
    seat: tuple[Any, ...] = (at, pk) if status is None else (at, at, status, pk)
    if annotations is None or not annotations.froms:
        (_STAMP_SUBMITTED if status is None else _SUBMIT_SEAT).run(conn, seat)
        return
    a = annotations
    moved = (a.to, at, a.app_pk, a.task_id, a.input_pk, a.worker_id, *a.froms)
    if raw.is_sqlite(conn):
        _MOVE_TASK_ANNOTATIONS.run(conn, moved, n_in=len(a.froms))
        (_STAMP_SUBMITTED if status is None else _SUBMIT_SEAT).run(conn, seat)
        return
    with_seat = _MOVE_AND_STAMP if status is None else _MOVE_AND_SUBMIT
    with_seat.run(conn, (*moved, *seat), n_in=len(a.froms))


#: the services' way to :func:`raw.statements_alone` (they do not reach below the repositories)
statements_alone = raw.statements_alone


def submit_pending_seat(
    conn: Connection,
    app_pk: int,
    task_id: str,
    task: tuple[int, int, bytes],
    input_id: str,
    worker_id: str,
    status: int,
    now: datetime,
    froms: tuple[int, ...],
    to: int,
) -> tuple[int, datetime, str | None, str | None] | None:
    """A submission in one statement (PostgreSQL): the worker's seat on the input, if PENDING,
    moves to ``status`` and the worker's task annotations on it from ``froms`` to ``to`` -- only
    while the task's stored ``(pk, status, spec)`` is still ``task`` (what ``status`` was decided
    from). Answers the seat's ``(pk, created_at, comment, reviewer_id)``, or None having written
    nothing."""
    task_pk, task_status, spec = task
    seat = (now, now, status, task_pk, task_status, spec, input_id, worker_id, PENDING)
    row = _SUBMIT_PENDING_SEAT.rows(
        conn,
        (*seat, to, now, app_pk, task_id, worker_id, *froms),
        len(froms),
    )
    if not row:
        return None
    pk, created_at, comment, reviewer_id = row[0]
    return pk, raw.read_time(created_at), comment, reviewer_id


_STAMP_SUBMITTED = raw.Sql("UPDATE task_assignments SET submitted_at = ? WHERE pk = ?")
_SUBMIT_SEAT = raw.Sql(
    "UPDATE task_assignments SET submitted_at = ?, modified_at = ?, status = ? WHERE pk = ?"
)


def delete_seats(conn: Connection, pks: Collection[int]) -> None:
    for chunk in _chunks(list(pks)):
        conn.execute(delete(TA).where(Q.pk.in_(chunk)))


def _awaiting_reviewer(reviewer_id: str) -> Any:
    """Seats a reviewer may be handed: MANUAL work awaiting review (not the reviewer's own), and
    CONSENSUS work of inputs whose labelers disagreed (none of the versions under review the
    reviewer's) -- an input whose labelers have not all submitted is not for reviewers yet --
    that the reviewer has not voted on already."""
    manual = and_(Q.status == AWAITING_REVIEW, Q.worker_id != reviewer_id)
    disputed = exists(
        select(literal(1)).where(IR.task_pk == Q.task_pk, IR.input_pk == Q.input_pk, IR.state == REVIEW)
    )
    labeled_it = exists(
        select(literal(1)).where(
            _OTHER.c.task_pk == Q.task_pk,
            _OTHER.c.input_pk == Q.input_pk,
            _OTHER.c.worker_id == reviewer_id,
            _OTHER.c.status == AWAITING_CONSENSUS_REVIEW,
        )
    )
    consensus = and_(Q.status == AWAITING_CONSENSUS_REVIEW, disputed, ~labeled_it)
    voted = exists(
        select(literal(1)).where(
            RV.task_pk == Q.task_pk,
            RV.input_pk == Q.input_pk,
            RV.reviewer_id == reviewer_id,
            or_(RV.subject == Q.worker_id, RV.subject == ""),
        )
    )
    return and_(or_(manual, consensus), ~voted)


def review_queue(
    conn: Connection,
    task_pk: int,
    reviewer_id: str,
    worker_ids: Collection[str],
    now: datetime,
    hold_until: datetime,
    limit: int,
) -> list[int]:
    """Up to ``limit`` inputs' worth of seats awaiting review for ``reviewer_id``: those the
    reviewer already holds first, then unheld ones (never the reviewer's own labels, see
    :func:`_awaiting_reviewer`), locked with SKIP LOCKED and held for the reviewer until
    ``hold_until``. Answers the seat pks."""
    reviewable = (Q.task_pk == task_pk, _awaiting_reviewer(reviewer_id))
    by_worker = (Q.worker_id.in_(list(worker_ids)),) if worker_ids else ()
    held = (
        select(Q.pk, Q.input_pk)
        .where(*reviewable, *by_worker, Q.reviewer_id == reviewer_id, Q.review_lease_until >= now)
        .order_by(Q.input_pk)
        .with_for_update()
    )
    free = (
        select(Q.pk, Q.input_pk)
        .where(*reviewable, *by_worker, or_(Q.review_lease_until.is_(None), Q.review_lease_until < now))
        .order_by(Q.input_pk)
        .limit(limit * 4)
        .with_for_update(skip_locked=True)
    )
    inputs: dict[int, list[int]] = {}
    for q in (held, free):
        for r in conn.execute(q):
            ipk = int(r.input_pk)
            if ipk not in inputs and len(inputs) >= limit:
                continue
            inputs.setdefault(ipk, []).append(int(r.pk))
    pks = [p for seat_pks in inputs.values() for p in seat_pks]
    if pks:
        conn.execute(
            update(TA).where(Q.pk.in_(pks)).values(reviewer_id=reviewer_id, review_lease_until=hold_until)
        )
    return pks


def set_task_annotation_status(
    conn: Connection,
    app_pk: int,
    task_id: str,
    input_pk: int,
    worker_id: str,
    from_statuses: Collection[int],
    to_status: int,
) -> int:
    """Move the worker's annotations of the task on the input from ``from_statuses`` to
    ``to_status`` (the annotation side of submit and review); answer how many changed."""
    froms = list(from_statuses)
    if not froms:
        return 0
    at = raw.bind_time(raw.is_sqlite(conn), utcnow())
    return _MOVE_TASK_ANNOTATIONS.run(
        conn, (to_status, at, app_pk, task_id, input_pk, worker_id, *froms), n_in=len(froms)
    )


def _move_task_annotations(input_pk: str) -> str:
    """The worker's task annotations on the input ``input_pk`` (a mark, or an expression) moving
    to a status: the worker's own work, never a model's (pre-labels, auto-annotations):
    model_version_id ''."""
    return (
        "UPDATE annotations SET status = ?, modified_at = ? WHERE app_pk = ? AND task_id = ? "
        f"AND input_pk = {input_pk} AND user_id = ? AND model_version_id = '' AND status IN ({{in}})"
    )


_MOVE_TASK_ANNOTATIONS = raw.Sql(_move_task_annotations("?"))
#: PostgreSQL only (:func:`submit_seat`): the annotations' move, then the seat's update
_MOVE_AND_STAMP = raw.Sql(f"WITH moved AS ({_MOVE_TASK_ANNOTATIONS.sqlite}) {_STAMP_SUBMITTED.sqlite}")
_MOVE_AND_SUBMIT = raw.Sql(f"WITH moved AS ({_MOVE_TASK_ANNOTATIONS.sqlite}) {_SUBMIT_SEAT.sqlite}")
#: PostgreSQL only (:func:`submit_pending_seat`): the task checked by its row, the input found by
#: its unique (app, id), the seat from the input (``worker_id || ''``: with the worker's id free to
#: match, PostgreSQL walked all of the worker's PENDING seats in the task by the queue's index),
#: then the annotations' move by (app, task, user, input)
_SUBMIT_PENDING_SEAT = raw.Sql(
    "WITH seat AS (UPDATE task_assignments ta SET submitted_at = ?, modified_at = ?, status = ? "
    "FROM tasks tk, inputs i WHERE tk.pk = ? AND tk.status = ? AND tk.spec = ? "
    "AND i.app_pk = tk.app_pk AND i.id = ? AND ta.task_pk = tk.pk AND ta.input_pk = i.pk "
    "AND ta.worker_id || '' = ? AND ta.status = ? "
    "RETURNING ta.pk, ta.input_pk, ta.created_at, ta.comment, ta.reviewer_id), "
    f"moved AS ({_move_task_annotations('(SELECT input_pk FROM seat)')}) "
    "SELECT pk, created_at, comment, reviewer_id FROM seat"
)


def input_refs(conn: Connection, app_pk: int, ids: Sequence[str]) -> dict[str, SourceInput]:
    """(pk, id) of the app's inputs named by ``ids`` (the ones that exist), by id."""
    if len(ids) == 1:  # a submission names one input: no expanding IN to rewrite per call
        row = conn.execute(_INPUT_REF, {"app_pk": app_pk, "id": ids[0]}).first()
        return {} if row is None else {row.id: SourceInput(int(row.pk), row.id)}
    out: dict[str, SourceInput] = {}
    for chunk in _chunks(list(ids)):
        for r in conn.execute(_INPUT_REFS, {"app_pk": app_pk, "ids": list(chunk)}):
            out[r.id] = SourceInput(int(r.pk), r.id)
    return out


_INPUT_REF = select(I.pk, I.id).where(
    I.app_pk == bindparam("app_pk", type_=Integer), I.id == bindparam("id", type_=String)
)
_INPUT_REFS = select(I.pk, I.id).where(
    I.app_pk == bindparam("app_pk", type_=Integer), I.id.in_(bindparam("ids", expanding=True, type_=String))
)

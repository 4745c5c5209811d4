"""Group commit: the write units of work that queue at once in one process share one transaction.

SQLite admits one writer at a time, so a server's write calls queue for the writer's turn
(:class:`~labeldesk.storage.engine.Database`). Each turn used to run one unit of work in its own
transaction: the turn passed between threads and processes, ``BEGIN IMMEDIATE``, a page cache made
cold by the other process's last commit, and a commit appending the same hot index pages to the
WAL again, per call. Under 32 labelers that overhead, not the work, set the queue's pace
(docs/performance.md, "Round 8").

:class:`WriteGroups` queues the units of work; the first caller to find no leader becomes the
leader, takes every unit queued so far as one *group* and hands it to ``run_group`` (one
transaction, one ``SAVEPOINT`` per unit when there are several), while the units that arrive
meanwhile queue for the next group. When the group is done the leader wakes its members and
passes the lead to the first unit that queued meanwhile, whose thread runs the next group.

What each caller sees is what it would see alone:

- its own answer or its own exception: a unit that fails is rolled back to its savepoint and the
  others commit; its after-commit effects are dropped with it;
- its after-commit effects, handed back to it once the group committed, to run on its own thread;
- when the group's transaction itself fails (its begin, a savepoint, its commit), no unit of it
  was written, and each unit runs again alone, so every caller gets its own
  answer or error, and the database's retry rules (:meth:`Database.run`) apply as before
  (:class:`RunAlone`);
- the units run in the order they queued, each seeing the writes of those before it, as if they
  had run one after the other.

A unit runs on the leader's thread in a copy of its caller's context (:mod:`contextvars`).
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection

R = TypeVar("R")


class RunAlone(Exception):
    """The group's transaction failed as a whole, so nothing of this unit was written: run it again
    in a transaction of its own."""


class Unit(Generic[R]):
    """One caller's unit of work, queued for a group."""

    __slots__ = ("_context", "_done", "_lead", "effects", "error", "result", "work")

    def __init__(self, work: Callable[[Connection], R]) -> None:
        self.work = work
        self._context = contextvars.copy_context()
        #: held (locked) while the unit waits for its leader, made only for a unit that waits: a bare
        #: lock, released once by the leader, costs a fraction of an Event's Condition
        self._done: threading.Lock | None = None
        self._lead = False
        #: after-commit effects the work registered (the caller runs them)
        self.effects: list[Callable[[], None]] = []
        self.result: R | None = None
        self.error: BaseException | None = None

    def run(self, conn: Connection) -> None:
        """Run the work on ``conn`` (on the leader's thread); its answer is kept, its exception raised."""
        self.result = self._context.run(self.work, conn)

    def failed(self, error: BaseException) -> None:
        """The work raised ``error`` (:class:`RunAlone`: its group failed as a whole): nothing of
        it stays."""
        self.error = error
        self.effects.clear()


class WriteGroups:
    """The queue of one process's write units; ``run_group(units)`` runs a group in one
    transaction and sets each unit's ``result`` or ``error`` (see the module doc)."""

    def __init__(self, run_group: Callable[[list[Unit[Any]]], None]) -> None:
        self._run_group = run_group
        self._mutex = threading.Lock()
        self._queued: list[Unit[Any]] = []
        self._leading = False

    def run(self, work: Callable[[Connection], R]) -> tuple[R, list[Callable[[], None]]]:
        """``work(conn)`` in a group's transaction: its answer and the after-commit effects it
        registered (for the caller to run), or its exception raised here. Raises
        :class:`RunAlone` when the group's transaction failed as a whole."""
        unit: Unit[R] = Unit(work)
        with self._mutex:
            self._queued.append(unit)
            lead = not self._leading
            self._leading = True
            if not lead:
                unit._done = threading.Lock()
                unit._done.acquire()
        if unit._done is not None:
            unit._done.acquire()  # released by the leader: done, or the lead passed to this unit
            if not unit._lead:
                return _outcome(unit)
        self._lead(unit)
        return _outcome(unit)

    def _lead(self, unit: Unit[Any]) -> None:
        with self._mutex:
            group, self._queued = self._queued, []
        try:
            self._run_group(group)
        except BaseException as e:  # the leader's own failure (e.g. interrupted): nobody was written
            for member in group:
                member.failed(RunAlone() if member is not unit else e)
            raise
        finally:
            with self._mutex:
                following = self._queued[0] if self._queued else None
                self._leading = following is not None
            for member in group:
                if member._done is not None and member is not unit:
                    member._done.release()
            if following is not None:
                assert following._done is not None  # it queued behind a leader
                following._lead = True
                following._done.release()


def _outcome(unit: Unit[R]) -> tuple[R, list[Callable[[], None]]]:
    if unit.error is not None:
        raise unit.error
    return unit.result, unit.effects  # type: ignore[return-value]  # set: no error

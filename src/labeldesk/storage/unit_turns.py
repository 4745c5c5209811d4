"""How many units of work one server process runs on PostgreSQL at once.

Every call of the API is a unit of work (``Database.run``) on its own pooled connection, and a
server has a thread per call in flight: with 32 labelers, 32 transactions at once per replica. On
a machine whose cores are fewer than that, the extra ones do not run sooner; they add PostgreSQL
backends and Python threads taking turns on the same cores, lock waits held across those turns,
and so more CPU per call and a long tail (two replicas on 2 cores, 32 labelers: PostgreSQL CPU
per submission 0.85-1.56 ms, LABEL_START p99 1.0-2.1 s; at most 4 at once per replica: 0.61 ms,
p99 0.14-0.35 s; docs/performance.md, round 12). :class:`UnitTurns` lets ``size`` units run at
once; the others wait for a turn in this process, before they take a connection. A unit of work
run inside another on the same thread (nested ``Database.run``) runs in its caller's turn, so it
cannot wait for itself. A unit that waits on something outside -- a model server, an image
fetched over HTTP -- gives its turn to another meanwhile (:func:`stepped_out`), so slow backends
never hold up the rest of the API. SQLite needs none of this: its writers take turns already
(storage/write_groups.py).

The transports' executors (transport/workers.py) take a call's turn *before* they hand it to a
thread (:meth:`UnitTurns.try_take`, then the thread runs the call :meth:`holding` it): a call that
finds no turn free waits in the executor's queue, not in a thread of its own, and a thread that
ends a call keeps its turn for the next queued one instead of giving it to a thread it must wake.
When each call's thread took its turn inside the call, the calls beyond the turns (12 of a
replica's 16 with 32 labelers on two replicas) each woke, took the interpreter lock, parsed and
slept again on the semaphore, and every turn given back woke one more: ~0.3 ms more of the
server's CPU per submission than with 8 labelers, and fewer submissions (docs/performance.md,
round 14). Whoever gives a turn back tells the executors
(:meth:`UnitTurns.when_freed`), so a queued call starts when a turn comes free anywhere; a thread
blocked in :meth:`UnitTurns.turn` (a call back from outside, a unit run by a background job)
goes before the queued calls (:meth:`UnitTurns.contended`). So a call holds its turn from its
start to its answer, outside its transaction too: whatever a call waits on outside the database,
in its transaction or not (a model server, an HTTP fetch, a remote blob store), it waits
:func:`stepped_out`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

#: the turns whose turn this thread holds (at most one)
_holder = threading.local()


class UnitTurns:
    def __init__(self, size: int, waited: Callable[[], None] = lambda: None) -> None:
        if size < 1:
            raise ValueError("at least one unit of work must be able to run")
        self._slots = threading.BoundedSemaphore(size)
        #: called when a unit has to wait for its turn (counted in /metrics)
        self.waited = waited
        #: threads blocked in :meth:`_take` (they go before the executors' queued calls)
        self._blocked = 0
        self._count = threading.Lock()
        #: told whenever a turn is given back (the executors start a queued call)
        self._freed: list[Callable[[], None]] = []

    @contextmanager
    def turn(self) -> Iterator[None]:
        """The block runs as one of at most ``size`` at once (nested blocks of a thread: in the
        outer block's turn)."""
        if getattr(_holder, "turns", None) is not None:
            yield
            return
        self._take()
        try:
            with self.holding():
                yield
        finally:
            self.give()

    def try_take(self) -> bool:
        """Take a turn if one is free now, for a call about to run on some thread (which runs it
        :meth:`holding` the turn, then gives it back with :meth:`give`)."""
        return self._slots.acquire(blocking=False)

    @contextmanager
    def holding(self) -> Iterator[None]:
        """The block runs in a turn this thread took already (its units of work run in it; it is
        still the thread's to give back after the block)."""
        _holder.turns = self
        try:
            yield
        finally:
            _holder.turns = None

    def give(self) -> None:
        """Give a turn back (a blocked :meth:`turn` gets it, or a queued call of an executor)."""
        self._slots.release()
        for freed in self._freed:
            freed()

    def contended(self) -> bool:
        """Whether a thread is waiting in :meth:`turn` for a turn (the executors then give turns
        back instead of keeping them for their queued calls)."""
        return self._blocked > 0

    def when_freed(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` after every turn given back (on the giving thread; it must not give
        a turn back itself)."""
        self._freed.append(listener)

    def _take(self) -> None:
        if self._slots.acquire(blocking=False):
            return
        self.waited()
        with self._count:
            self._blocked += 1
        try:
            self._slots.acquire()
        finally:
            with self._count:
                self._blocked -= 1


@contextmanager
def stepped_out() -> Iterator[None]:
    """While the block waits on something outside the database (a model server, an HTTP fetch),
    the thread's unit of work gives its turn to another; it takes one again after the block. No
    turn held (SQLite, or no unit of work on this thread): the block just runs."""
    turns: UnitTurns | None = getattr(_holder, "turns", None)
    if turns is None:
        yield
        return
    _holder.turns = None
    turns.give()
    try:
        yield
    finally:
        turns._take()
        _holder.turns = turns

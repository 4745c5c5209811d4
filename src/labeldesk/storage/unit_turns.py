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
        self._waited = waited

    @contextmanager
    def turn(self) -> Iterator[None]:
        """The block runs as one of at most ``size`` at once (nested blocks of a thread: in the
        outer block's turn)."""
        if getattr(_holder, "turns", None) is not None:
            yield
            return
        self._take()
        _holder.turns = self
        try:
            yield
        finally:
            _holder.turns = None
            self._give()

    def _take(self) -> None:
        if not self._slots.acquire(blocking=False):
            self._waited()
            self._slots.acquire()

    def _give(self) -> None:
        self._slots.release()


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
    turns._give()
    try:
        yield
    finally:
        turns._take()
        _holder.turns = turns

"""The threads both transports run calls in: an executor that hands each call to exactly one
idle thread, the one that went idle last.

``concurrent.futures.ThreadPoolExecutor`` puts calls on one queue that every idle thread waits
on, and starts another thread whenever none has *announced* itself idle yet, which is the case
after each call: gRPC sends the answer from inside the work item, so the client's next call
arrives before the thread that sent it is back at the queue. A single client therefore
alternates between threads, and each hand-off wakes the queue's waiters and passes the GIL
around several more times (strace: ~17 futex calls per call in the handler threads). Here
``submit`` gives the call straight to the most recently idle thread (its cache is warm) with one
wake-up, and queues it only when every thread is busy (docs/performance.md, transport). The REST
transport runs its calls here too (``loop.run_in_executor``).

Given the database's turns (PostgreSQL: at most N units of work at once per process,
storage/unit_turns.py), the executor hands a call to a thread only with a turn taken for it, and
otherwise queues it: a waiting call costs no thread, and a thread that ends a call keeps its turn
for the next queued one (no wake-up, its caches warm), unless a thread blocked outside the
executor is waiting for a turn, which then gets it. A call that steps out of its turn (a model
server's answer) lets a queued call start on another thread meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, Future
from functools import partial
from typing import Any, TypeVar

from labeldesk.storage.unit_turns import UnitTurns

log = logging.getLogger(__name__)
R = TypeVar("R")
#: a call: the future it answers (None from :meth:`HandOffExecutor.execute`: nobody waits),
#: the function and its arguments
_Item = tuple["Future[Any] | None", Callable[..., Any], tuple[Any, ...], dict[str, Any]]


class _Thread:
    __slots__ = ("item", "wake")

    def __init__(self, item: _Item | None) -> None:
        self.item = item
        #: held while the thread sleeps; ``submit`` releases it with the next call in ``item``
        self.wake = threading.Lock()
        self.wake.acquire()


class HandOffExecutor(Executor):
    """At most ``max_workers`` threads, started as calls need them and kept; idle threads form a
    stack (the last one to finish gets the next call). With ``turns``, a call runs only in a turn
    taken for it (see the module doc)."""

    def __init__(
        self, max_workers: int, thread_name_prefix: str = "worker", turns: UnitTurns | None = None
    ) -> None:
        if max_workers < 1:
            raise ValueError("max_workers must be at least 1")
        self._max = max_workers
        self._prefix = thread_name_prefix
        self._lock = threading.Lock()
        self._idle: list[_Thread] = []
        self._backlog: deque[_Item] = deque()
        self._threads: list[threading.Thread] = []
        self._shutdown = False
        self._turns = turns
        if turns is not None:
            turns.when_freed(self._turn_freed)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        self._hand_off((future, fn, args, kwargs))
        return future

    def execute(self, fn: Callable[[], object]) -> None:
        """Run ``fn()`` in a thread, with no future to answer (``fn`` reports its own outcome)."""
        self._hand_off((None, fn, (), {}))

    def _hand_off(self, item: _Item) -> None:
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot schedule new calls after shutdown")
            turns = self._turns
            if turns is None:
                if self._start(item):
                    return
            elif not self._backlog and self._admit(turns):  # behind the queued calls
                self._start(item)
                return
            else:
                turns.waited()
            self._backlog.append(item)

    def _admit(self, turns: UnitTurns) -> bool:
        """Whether a call may start now, its turn taken (under ``_lock``): a thread is free, no
        thread blocked for a turn goes first, and a turn is free."""
        thread_free = bool(self._idle) or len(self._threads) < self._max
        return thread_free and not turns.contended() and turns.try_take()

    def _start(self, item: _Item) -> bool:
        """Hand ``item`` to the last idle thread, or to a new one (under ``_lock``); False when
        every thread is busy."""
        if self._idle:
            worker = self._idle.pop()
            worker.item = item
            worker.wake.release()
        elif len(self._threads) < self._max:
            thread = threading.Thread(
                target=self._work,
                args=(_Thread(item),),
                name=f"{self._prefix}_{len(self._threads)}",
                daemon=True,
            )
            self._threads.append(thread)
            thread.start()
        else:
            return False
        return True

    def _turn_freed(self) -> None:
        """A turn was given back (by anyone): start the first queued call in it, unless a thread
        blocked for a turn gets it."""
        turns = self._turns
        assert turns is not None  # registered only with turns
        with self._lock:
            if self._backlog and self._admit(turns):
                self._start(self._backlog.popleft())

    def _work(self, me: _Thread) -> None:
        turns = self._turns
        item = me.item
        while item is not None:
            me.item = None
            if turns is None:
                _run(item)
            else:
                try:
                    with turns.holding():
                        _run(item)
                except BaseException:
                    turns.give()
                    raise
            del item
            with self._lock:
                # the turn this thread holds goes to the next queued call, unless a thread
                # blocked for one waits (then it is given back below)
                if self._backlog and (turns is None or not turns.contended()):
                    item = self._backlog.popleft()
                    continue
                stopping = self._shutdown
                if not stopping:
                    self._idle.append(me)
            if turns is not None:
                turns.give()  # outside the lock: the executors' listeners take it
            if stopping:
                return
            me.wake.acquire()
            item = me.item

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._shutdown = True
            if cancel_futures:
                for future, *_ in self._backlog:
                    if future is not None:
                        future.cancel()
                self._backlog.clear()
            for worker in self._idle:  # woken without a call: they end
                worker.wake.release()
            self._idle.clear()
            threads = list(self._threads)
        if wait:
            for thread in threads:
                thread.join()


def _run(item: _Item) -> None:
    future, fn, args, kwargs = item
    if future is None:
        try:
            fn()
        except Exception:  # nobody waits for it: say so, and keep the thread
            log.exception("a call run without a future failed")
        return
    if not future.set_running_or_notify_cancel():
        return
    try:
        result = fn(*args, **kwargs)
    except BaseException as e:
        future.set_exception(e)
    else:
        future.set_result(result)


def batch_scheduling() -> bool:
    """Put every thread of this process, and so every thread they start, under Linux's
    ``SCHED_BATCH`` policy (same CPU share; a woken thread does not preempt a running one).

    A call is handed between threads several times (gRPC's poller wakes a worker, the worker
    waits for the poller to deliver the message, SQLite's write lock passes to the next writer),
    and the waking thread holds the interpreter lock while it wakes the other: under the default
    policy the woken thread often preempts it at once, finds the lock taken and sleeps again —
    two more context switches per hand-off, more as calls overlap. The price: a woken thread also
    waits while *other* processes run, so on a busy machine calls take longer (docs/performance.md,
    transport; ``serve`` does this only with ``LABELDESK_SCHED_BATCH=1``). Answers whether the
    policy was set (False off Linux or when refused)."""
    setter = getattr(os, "sched_setscheduler", None)
    if setter is None or not os.path.isdir("/proc/self/task"):
        return False
    try:
        for tid in os.listdir("/proc/self/task"):
            with contextlib.suppress(ProcessLookupError):  # the thread ended meanwhile
                setter(int(tid), os.SCHED_BATCH, os.sched_param(0))
    except OSError:
        log.warning("cannot set the SCHED_BATCH scheduling policy; running with the default", exc_info=True)
        return False
    return True


async def run_in_thread(pool: HandOffExecutor, fn: Callable[[], R]) -> R:
    """``await loop.run_in_executor(pool, fn)`` without its ``concurrent.futures.Future`` and
    the callbacks that chain it to the loop's future (a tenth of a REST call's time on the event
    loop): the thread hands the outcome straight to the awaiting future."""
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[R] = loop.create_future()

    def work() -> None:
        try:
            settle = partial(_settle, waiter, fn(), None)
        except BaseException as e:
            settle = partial(_settle, waiter, None, e)
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody waits
            loop.call_soon_threadsafe(settle)

    pool.execute(work)
    return await waiter


def _settle(waiter: asyncio.Future[R], result: R | None, error: BaseException | None) -> None:
    if waiter.cancelled():  # the request was cancelled while the call ran
        return
    if error is not None:
        waiter.set_exception(error)
    else:
        waiter.set_result(result)  # type: ignore[arg-type]

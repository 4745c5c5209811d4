"""The transports' executor: every call runs once, in at most ``max_workers`` threads, the
most recently idle thread takes the next call, and shutdown ends the threads. Given the
database's turns, a call runs only in a turn taken for it: the others wait in its queue, a thread
keeps its turn for the next queued call, a call that steps out lends its turn, and threads blocked
for a turn go first."""

from __future__ import annotations

import asyncio
import threading

import pytest

from labeldesk.storage.unit_turns import UnitTurns, stepped_out
from labeldesk.transport.workers import HandOffExecutor, run_in_thread
from tests.unit.test_unit_turns import WAIT, _until


def test_results_and_exceptions_reach_the_futures() -> None:
    pool = HandOffExecutor(2)
    assert pool.submit(lambda a, b=0: a + b, 2, b=3).result(5) == 5
    failing = pool.submit(lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        failing.result(5)
    pool.shutdown()


def test_serial_calls_reuse_one_thread() -> None:
    pool = HandOffExecutor(8)
    names = set()
    for _ in range(50):
        names.add(pool.submit(lambda: threading.current_thread().name).result(5))
        # wait until the thread is back on the idle stack, as a client's next call would
        while not pool._idle:
            threading.Event().wait(0.001)
    assert len(names) == 1
    pool.shutdown()


def test_no_more_threads_than_max_and_every_call_runs_once() -> None:
    pool = HandOffExecutor(3)
    gate = threading.Event()
    running = []
    lock = threading.Lock()

    def work(n: int) -> int:
        with lock:
            running.append(threading.current_thread().name)
        gate.wait(5)
        return n

    futures = [pool.submit(work, n) for n in range(20)]
    while len(running) < 3:
        threading.Event().wait(0.001)
    assert len(pool._threads) == 3
    assert len(pool._backlog) == 17  # the rest wait for a thread
    gate.set()
    assert sorted(f.result(5) for f in futures) == list(range(20))
    assert len(set(running)) == 3
    pool.shutdown()
    assert not any(t.is_alive() for t in pool._threads)


def test_done_callbacks_run_and_shutdown_refuses_new_calls() -> None:
    pool = HandOffExecutor(1)
    done = threading.Event()
    pool.submit(lambda: None).add_done_callback(lambda _f: done.set())
    assert done.wait(5)
    pool.shutdown()
    with pytest.raises(RuntimeError):
        pool.submit(lambda: None)


def test_run_in_thread_answers_results_and_exceptions_on_the_loop() -> None:
    pool = HandOffExecutor(2)

    async def both() -> tuple[str, str]:
        name = await run_in_thread(pool, lambda: threading.current_thread().name)
        try:
            await run_in_thread(pool, lambda: 1 / 0)
        except ZeroDivisionError as e:
            return name, type(e).__name__
        return name, "no error"

    name, error = asyncio.run(both())
    assert name.startswith("worker") and error == "ZeroDivisionError"
    pool.shutdown()


def test_run_in_thread_cancelled_while_running_drops_the_answer() -> None:
    pool = HandOffExecutor(1)
    started, release = threading.Event(), threading.Event()

    def slow() -> int:
        started.set()
        release.wait(5)
        return 1

    async def cancel() -> bool:
        task = asyncio.ensure_future(run_in_thread(pool, slow))
        while not started.is_set():
            await asyncio.sleep(0.001)
        task.cancel()
        release.set()
        try:
            await task
        except asyncio.CancelledError:
            return True
        return False

    assert asyncio.run(cancel())
    pool.shutdown()


def test_a_failing_call_without_a_future_keeps_its_thread(caplog: pytest.LogCaptureFixture) -> None:
    pool = HandOffExecutor(1)
    pool.execute(lambda: 1 / 0)
    assert pool.submit(lambda: "still here").result(5) == "still here"
    assert len(pool._threads) == 1
    assert "without a future failed" in caplog.text
    pool.shutdown()


# --- with the database's turns (PostgreSQL: storage/unit_turns.py) ---


def test_with_turns_a_call_waits_for_one_in_the_queue_not_in_a_thread() -> None:
    waited: list[int] = []
    turns = UnitTurns(2, lambda: waited.append(1))
    pool = HandOffExecutor(8, turns=turns)
    release = threading.Event()
    running: list[int] = []

    def call(n: int) -> int:
        running.append(n)
        with turns.turn():  # its unit of work runs in the call's turn: would wait forever otherwise
            assert release.wait(WAIT)
        return n

    futures = [pool.submit(call, n) for n in range(6)]
    _until(lambda: len(running) == 2)
    assert (len(pool._threads), len(pool._backlog), len(waited)) == (2, 4, 4)
    release.set()
    assert [f.result(WAIT) for f in futures] == list(range(6))
    assert running == list(range(6))  # the queued calls ran in the order they came
    assert len(pool._threads) == 2
    _until(lambda: len(pool._idle) == 2)
    assert turns.try_take() and turns.try_take() and not turns.try_take()  # both given back
    pool.shutdown()


def test_a_thread_that_ends_a_call_runs_the_next_queued_one_in_its_turn() -> None:
    turns = UnitTurns(1)
    pool = HandOffExecutor(8, turns=turns)
    first_in, release = threading.Event(), threading.Event()

    def first() -> str:
        first_in.set()
        assert release.wait(WAIT)
        return threading.current_thread().name

    futures = [pool.submit(first)]
    assert first_in.wait(WAIT)
    futures += [pool.submit(lambda: threading.current_thread().name) for _ in range(5)]
    release.set()
    assert len({f.result(WAIT) for f in futures}) == 1  # no thread woken for the queued calls
    pool.shutdown()


def test_a_turn_given_back_outside_the_executor_starts_a_queued_call() -> None:
    turns = UnitTurns(1)
    pool = HandOffExecutor(4, turns=turns)
    with turns.turn():  # e.g. a background job's unit of work
        queued = pool.submit(lambda: "ran")
        assert not pool._threads and len(pool._backlog) == 1
    assert queued.result(WAIT) == "ran"
    pool.shutdown()


def test_a_call_stepped_out_lets_a_queued_one_run_and_gets_a_turn_back_before_the_queue() -> None:
    turns = UnitTurns(1)
    pool = HandOffExecutor(8, turns=turns)
    order: list[str] = []
    out, answer, b_in, b_done = threading.Event(), threading.Event(), threading.Event(), threading.Event()

    def a() -> None:
        with stepped_out():  # waits on a model server meanwhile
            out.set()
            assert answer.wait(WAIT)
        order.append("a back")

    def b() -> None:
        b_in.set()
        assert b_done.wait(WAIT)
        order.append("b")

    done = [pool.submit(a)]
    assert out.wait(WAIT)
    done.append(pool.submit(b))
    assert b_in.wait(WAIT), "the stepped-out call's turn went to the queued one"
    done.append(pool.submit(lambda: order.append("c")))
    answer.set()
    _until(turns.contended)  # a is back, waiting for a turn
    b_done.set()
    for f in done:
        f.result(WAIT)
    assert order == ["b", "a back", "c"]  # b's turn went to a, not to the queued c
    pool.shutdown()


def test_a_failing_call_gives_its_turn_back_and_shutdown_cancels_the_queue() -> None:
    turns = UnitTurns(1)
    pool = HandOffExecutor(2, turns=turns)
    with pytest.raises(ZeroDivisionError):
        pool.submit(lambda: 1 / 0).result(WAIT)
    assert pool.submit(lambda: "next").result(WAIT) == "next"
    release = threading.Event()
    blocking = pool.submit(release.wait, WAIT)
    _until(lambda: not pool._idle)
    queued = pool.submit(lambda: "never")
    pool.shutdown(wait=False, cancel_futures=True)
    release.set()
    assert blocking.result(WAIT) is True
    assert queued.cancelled()

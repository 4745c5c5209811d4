"""The transports' executor: every call runs once, in at most ``max_workers`` threads, the
most recently idle thread takes the next call, and shutdown ends the threads."""

from __future__ import annotations

import asyncio
import threading

import pytest

from labeldesk.transport.workers import HandOffExecutor, run_in_thread


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

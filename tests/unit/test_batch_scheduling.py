"""``serve`` can run its threads under SCHED_BATCH on Linux (transport/workers.py); off by default."""

from __future__ import annotations

import contextlib
import os
import sys
import threading

import pytest

from labeldesk.config import Settings
from labeldesk.transport.workers import batch_scheduling


def test_the_setting_is_off_by_default_and_1_turns_it_on() -> None:
    assert not Settings.from_env({}).sched_batch
    assert not Settings.from_env({"LABELDESK_SCHED_BATCH": "0"}).sched_batch
    assert Settings.from_env({"LABELDESK_SCHED_BATCH": "1"}).sched_batch
    assert Settings.from_env({"LABELDESK_SCHED_BATCH": "on"}).sched_batch


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SCHED_BATCH is Linux's")
def test_every_thread_and_the_threads_they_start_run_batch() -> None:
    policies: list[int] = []
    started = threading.Event()
    release = threading.Event()

    def before() -> None:  # a thread that already runs when the policy is set
        started.set()
        release.wait(10)
        policies.append(os.sched_getscheduler(0))

    early = threading.Thread(target=before)
    early.start()
    started.wait(10)
    previous = os.sched_getscheduler(0)
    try:
        assert batch_scheduling()
        release.set()
        early.join(10)
        later = threading.Thread(target=lambda: policies.append(os.sched_getscheduler(0)))
        later.start()
        later.join(10)
        assert policies == [os.SCHED_BATCH, os.SCHED_BATCH]
        assert os.sched_getscheduler(0) == os.SCHED_BATCH
    finally:  # leave the test process as it was (back to the default policy is always allowed)
        for tid in os.listdir("/proc/self/task"):
            with contextlib.suppress(ProcessLookupError):
                os.sched_setscheduler(int(tid), previous, os.sched_param(0))

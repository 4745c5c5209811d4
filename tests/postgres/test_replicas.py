"""Scale-out: two ``labeldesk serve`` replicas over one PostgreSQL behave as one server. Half of
32 labelers talk to each replica; every input still goes to exactly k distinct workers."""

from __future__ import annotations

import os
import threading
from typing import Any

import pytest

from labeldesk.app import RunningServer
from tests.api import test_queue_replicas as contention
from tests.api.test_queue_concurrency import WORKERS, Log, check_exact, labeler, new_stub
from tests.helpers import AppFixture

replica = contention.replica  # the second server (a fixture)
_dynamic_task = contention._dynamic_task

URL = os.environ.get("LABELDESK_TEST_DATABASE_URL", "")
pytestmark = pytest.mark.skipif(
    not URL.startswith("postgresql"), reason="needs LABELDESK_TEST_DATABASE_URL=postgresql…"
)


def test_two_replicas_hand_out_each_input_exactly_k_times(
    server: RunningServer, replica: RunningServer, app: AppFixture
) -> None:
    k = 2
    members = [app.new_user(f"rep{i}") for i in range(WORKERS)]
    # created through one replica, worked through both
    names = _dynamic_task(server, replica, app, [u for u, _ in members], 120, k)
    log = Log()
    barrier = threading.Barrier(WORKERS)

    def go(stub: Any, uid: str, meta: Any) -> None:
        barrier.wait()
        labeler(stub, app, "race", uid, meta, log)

    # Stubs are built here, one after another: clarifai-grpc picks a stub's response decoder from a
    # module global set by the channel created last, so building them in threads would race.
    stubs = [new_stub(server if i % 2 else replica, "grpc" if i % 4 < 2 else "rest") for i in range(WORKERS)]
    threads = [
        threading.Thread(target=go, args=(stubs[i], uid, meta)) for i, (uid, meta) in enumerate(members)
    ]
    for th in threads:
        th.start()
    for th in threads:
        th.join(300)
    assert not any(th.is_alive() for th in threads)
    check_exact(log, names, k)

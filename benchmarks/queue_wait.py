"""Where 32 labelers' LABEL_STARTs wait: the write lock, or the CPU (the interpreter lock)?

    python benchmarks/queue_wait.py [--workers 32] [--seconds 10] [--inputs 10000]

Builds a server in this process over a fresh SQLite file (no transport: the clients' own CPU
is the only extra cost), creates a DYNAMIC task and lets ``--workers`` threads loop
LABEL_START -> LABEL_SUBMIT through ``Dispatcher.call``. Every write transaction is timed where
it queues (the database's writer turn): how long the call waited for the write lock, and how
long it held it, both in wall time and in the holding thread's own CPU time. Also counts the SQL
statements per LABEL_START and per LABEL_SUBMIT (from a one-worker warm-up).

Reading the output: with one process, Python runs one thread at a time, so when the holder's
wall time in the write section is far above its own CPU time, the holder itself waited for the
interpreter lock (other threads' parsing, authentication and proto building ran meanwhile), and
the wait for the write lock is mostly other calls' CPU, not the database's.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api import service_pb2 as s
from google.protobuf import json_format
from profile_label_start import in_process, ok
from sqlalchemy import event
from work_queue import A

from labeldesk.storage.engine import Database

_local = threading.local()


class WriteTimes:
    """Wraps ``Database._writer_turn`` to time the wait for the write lock and the hold."""

    def __init__(self) -> None:
        self.wait: list[float] = []
        self.hold: list[float] = []
        self.hold_cpu: list[float] = []
        self.on = False
        self._lock = threading.Lock()

    def install(self) -> None:
        original = Database._writer_turn
        times = self

        @contextmanager
        def timed(db: Database) -> Iterator[None]:
            asked = time.perf_counter()
            with original(db):
                got, cpu = time.perf_counter(), time.thread_time()
                try:
                    yield
                finally:
                    if times.on:
                        with times._lock:
                            times.wait.append(got - asked)
                            times.hold.append(time.perf_counter() - got)
                            times.hold_cpu.append(time.thread_time() - cpu)

        Database._writer_turn = timed  # type: ignore[method-assign,assignment]


def pct(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))] * 1000 if values else 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--inputs", type=int, default=10_000)
    args = parser.parse_args(argv)
    times = WriteTimes()
    times.install()
    with tempfile.TemporaryDirectory() as tmp:
        server, app = in_process(tmp, args.inputs, args.workers)
        d = server.dispatcher
        statements: list[str] = []
        event.listen(server.db.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
        task = json_format.ParseDict(
            {
                "id": "wait",
                "concept_ids": ["cat"],
                "input_source": {"type": "ALL_INPUTS"},
                "worker": {"strategy": "DYNAMIC", "user_ids": [w for w, _ in app.workers]},
            },
            r.Task(),
        )
        ok(d.call("PostTasks", s.PostTasksRequest(user_app_id=app.uai, tasks=[task]), f"Key {app.owner_key}"))

        def put(pat: str, action: int, input_id: str = "") -> Any:
            req = s.PutTaskAssignmentsRequest(
                user_app_id=app.uai, task_id="wait", action=action, input_id=input_id
            )
            return ok(d.call("PutTaskAssignments", req, f"Key {pat}"))

        # queries per call, from a warm-up cycle of the first worker (its second cycle: no planning)
        pat0 = app.workers[0][1]
        for _ in range(2):
            statements.clear()
            got = put(pat0, A.LABEL_START).task_assignments
            per_start = len(statements)
            statements.clear()
            for a in got:
                put(pat0, A.LABEL_SUBMIT, a.input.id)
            per_submit = len(statements) / max(1, len(got))
        starts: list[float] = []
        submits = [0]
        stop = time.perf_counter() + args.seconds
        lock = threading.Lock()

        def work(pat: str) -> None:
            while time.perf_counter() < stop:
                began = time.perf_counter()
                got = put(pat, A.LABEL_START).task_assignments
                took = time.perf_counter() - began
                for a in got:
                    put(pat, A.LABEL_SUBMIT, a.input.id)
                with lock:
                    starts.append(took)
                    submits[0] += len(got)

        cpu0, wall0 = time.process_time(), time.perf_counter()
        times.on = True
        threads = [threading.Thread(target=work, args=(pat,)) for _, pat in app.workers]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        times.on = False
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        calls = len(times.hold)
        server.db.dispose()
    print(f"{args.workers} workers, {wall:.1f} s, {submits[0]} submissions ({submits[0] / wall:.0f}/s)")
    print(f"statements per LABEL_START {per_start}, per LABEL_SUBMIT {per_submit:.1f}")
    print(f"process CPU per write call {cpu / calls * 1000:.2f} ms ({calls} calls)")
    print(f"LABEL_START wall p50 {pct(starts, 0.5):.1f} ms, p99 {pct(starts, 0.99):.1f} ms")
    print(
        f"write lock: wait p50 {pct(times.wait, 0.5):.1f} ms p99 {pct(times.wait, 0.99):.1f} ms; "
        f"held p50 {pct(times.hold, 0.5):.2f} ms (holder's own CPU p50 {pct(times.hold_cpu, 0.5):.2f} ms, "
        f"mean {statistics.fmean(times.hold_cpu) * 1000:.2f} ms); "
        f"lock busy {sum(times.hold) / wall * 100:.0f} % of the time"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

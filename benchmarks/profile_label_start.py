"""Where a LABEL_START spends its CPU: the server's own path, in process, without a transport.

    python benchmarks/profile_label_start.py [--calls 300] [--profile out.html]

Seeds a fresh SQLite app with 10k inputs (as benchmarks/work_queue.py does), creates a DYNAMIC
(or ``--strategy PARTITIONED`` EVENLY, over ``--task-workers`` workers) task with one worker per
input, and lets the first worker loop LABEL_START -> LABEL_SUBMIT through
``Dispatcher.call`` (authentication, transaction, handler and proto building, no gRPC). Prints
the CPU time (``time.process_time``, which a loaded machine distorts far less than wall time) per
LABEL_START and per LABEL_SUBMIT; ``--profile`` also writes a pyinstrument flame graph of the
LABEL_START calls (``pip install pyinstrument``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api import service_pb2 as s
from clarifai_grpc.grpc.api.status import status_code_pb2 as sc
from google.protobuf import json_format
from work_queue import A, App, seed

from labeldesk.app import Labeldesk, build
from labeldesk.storage.engine import Database
from labeldesk.storage.migrate import migrate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=300, help="LABEL_START calls to time")
    parser.add_argument("--strategy", choices=("DYNAMIC", "PARTITIONED"), default="DYNAMIC")
    parser.add_argument(
        "--task-workers",
        type=int,
        default=1,
        help="workers of the task (PARTITIONED: its planning batch grows with them)",
    )
    parser.add_argument("--profile", help="write a pyinstrument HTML flame graph of LABEL_START here")
    parser.add_argument(
        "--profile-submit", action="store_true", help="profile the LABEL_SUBMIT calls instead of LABEL_START"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        server, app = in_process(tmp, 10_000, args.task_workers)
        d = server.dispatcher
        post_dynamic_task(d, app, "profile", [w for w, _ in app.workers], args.strategy)

        put = label_call(d, app, "profile")

        profiler: Any = None
        if args.profile:
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.0002)
        starts, submits = timed_loop(put, args.calls, profiler, args.profile_submit)
        if profiler is not None:
            with open(args.profile, "w") as f:
                f.write(profiler.output_html())
            print(profiler.output_text(unicode=False, color=False, show_all=False), file=sys.stderr)
        server.db.dispose()
    print(
        f"CPU per LABEL_START: median {statistics.median(starts) * 1000:.2f} ms, "
        f"mean {statistics.fmean(starts) * 1000:.2f} ms "
        f"(p99 {sorted(starts)[int(0.99 * len(starts))] * 1000:.2f} ms, {len(starts)} calls); "
        f"per LABEL_SUBMIT: median {statistics.median(submits) * 1000:.2f} ms, "
        f"mean {statistics.fmean(submits) * 1000:.2f} ms ({len(submits)} calls)"
    )
    return 0


def in_process(
    tmp: str, n_inputs: int, n_workers: int = 1, database_url: str | None = None
) -> tuple[Labeldesk, App]:
    """A server built in this process (no transport started) over a fresh SQLite file in
    ``tmp`` (or the database at ``database_url``: a new app there), with an app of ``n_inputs``
    inputs and ``n_workers`` workers."""
    url = database_url or f"sqlite:///{os.path.join(tmp, 'profile.db')}"
    db = Database(url)
    migrate(db)
    app = seed(db, n_inputs, n_workers, lambda m: print(m, file=sys.stderr))
    db.dispose()
    return build(url), app


def post_dynamic_task(d: Any, app: App, task_id: str, workers: list[str], strategy: str = "DYNAMIC") -> None:
    """A task (DYNAMIC, or PARTITIONED EVENLY) over all of ``app``'s inputs for ``workers``, one
    worker per input, posted through dispatcher ``d``."""
    task = json_format.ParseDict(
        {
            "id": task_id,
            "concept_ids": ["cat"],
            "input_source": {"type": "ALL_INPUTS"},
            "worker": {
                "strategy": strategy,
                "user_ids": workers,
                "partitioned_strategy_info": {"workers_per_input": 1}
                | ({"type": "EVENLY"} if strategy == "PARTITIONED" else {}),
            },
        },
        r.Task(),
    )
    ok(d.call("PostTasks", s.PostTasksRequest(user_app_id=app.uai, tasks=[task]), f"Key {app.owner_key}"))


def label_call(d: Any, app: App, task_id: str) -> Callable[..., Any]:
    """``put(action, input_id="")``: PutTaskAssignments on ``task_id`` as the app's first worker."""
    _worker, pat = app.workers[0]

    def put(action: int, input_id: str = "") -> Any:
        req = s.PutTaskAssignmentsRequest(
            user_app_id=app.uai, task_id=task_id, action=action, input_id=input_id
        )
        return ok(d.call("PutTaskAssignments", req, f"Key {pat}"))

    return put


def ok(resp: Any) -> Any:
    if resp.status.code != sc.SUCCESS:
        raise RuntimeError(f"request failed: {resp.status}")
    return resp


def timed_loop(
    put: Callable[..., Any], calls: int, profiler: Any, profile_submit: bool = False
) -> tuple[list[float], list[float]]:
    starts: list[float] = []
    submits: list[float] = []
    on = profiler if profiler is not None else nullcontext()
    start_ctx: AbstractContextManager[Any] = nullcontext() if profile_submit else on
    submit_ctx: AbstractContextManager[Any] = on if profile_submit else nullcontext()
    for _ in range(calls):
        began = time.process_time()
        with start_ctx:
            got = put(A.LABEL_START).task_assignments
        starts.append(time.process_time() - began)
        for a in got:
            began = time.process_time()
            with submit_ctx:
                put(A.LABEL_SUBMIT, a.input.id)
            submits.append(time.process_time() - began)
    return starts, submits


if __name__ == "__main__":
    raise SystemExit(main())

"""CPU cost of the batched writes, in process without a transport, or through gRPC.

    python benchmarks/profile_writes.py [--requests 20] [--profile /tmp/writes.html] [--database-url URL]
    python benchmarks/profile_writes.py --grpc [--requests 50] [--py-spy /tmp/writes.svg]

Seeds a fresh SQLite app (``--database-url``: a new app in that database), then sends
``--requests`` PostInputs of 128 inputs each, as many PostAnnotations of 128 annotations each
(the shape benchmarks/annotations.py posts: two concepts and a bounding box with a concept) and
128 PostAnnotations of one annotation each, all through
``Dispatcher.call`` (authentication, transaction, handler, answer; no transport). Prints the
server's CPU time (``time.process_time``) per request and the rows per CPU-second it implies.
``--profile`` writes a pyinstrument flame graph of all the calls (``pip install pyinstrument``)
and prints its text form.

``--grpc`` measures the same PostInputs and PostAnnotations (128 per request) end to end instead:
``labeldesk serve`` as a subprocess, the official client over gRPC, one request at a time, and
prints the server process's CPU per row (from ``/proc``) and the rate; ``--py-spy`` records the
server meanwhile, the thread holding the GIL (``pip install py-spy``; an SVG flame graph,
speedscope JSON for ``.json``, collapsed stacks for ``.txt``).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from functools import partial
from typing import Any

from annotations import Target, _annotation, prepare_app, reusable_inputs_request, serve
from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api import service_pb2 as s
from profile_label_start import in_process, ok

from labeldesk.storage.engine import Database
from labeldesk.storage.migrate import migrate

BATCH = 128
IMG = "https://samples.clarifai.com/metro-north.jpg"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument(
        "--database-url", help="in process: a PostgreSQL (or other) database instead of a fresh SQLite file"
    )
    parser.add_argument("--profile", help="write a pyinstrument HTML flame graph here")
    parser.add_argument("--grpc", action="store_true", help="end to end through a real server, gRPC")
    parser.add_argument(
        "--varied", action="store_true", help="every annotation's box differs (no two data alike)"
    )
    parser.add_argument("--py-spy", dest="py_spy", help="with --grpc: py-spy record the server to this file")
    args = parser.parse_args(argv)
    make = _varied if args.varied else _annotation
    if args.grpc:
        return through_grpc(args.requests, args.py_spy, make)
    profiler: Any = None
    if args.profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0002)
    cpu: dict[str, list[float]] = {
        name: [] for name in ("PostInputs x128", "PostAnnotations x128", "PostAnnotations x1")
    }
    with tempfile.TemporaryDirectory() as tmp:
        server, app = in_process(tmp, 1_000, database_url=args.database_url)
        d, key = server.dispatcher, f"Key {app.owner_key}"
        ok(d.call("PostConcepts", s.PostConceptsRequest(user_app_id=app.uai, concepts=_concepts()), key))

        def timed(name: str, rpc: str, req: Any) -> None:
            ctx: AbstractContextManager[Any] = profiler if profiler is not None else nullcontext()
            began = time.process_time()
            with ctx:
                ok(d.call(rpc, req, key))
            cpu[name].append(time.process_time() - began)

        for n in range(args.requests):
            ids = [f"w-{uuid.uuid4().hex}" for _ in range(BATCH)]
            inputs = [r.Input(id=i, data=r.Data(image=r.Image(url=IMG))) for i in ids]
            timed("PostInputs x128", "PostInputs", s.PostInputsRequest(user_app_id=app.uai, inputs=inputs))
            anns = [make(n * BATCH + i) for i in range(BATCH)]
            req = s.PostAnnotationsRequest(user_app_id=app.uai, annotations=anns)
            timed("PostAnnotations x128", "PostAnnotations", req)
        for i in range(BATCH):
            req = s.PostAnnotationsRequest(user_app_id=app.uai, annotations=[make(i)])
            timed("PostAnnotations x1", "PostAnnotations", req)
        server.db.dispose()
    if profiler is not None:
        with open(args.profile, "w") as f:
            f.write(profiler.output_html())
        print(profiler.output_text(unicode=False, color=False, show_all=False), file=sys.stderr)
    report(cpu, print)
    return 0


def through_grpc(requests: int, py_spy: str | None, make: Callable[[int], r.Annotation]) -> int:
    """PostInputs and PostAnnotations of 128, ``requests`` of each, through a real server."""
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{os.path.join(tmp, 'writes.db')}"
        db = Database(url)
        migrate(db)
        user_id, app_id, key = prepare_app(db, 0)
        db.dispose()
        with serve(url) as server:
            target = Target(user_id, app_id, key, server.base_url, server.grpc_port, 0)
            stub, meta = target.stub("grpc"), target.meta
            spy = _py_spy(server.pid, py_spy) if py_spy else None
            try:
                posts = (
                    ("PostInputs x128", _post_inputs),
                    ("PostAnnotations x128", partial(_post_anns, make)),
                )
                for name, post in posts:
                    post(stub, meta, 3)  # warm-up
                    cpu, began = server.cpu_seconds() or 0.0, time.perf_counter()
                    client = time.process_time()
                    post(stub, meta, requests)
                    wall, cpu = time.perf_counter() - began, (server.cpu_seconds() or 0.0) - cpu
                    client = time.process_time() - client
                    rows = requests * BATCH
                    print(
                        f"{name} over gRPC: {cpu / rows * 1e6:,.1f} µs server CPU per row "
                        f"(client {client / rows * 1e6:,.1f}), {rows / wall:,.0f} rows/s "
                        f"({requests} requests, load {os.getloadavg()[0]:.1f})"
                    )
            finally:
                if spy is not None:
                    spy.send_signal(signal.SIGINT)
                    spy.wait()
    return 0


def _py_spy(pid: int, out: str) -> subprocess.Popen[bytes]:
    fmt = {".json": ["--format", "speedscope"], ".txt": ["--format", "raw"]}.get(os.path.splitext(out)[1], [])
    cmd = ["py-spy", "record", "--pid", str(pid), "--rate", "250", "--gil", "--output", out, *fmt]
    spy = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # let it attach
    return spy


def _post_inputs(stub: Any, meta: Any, n: int) -> None:
    fresh = reusable_inputs_request(BATCH, IMG)
    for _ in range(n):
        ok(stub.PostInputs(fresh(), metadata=meta))


def _post_anns(make: Callable[[int], r.Annotation], stub: Any, meta: Any, n: int) -> None:
    req = s.PostAnnotationsRequest(annotations=[make(i) for i in range(BATCH)])
    for _ in range(n):
        ok(stub.PostAnnotations(req, metadata=meta))


def _varied(n: int) -> r.Annotation:
    """benchmarks/annotations.py's annotation with a box of its own (so no two data of a
    request are alike)."""
    a = _annotation(n)
    box = a.data.regions[0].region_info.bounding_box
    box.top_row, box.left_col = 0.1 + (n % 97) / 1000, 0.2 + (n // 97 % 89) / 1000
    return a


def _concepts() -> list[r.Concept]:
    return [r.Concept(id=c, name=c) for c in ("tree", "car", "dog")]


def report(cpu: dict[str, list[float]], out: Callable[[str], None]) -> None:
    for name, times in cpu.items():
        med, least, mean = statistics.median(times), min(times), statistics.fmean(times)
        rows = int(name.rsplit("x", 1)[1])
        out(
            f"{name}: median {med * 1000:.2f} ms CPU per request, {med / rows * 1e6:,.0f} µs per row, "
            f"{rows / med:,.0f} rows/CPU-s (least {least / rows * 1e6:,.0f}, mean "
            f"{mean / rows * 1e6:,.0f} µs per row)"
        )


if __name__ == "__main__":
    raise SystemExit(main())

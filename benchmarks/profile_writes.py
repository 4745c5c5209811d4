"""CPU cost of the batched writes, in process, without a transport.

    python benchmarks/profile_writes.py [--requests 20] [--profile /tmp/writes.html]

Seeds a fresh SQLite app, then sends ``--requests`` PostInputs of 128 inputs each, as many
PostAnnotations of 128 annotations each (the shape benchmarks/annotations.py posts: two concepts
and a bounding box with a concept) and 128 PostAnnotations of one annotation each, all through
``Dispatcher.call`` (authentication, transaction, handler, answer; no transport). Prints the
server's CPU time (``time.process_time``) per request and the rows per CPU-second it implies.
``--profile`` writes a pyinstrument flame graph of all the calls (``pip install pyinstrument``)
and prints its text form.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from annotations import _annotation
from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api import service_pb2 as s
from profile_label_start import in_process, ok

BATCH = 128
IMG = "https://samples.clarifai.com/metro-north.jpg"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--profile", help="write a pyinstrument HTML flame graph here")
    args = parser.parse_args(argv)
    profiler: Any = None
    if args.profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0002)
    cpu: dict[str, list[float]] = {
        name: [] for name in ("PostInputs x128", "PostAnnotations x128", "PostAnnotations x1")
    }
    with tempfile.TemporaryDirectory() as tmp:
        server, app = in_process(tmp, 1_000)
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
            anns = [_annotation(n * BATCH + i) for i in range(BATCH)]
            req = s.PostAnnotationsRequest(user_app_id=app.uai, annotations=anns)
            timed("PostAnnotations x128", "PostAnnotations", req)
        for i in range(BATCH):
            req = s.PostAnnotationsRequest(user_app_id=app.uai, annotations=[_annotation(i)])
            timed("PostAnnotations x1", "PostAnnotations", req)
        server.db.dispose()
    if profiler is not None:
        with open(args.profile, "w") as f:
            f.write(profiler.output_html())
        print(profiler.output_text(unicode=False, color=False, show_all=False), file=sys.stderr)
    report(cpu, print)
    return 0


def _concepts() -> list[r.Concept]:
    return [r.Concept(id=c, name=c) for c in ("tree", "car", "dog")]


def report(cpu: dict[str, list[float]], out: Callable[[str], None]) -> None:
    for name, times in cpu.items():
        med, least = statistics.median(times), min(times)
        rows = int(name.rsplit("x", 1)[1])
        out(
            f"{name}: median {med * 1000:.2f} ms CPU per request, {med / rows * 1e6:,.0f} µs per row, "
            f"{rows / med:,.0f} rows/CPU-s (least {least / rows * 1e6:,.0f} µs per row)"
        )


if __name__ == "__main__":
    raise SystemExit(main())

"""CPU cost of the batched writes, in process, without a transport.

    python benchmarks/profile_writes.py [--requests 20]

Seeds a fresh SQLite app, then sends ``--requests`` PostInputs of 128 inputs each and as many
PostAnnotations of 128 annotations each through ``Dispatcher.call``; prints the server's CPU time
(``time.process_time``) per request and the rows per CPU-second it implies.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid

from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api import service_pb2 as s
from profile_label_start import in_process, ok

BATCH = 128
IMG = "https://samples.clarifai.com/metro-north.jpg"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        server, app = in_process(tmp, 1_000)
        d, key = server.dispatcher, f"Key {app.owner_key}"
        inputs_cpu, anns_cpu = [], []
        for _ in range(args.requests):
            ids = [f"w-{uuid.uuid4().hex}" for _ in range(BATCH)]
            req = s.PostInputsRequest(
                user_app_id=app.uai, inputs=[r.Input(id=i, data=r.Data(image=r.Image(url=IMG))) for i in ids]
            )
            began = time.process_time()
            ok(d.call("PostInputs", req, key))
            inputs_cpu.append(time.process_time() - began)
            concept = r.Data(concepts=[r.Concept(id="cat", value=1.0)])
            areq = s.PostAnnotationsRequest(
                user_app_id=app.uai, annotations=[r.Annotation(input_id=i, data=concept) for i in ids]
            )
            began = time.process_time()
            ok(d.call("PostAnnotations", areq, key))
            anns_cpu.append(time.process_time() - began)
        server.db.dispose()
    for name, cpu in (("PostInputs", inputs_cpu), ("PostAnnotations", anns_cpu)):
        med = statistics.median(cpu)
        print(f"{name} x{BATCH}: median {med * 1000:.1f} ms CPU per request, {BATCH / med:,.0f} rows/CPU-s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

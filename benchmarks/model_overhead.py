"""Overhead of labeldesk's PostModelOutputs over calling a model server directly.

    python benchmarks/model_overhead.py [--infer-ms 20] [--rounds 30]

Starts an Open Inference Protocol server (stdlib ``http.server`` in a thread) that decodes every image
and then takes ``--infer-ms`` per image (a small CNN on a CPU), and labeldesk (SQLite in a temporary
directory) with a model bound to it. It times the same batch of 1 and of 32 PNG images (256 x 256)
sent (a) straight to the model server's ``/v2/models/{name}/infer`` and (b) to labeldesk's
PostModelOutputs over REST, which reads the bytes, calls the same server and answers Clarifai outputs.
Prints median milliseconds per call and labeldesk's overhead in percent.
"""

from __future__ import annotations

import argparse
import base64
import statistics
import tempfile
import threading
import time
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import cv2
import numpy as np
import orjson
import requests
from clarifai_grpc.channel.clarifai_channel import ClarifaiChannel
from clarifai_grpc.grpc.api import resources_pb2, service_pb2, service_pb2_grpc

from labeldesk.app import RunningServer, build
from labeldesk.config import Settings
from labeldesk.services import admin


def oip_server(infer_ms: float) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = orjson.loads(self.rfile.read(int(self.headers["Content-Length"])))
            data = body["inputs"][0]["data"]
            for b64 in data:
                cv2.imdecode(np.frombuffer(base64.b64decode(b64), np.uint8), cv2.IMREAD_COLOR)
            time.sleep(infer_ms * len(data) / 1000)
            n = len(data)
            out = {
                "outputs": [{"name": "scores", "datatype": "FP32", "shape": [n, 2], "data": [0.9, 0.1] * n}]
            }
            raw = orjson.dumps(out)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def image(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    ok, png = cv2.imencode(".png", rng.integers(0, 255, (256, 256, 3), np.uint8))
    assert ok
    return bytes(png)


def timed(fn: Any, rounds: int) -> float:
    fn()  # warm up
    samples = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--infer-ms", type=float, default=20.0, help="model time per image (default 20)")
    ap.add_argument("--rounds", type=int, default=30)
    args = ap.parse_args()
    oip = oip_server(args.infer_ms)
    oip_url = f"http://127.0.0.1:{oip.server_address[1]}"
    with tempfile.TemporaryDirectory() as d:
        settings = replace(Settings.from_env(), blob_dir=f"{d}/blobs")
        server = RunningServer(build(f"sqlite:///{d}/bench.db", settings=settings), "127.0.0.1", 0, 0).start()
        try:
            pat = admin.create_user(server.app.db, "bench", "bench@example.com")
            admin.create_app(server.app.db, "bench", "bench")
            headers = {"Authorization": f"Key {pat}"}
            json_headers = {**headers, "Content-Type": "application/json"}
            base = f"{server.base_url}/v2/users/bench/apps/bench"
            model = {
                "id": "clf",
                "metadata": {"labeldesk": {"backend": "oip", "url": oip_url, "model_name": "clf"}},
                "output_info": {"data": {"concepts": [{"id": "a"}, {"id": "b"}]}},
            }
            requests.post(
                f"{base}/models", json={"models": [model]}, headers=headers, timeout=30
            ).raise_for_status()
            session = requests.Session()
            print(f"model time {args.infer_ms:g} ms per image; median of {args.rounds} calls")
            stub = service_pb2_grpc.V2Stub(
                ClarifaiChannel.get_insecure_grpc_channel(base="127.0.0.1", port=server.grpc_port)
            )
            meta = (("authorization", f"Key {pat}"),)
            uai = resources_pb2.UserAppIDSet(user_id="bench", app_id="bench")
            print(f"{'batch':>5} | {'direct ms':>9} | {'REST ms':>8} | {'gRPC ms':>8} | overhead REST, gRPC")
            for batch in (1, 32):
                imgs = [base64.b64encode(image(i)).decode() for i in range(batch)]
                direct_body = {
                    "inputs": [{"name": "image", "shape": [batch], "datatype": "BYTES", "data": imgs}]
                }
                ld_body = {"inputs": [{"data": {"image": {"base64": b}}} for b in imgs]}

                raw_direct, raw_ld = orjson.dumps(direct_body), orjson.dumps(ld_body)

                def direct(body: bytes = raw_direct) -> None:
                    r = session.post(
                        f"{oip_url}/v2/models/clf/infer", data=body, headers=json_headers, timeout=60
                    )
                    r.raise_for_status()
                    orjson.loads(r.content)

                def via(body: bytes = raw_ld) -> None:
                    r = session.post(
                        f"{base}/models/clf/outputs", data=body, headers=json_headers, timeout=60
                    )
                    assert orjson.loads(r.content)["status"]["code"] == 10000, r.text

                grpc_req = service_pb2.PostModelOutputsRequest(
                    user_app_id=uai,
                    model_id="clf",
                    inputs=[
                        resources_pb2.Input(
                            data=resources_pb2.Data(image=resources_pb2.Image(base64=base64.b64decode(b)))
                        )
                        for b in imgs
                    ],
                )

                def via_grpc(req: Any = grpc_req) -> None:
                    assert stub.PostModelOutputs(req, metadata=meta).status.code == 10000

                a, b, c = timed(direct, args.rounds), timed(via, args.rounds), timed(via_grpc, args.rounds)
                print(
                    f"{batch:>5} | {a:>9.1f} | {b:>8.1f} | {c:>8.1f} | "
                    f"{100 * (b - a) / a:+.1f} %, {100 * (c - a) / a:+.1f} %"
                )
        finally:
            server.stop()
            oip.shutdown()


if __name__ == "__main__":
    main()

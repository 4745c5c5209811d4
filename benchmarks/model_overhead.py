"""Overhead of labeldesk's PostModelOutputs over calling a model server directly.

    python benchmarks/model_overhead.py [--infer-ms 20] [--rounds 30]

Three processes: an Open Inference Protocol server (stdlib ``http.server``) that decodes every image
and then takes ``--infer-ms`` per image (a small CNN on a CPU); ``labeldesk serve`` (SQLite in a
temporary directory) with a model bound to it; and this client. It sends the same batch of 1 and of
32 PNG images (256 x 256) (a) straight to the model server's ``/v2/models/{name}/infer`` and (b) to
labeldesk's PostModelOutputs over REST and over gRPC, which read the bytes, call the same server and
answer Clarifai outputs.

Printed per batch size: the median wall milliseconds per call, and the CPU milliseconds per call the
labeldesk server process spent (user + system of all its threads, from ``psutil``, less its idle
rate measured first). Wall overhead is ``(via - direct) / direct``; on a shared machine it is noise,
so the CPU overhead is printed beside it: labeldesk's CPU per call over the direct call's time on a
quiet machine (``infer-ms x batch`` plus the model server's own CPU per call) -- the time labeldesk
adds when it has a core to itself.
"""

from __future__ import annotations

import argparse
import base64
import multiprocessing as mp
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import cv2
import numpy as np
import orjson
import psutil
import requests
from clarifai_grpc.channel.clarifai_channel import ClarifaiChannel
from clarifai_grpc.grpc.api import resources_pb2, service_pb2, service_pb2_grpc

from labeldesk.services import admin
from labeldesk.storage.engine import Database
from labeldesk.storage.migrate import migrate

LISTENING = re.compile(r"listening: REST https?://[^:]+:(\d+)\s+gRPC\S* [^:]+:(\d+)")


def serve_oip(infer_ms: float, ports: Any) -> None:
    """The model server (its own process): decode each image, then sleep ``infer_ms`` per image."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as Triton and KServe answer

        def setup(self) -> None:
            super().setup()  # no Nagle delay between the header and body writes (as real servers)
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

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
    httpd.daemon_threads = True
    ports.put(httpd.server_address[1])
    httpd.serve_forever()


def start_labeldesk(url: str, cwd: str) -> tuple[subprocess.Popen[str], int, int]:
    cli = ["-m", "labeldesk.cli", "serve", "--database-url", url, "--host", "127.0.0.1"]
    cli += ["--http-port", "0", "--grpc-port", "0"]
    proc = subprocess.Popen(
        [sys.executable, *cli], cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        found = LISTENING.search(line)
        if found:
            threading.Thread(target=proc.stderr.read, daemon=True).start()  # keep draining
            return proc, int(found[1]), int(found[2])
    raise SystemExit("labeldesk did not start")


def image(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    ok, png = cv2.imencode(".png", rng.integers(0, 255, (256, 256, 3), np.uint8))
    assert ok
    return bytes(png)


def cpu_s(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return float(t.user + t.system)


def idle_cpu_rate(proc: psutil.Process, seconds: float = 2.0) -> float:
    """CPU seconds per second ``proc`` spends doing nothing asked (job polling, maintenance)."""
    cpu0, t0 = cpu_s(proc), time.perf_counter()
    time.sleep(seconds)
    return (cpu_s(proc) - cpu0) / (time.perf_counter() - t0)


def timed(
    fn: Callable[[], None], rounds: int, proc: psutil.Process, idle: float = 0.0
) -> tuple[float, float]:
    """(median wall ms per call, ``proc``'s CPU ms per call less its ``idle`` rate)."""
    fn()  # warm up
    samples = []
    cpu0, start = cpu_s(proc), time.perf_counter()
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    busy = cpu_s(proc) - cpu0 - idle * (time.perf_counter() - start)
    return statistics.median(samples), max(0.0, busy) * 1000 / rounds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--infer-ms", type=float, default=20.0, help="model time per image (default 20)")
    ap.add_argument("--rounds", type=int, default=30)
    args = ap.parse_args()
    ports: Any = mp.get_context("spawn").Queue()
    oip = mp.get_context("spawn").Process(target=serve_oip, args=(args.infer_ms, ports), daemon=True)
    oip.start()
    oip_url = f"http://127.0.0.1:{ports.get(timeout=60)}"
    model_proc = psutil.Process(oip.pid)
    with tempfile.TemporaryDirectory() as d:
        url = f"sqlite:///{d}/bench.db"
        db = Database(url)
        migrate(db)
        pat = admin.create_user(db, "bench", "bench@example.com")
        admin.create_app(db, "bench", "bench")
        db.dispose()
        server, http_port, grpc_port = start_labeldesk(url, d)
        try:
            run(args, oip_url, pat, http_port, grpc_port, psutil.Process(server.pid), model_proc)
        finally:
            server.terminate()
            server.wait(60)
            oip.terminate()


def run(
    args: Any,
    oip_url: str,
    pat: str,
    http_port: int,
    grpc_port: int,
    server: psutil.Process,
    model_proc: psutil.Process,
) -> None:
    headers = {"Authorization": f"Key {pat}", "Content-Type": "application/json"}
    base = f"http://127.0.0.1:{http_port}/v2/users/bench/apps/bench"
    model = {
        "id": "clf",
        "metadata": {"labeldesk": {"backend": "oip", "url": oip_url, "model_name": "clf"}},
        "output_info": {"data": {"concepts": [{"id": "a"}, {"id": "b"}]}},
    }
    requests.post(f"{base}/models", json={"models": [model]}, headers=headers, timeout=30).raise_for_status()
    session = requests.Session()
    stub = service_pb2_grpc.V2Stub(
        ClarifaiChannel.get_insecure_grpc_channel(base="127.0.0.1", port=grpc_port)
    )
    meta = (("authorization", f"Key {pat}"),)
    uai = resources_pb2.UserAppIDSet(user_id="bench", app_id="bench")
    idle = idle_cpu_rate(server)
    print(f"model time {args.infer_ms:g} ms per image; median wall of {args.rounds} calls; CPU ms per call")
    print(
        f"labeldesk idle CPU {1000 * idle:.1f} ms/s (subtracted); CPU overhead = labeldesk CPU / quiet direct"
    )
    print(
        f"{'batch':>5} | {'direct ms':>9} | {'model CPU':>9} | {'REST ms':>8} | {'REST CPU':>8} | "
        f"{'gRPC ms':>8} | {'gRPC CPU':>8} | overhead wall REST, gRPC | overhead CPU REST, gRPC"
    )
    _, floor_rest = timed(
        lambda: session.get(f"{base}/models/clf", headers=headers, timeout=60).raise_for_status(),
        args.rounds,
        server,
        idle,
    )
    get_model = service_pb2.GetModelRequest(user_app_id=uai, model_id="clf")
    _, floor_grpc = timed(
        lambda: ok_status(stub.GetModel(get_model, metadata=meta)), args.rounds, server, idle
    )
    for batch in (1, 32):
        imgs = [base64.b64encode(image(i)).decode() for i in range(batch)]
        raw_direct = orjson.dumps(
            {
                "inputs": [
                    {
                        "name": "image",
                        "shape": [batch],
                        "datatype": "BYTES",
                        "parameters": {"content_type": "base64"},
                        "data": imgs,
                    }
                ]
            }
        )
        raw_ld = orjson.dumps({"inputs": [{"data": {"image": {"base64": b}}} for b in imgs]})

        def direct(body: bytes = raw_direct) -> None:
            r = session.post(f"{oip_url}/v2/models/clf/infer", data=body, headers=headers, timeout=60)
            r.raise_for_status()
            orjson.loads(r.content)

        def via(body: bytes = raw_ld) -> None:
            r = session.post(f"{base}/models/clf/outputs", data=body, headers=headers, timeout=60)
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

        a, model_cpu = timed(direct, args.rounds, model_proc)
        b, rest_cpu = timed(via, args.rounds, server, idle)
        c, grpc_cpu = timed(via_grpc, args.rounds, server, idle)
        quiet = args.infer_ms * batch + model_cpu  # the direct call on an idle machine
        print(
            f"{batch:>5} | {a:>9.1f} | {model_cpu:>9.1f} | {b:>8.1f} | {rest_cpu:>8.1f} | {c:>8.1f} | "
            f"{grpc_cpu:>8.1f} | {100 * (b - a) / a:+11.1f} %, {100 * (c - a) / a:+.1f} % | "
            f"{100 * rest_cpu / quiet:+11.1f} %, {100 * grpc_cpu / quiet:+.1f} %"
        )
    print(f"any RPC's floor, labeldesk CPU of a GetModel: {floor_rest:.1f} ms REST, {floor_grpc:.1f} ms gRPC")


def ok_status(resp: Any) -> None:
    assert resp.status.code == 10000, resp.status


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()

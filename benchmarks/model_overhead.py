"""Overhead of labeldesk's PostModelOutputs over calling a model server directly.

    python benchmarks/model_overhead.py [--infer-ms 20] [--rounds 200] [--rounds-32 40] [--batches 1,32]

Three processes: an Open Inference Protocol server (stdlib ``http.server``) that decodes every image
and then takes ``--infer-ms`` per image (a small CNN on a CPU); ``labeldesk serve`` (SQLite in a
temporary directory) with a model bound to it; and this client. It sends the same batch of 1 and of
32 PNG images (256 x 256) (a) straight to the model server's ``/v2/models/{name}/infer`` and (b) to
labeldesk's PostModelOutputs over REST and over gRPC, which read the bytes, call the same server and
answer Clarifai outputs. The direct call and REST use the same kept-alive ``requests`` session and
the same base64 text; gRPC sends the raw bytes.

Calls are made in rounds of one direct, one REST and one gRPC call, the order rotating, so a change
of the machine's load lands on all three alike (the old way -- all direct calls, then all REST,
then all gRPC -- let a busy neighbour for a few seconds move one column by 5 %). Printed per batch
size: wall p50 (p25-p75) per call; the wall overhead ``p50(via) / p50(direct) - 1`` with a
bootstrap 5-95 % interval (how far it moves if the run is repeated on an equally busy machine);
and the CPU milliseconds per call of the model server (direct) and of the labeldesk server process
(user + system of all its threads from ``psutil``, less its idle rate measured first). The CPU
overhead -- labeldesk's CPU per call over the direct call's time on a quiet machine (``infer-ms x
batch`` plus the model server's own CPU) -- is what labeldesk adds when it has a core to itself,
and holds on a busy machine where wall times do not.
"""

from __future__ import annotations

import argparse
import base64
import multiprocessing as mp
import os
import re
import socket
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


def idle_cpu_rate(proc: psutil.Process, seconds: float = 6.0) -> float:
    """CPU seconds per second ``proc`` spends doing nothing asked (job polling, maintenance)."""
    cpu0, t0 = cpu_s(proc), time.perf_counter()
    time.sleep(seconds)
    return (cpu_s(proc) - cpu0) / (time.perf_counter() - t0)


KINDS = ("direct", "REST", "gRPC")


def interleaved(
    calls: dict[str, Callable[[], None]], rounds: int, watch: dict[str, tuple[psutil.Process, float]]
) -> tuple[dict[str, list[float]], dict[str, float]]:
    """Wall milliseconds of every call, and CPU milliseconds per call of the process ``watch``
    names for each kind (with its idle rate, subtracted). Each round calls every kind once, in an
    order that rotates, so a change of the machine's load hits all kinds alike instead of one
    block of calls; a call's CPU is its process's from the call's start to the next call's start
    (work done after the answer is sent counts; 2 ms apart, so it does not slow the next call)."""
    for fn in calls.values():
        fn()  # warm up
    walls: dict[str, list[float]] = {k: [] for k in calls}
    cpu = dict.fromkeys(calls, 0.0)
    kinds = list(calls)
    pending: tuple[str, float, float] | None = None  # (kind, its process's CPU and time at start)

    def settle() -> None:
        if pending is not None:
            kind, cpu0, t0 = pending
            proc, idle = watch[kind]
            cpu[kind] += max(0.0, cpu_s(proc) - cpu0 - idle * (time.perf_counter() - t0))

    for r in range(rounds):
        for kind in kinds[r % len(kinds) :] + kinds[: r % len(kinds)]:
            time.sleep(0.002)  # the last call's trailing work (access log, metrics) is not this one's
            settle()
            pending = (kind, cpu_s(watch[kind][0]), time.perf_counter())
            t0 = time.perf_counter()
            calls[kind]()
            walls[kind].append((time.perf_counter() - t0) * 1000)
    time.sleep(0.05)  # the last call's trailing work
    settle()
    return walls, {k: 1000 * v / rounds for k, v in cpu.items()}


def overhead(via: list[float], direct: list[float], resamples: int = 2000) -> tuple[float, float, float]:
    """``p50(via) / p50(direct) - 1`` in percent, with the 5th and 95th percentile of the same
    ratio over rounds resampled with replacement (a bootstrap: how much the number would move
    if the run were repeated on an equally busy machine)."""
    v, d = np.array(via), np.array(direct)
    rng = np.random.default_rng(0)
    pick = rng.integers(0, len(v), (resamples, len(v)))
    ratios = np.median(v[pick], axis=1) / np.median(d[pick], axis=1) - 1
    lo, hi = np.percentile(ratios, [5, 95])
    return 100 * (float(np.median(v)) / float(np.median(d)) - 1), 100 * float(lo), 100 * float(hi)


def spread(walls: list[float]) -> str:
    p25, p50, p75 = np.percentile(walls, [25, 50, 75])
    return f"{p50:.1f} ({p25:.1f}-{p75:.1f})"


def timed(fn: Callable[[], None], rounds: int, proc: psutil.Process, idle: float = 0.0) -> float:
    """``proc``'s CPU ms per call of ``fn`` less its ``idle`` rate."""
    fn()  # warm up
    cpu0, start = cpu_s(proc), time.perf_counter()
    for _ in range(rounds):
        fn()
    busy = cpu_s(proc) - cpu0 - idle * (time.perf_counter() - start)
    return max(0.0, busy) * 1000 / rounds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--infer-ms", type=float, default=20.0, help="model time per image (default 20)")
    ap.add_argument("--rounds", type=int, default=200, help="rounds at batch 1 (default 200)")
    ap.add_argument("--rounds-32", type=int, default=40, help="rounds at batch 32 (default 40)")
    ap.add_argument("--batches", default="1,32", help="batch sizes to run, of 1 and 32 (default 1,32)")
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
    floor_rest = timed(
        lambda: session.get(f"{base}/models/clf", headers=headers, timeout=60).raise_for_status(),
        100,
        server,
        idle,
    )
    get_model = service_pb2.GetModelRequest(user_app_id=uai, model_id="clf")
    floor_grpc = timed(lambda: ok_status(stub.GetModel(get_model, metadata=meta)), 100, server, idle)
    print(
        f"model time {args.infer_ms:g} ms per image; rounds of one direct, one REST and one gRPC call "
        f"(order rotating): {args.rounds} at batch 1, {args.rounds_32} at batch 32"
    )
    print(f"labeldesk idle CPU {1000 * idle:.1f} ms/s (subtracted)")
    print("wall: p50 (p25-p75) ms per call; overhead: p50 via / p50 direct - 1 [bootstrap 5-95 %]")
    print("CPU: ms per call of the model server (direct) and of labeldesk (REST, gRPC); CPU overhead:")
    print("  labeldesk CPU / quiet direct call (infer-ms x batch + model server CPU)")
    rows = []
    chosen = {int(b) for b in args.batches.split(",")}
    for batch, rounds in ((1, args.rounds), (32, args.rounds_32)):
        if batch not in chosen:
            continue
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

        walls, cpu = interleaved(
            dict(zip(KINDS, (direct, via, via_grpc))),
            rounds,
            {"direct": (model_proc, 0.0), "REST": (server, idle), "gRPC": (server, idle)},
        )
        quiet = args.infer_ms * batch + cpu["direct"]  # the direct call on an idle machine
        print(f"\nbatch {batch}: {rounds} rounds")
        for kind in KINDS:
            line = f"  {kind:>6}: wall {spread(walls[kind]):>24} ms | CPU {cpu[kind]:6.1f} ms"
            if kind != "direct":
                o, lo, hi = overhead(walls[kind], walls["direct"])
                line += f" | overhead wall {o:+5.1f} % [{lo:+.1f}, {hi:+.1f}]"
                line += f" | CPU {100 * cpu[kind] / quiet:+5.1f} %"
                rows.append((batch, kind, o, lo, hi))
            print(line)
    print(
        f"\nany RPC's floor, labeldesk CPU of a GetModel: {floor_rest:.1f} ms REST, {floor_grpc:.1f} ms gRPC"
    )
    print("summary (p50 wall overhead, target under 10 %):")
    for b, k, o, lo, hi in rows:
        verdict = "under" if hi < 10 else "over" if lo > 10 else "not conclusive (the interval spans 10 %)"
        print(f"  batch {b:>2} {k}: {o:+.1f} % [{lo:+.1f}, {hi:+.1f}]: {verdict}")


def ok_status(resp: Any) -> None:
    assert resp.status.code == 10000, resp.status


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()

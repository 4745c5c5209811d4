"""The fixed cost every RPC pays: server CPU per trivial authenticated read, over gRPC and REST.

    python benchmarks/rpc_overhead.py [--calls 500] [--database-url URL]
    python benchmarks/rpc_overhead.py --in-process [--calls 2000] [--profile out.html]
    python benchmarks/rpc_overhead.py --layers [--calls 2000] [--rounds 5]

Starts ``labeldesk serve`` as a subprocess on free ports (as benchmarks/annotations.py does), makes
an app with a few concepts and a model, then calls GetApp, GetModel, ListConcepts (per_page=1) and
GetConcept ``--calls`` times each, one client, through the official clarifai-grpc client on its gRPC
and JSON (REST) channels, with an app key and with a personal access token. Prints the server
process's CPU µs per call (user + system time from ``/proc`` over the timed window: the number to
compare on a shared machine), its threads' context switches per call (``/proc/PID/task/*/status``:
each one is a thread woken or put to sleep, and they do not depend on the machine's load the way
CPU time does) and the p50/p99 wall time.

``--in-process`` skips the transports: the same calls go straight to ``Dispatcher.call`` in this
process (authentication, transaction, handler, proto building) and the CPU is this process's
``time.process_time``; ``--profile`` also writes a pyinstrument flame graph of that loop
(``pip install pyinstrument``), or a cProfile listing when the path ends in ``.txt``.

``--layers`` bisects the gRPC server's cost of one GetApp: one server process per layer of
``benchmarks/grpc_layers.py`` (bare grpcio → + HandOffExecutor → + labeldesk's handler → +
metrics and access log → + dispatcher and auth → + transaction → + GetApp's query → the whole
``labeldesk serve``), called ``--calls`` times each in ``--rounds`` alternating rounds (so every
layer meets the same machine load); prints the median, lowest and highest server CPU µs per call
of each and what the layer adds to the one before. ``--against DIR`` runs each layer twice, the
second time from the source tree at ``DIR`` (e.g. ``git archive main | tar -x -C DIR``), in
the same rounds: a before/after on the same machine load.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from annotations import _process_cpu, print_rows, serve
from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api import service_pb2 as s
from profile_label_start import ok
from work_queue import stub_for

from labeldesk.services import admin
from labeldesk.storage.engine import Database
from labeldesk.storage.migrate import migrate
from labeldesk.transport.grpc.io_defaults import SERVER_EXPERIMENTS

MODEL = "overhead-model"


@dataclass
class Fixture:
    user_id: str
    app_id: str
    app_key: str
    pat: str

    @property
    def uai(self) -> r.UserAppIDSet:
        return r.UserAppIDSet(user_id=self.user_id, app_id=self.app_id)


def seed(db: Database) -> Fixture:
    """A user (PAT), an app (app key) with four concepts; the model is made through the API."""
    user_id = f"ovh-{uuid.uuid4().hex[:8]}"
    pat = admin.create_user(db, user_id, f"{user_id}@example.com")
    admin.create_app(db, user_id, "overhead")
    return Fixture(user_id, "overhead", admin.create_app_key(db, user_id, "overhead"), pat)


def requests_for(f: Fixture) -> dict[str, tuple[str, Any]]:
    """RPC label → (RPC name, request)."""
    uai = f.uai
    return {
        "GetApp": ("GetApp", s.GetAppRequest(user_app_id=uai)),
        "GetModel": ("GetModel", s.GetModelRequest(user_app_id=uai, model_id=MODEL)),
        "ListConcepts per_page=1": ("ListConcepts", s.ListConceptsRequest(user_app_id=uai, per_page=1)),
        "GetConcept": ("GetConcept", s.GetConceptRequest(user_app_id=uai, concept_id="c0")),
    }


def make_objects(call: Callable[[str, Any], Any], f: Fixture) -> None:
    """The concepts and the model the reads read, through the API."""
    concepts = [r.Concept(id=f"c{i}", name=f"c{i}") for i in range(4)]
    ok(call("PostConcepts", s.PostConceptsRequest(user_app_id=f.uai, concepts=concepts)))
    model = r.Model(id=MODEL, name="overhead")
    model.metadata.update({"labeldesk": {"backend": "builtin", "model_name": "face-detection"}})
    model.output_info.data.concepts.add(id="c0", name="c0")
    ok(call("PostModels", s.PostModelsRequest(user_app_id=f.uai, models=[model])))


@dataclass
class Row:
    transport: str
    key: str
    rpc: str
    calls: int
    cpu_seconds: float | None
    walls: list[float]
    switches: int | None = None

    def line(self) -> str:
        cpu = "-" if self.cpu_seconds is None else f"{self.cpu_seconds / self.calls * 1e6:,.0f}"
        switches = "-" if self.switches is None else f"{self.switches / self.calls:.1f}"
        q = statistics.quantiles(self.walls, n=100)
        return (
            f"{self.transport:<10} {self.key:<8} {self.rpc:<24} {self.calls:>6} {cpu:>16} "
            f"{switches:>8} {q[49] * 1e3:>8.2f} {q[98] * 1e3:>8.2f}"
        )


@dataclass
class ServerCounters:
    """The server's CPU seconds when :func:`timed` asks, noting its context switches then too."""

    pid: int
    cpu_seconds: Callable[[], float | None]
    switches: list[int | None] = field(default_factory=list)

    def __call__(self) -> float | None:
        self.switches.append(context_switches(self.pid))
        return self.cpu_seconds()

    def switched(self) -> int | None:
        """Context switches between the last two readings."""
        first, last = self.switches[-2:]
        return None if first is None or last is None else last - first


def context_switches(pid: int) -> int | None:
    """Voluntary plus involuntary context switches of all threads of ``pid`` so far (Linux)."""
    total = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if "ctxt_switches:" in line:  # voluntary_… and nonvoluntary_…
                        total += int(line.split()[1])
        except OSError:
            continue  # the thread ended meanwhile
    return total


def timed(
    call: Callable[[], Any], calls: int, cpu: Callable[[], float | None], profiler: Any = None
) -> tuple[float | None, list[float]]:
    for _ in range(min(50, calls)):  # warm caches and connections
        ok(call())
    walls: list[float] = []
    before = cpu()
    with profiler if profiler is not None else nullcontext():
        for _ in range(calls):
            t0 = time.perf_counter()
            ok(call())
            walls.append(time.perf_counter() - t0)
    after = cpu()
    return (None if before is None or after is None else after - before), walls


def over_network(url: str, calls: int) -> list[Row]:
    db = Database(url)
    migrate(db)
    fixture = seed(db)
    db.dispose()
    rows: list[Row] = []
    with serve(url) as server:
        stub = stub_for(server.base_url, server.grpc_port, "grpc")
        auth = (("authorization", f"Key {fixture.app_key}"),)
        make_objects(partial(_stub_call, stub, auth), fixture)
        for transport in ("grpc", "rest"):
            stub = stub_for(server.base_url, server.grpc_port, transport)
            for key_kind, token in (("app key", fixture.app_key), ("PAT", fixture.pat)):
                meta = (("authorization", f"Key {token}"),)
                for label, (rpc, request) in requests_for(fixture).items():
                    one = partial(_stub_call, stub, meta, rpc, request)
                    counters = ServerCounters(server.pid, server.cpu_seconds)
                    spent, walls = timed(one, calls, counters)
                    count = counters.switched()
                    rows.append(Row(transport, key_kind, label, calls, spent, walls, count))
    return rows


def _stub_call(stub: Any, meta: tuple[tuple[str, str], ...], rpc: str, request: Any) -> Any:
    return getattr(stub, rpc)(request, metadata=meta)


def in_process(calls: int, profile: str | None) -> list[Row]:
    from labeldesk.app import build

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{os.path.join(tmp, 'overhead.db')}"
        db = Database(url)
        migrate(db)
        fixture = seed(db)
        db.dispose()
        server = build(url)
        d = server.dispatcher
        app_auth, pat_auth = f"Key {fixture.app_key}", f"Key {fixture.pat}"
        make_objects(lambda rpc, req: d.call(rpc, req, app_auth), fixture)
        profiler, finish = _profiler(profile)
        rows = []
        for key_kind, auth in (("app key", app_auth), ("PAT", pat_auth)):
            for label, (rpc, request) in requests_for(fixture).items():

                def one(rpc: str = rpc, request: Any = request, auth: str = auth) -> Any:
                    return d.call(rpc, request, auth, "http://127.0.0.1:1")

                cpu, walls = timed(one, calls, time.process_time, profiler)
                rows.append(Row("in-process", key_kind, label, calls, cpu, walls))
        finish()
        server.db.dispose()
        return rows


def layers(calls: int, rounds: int, only: list[str] | None = None, against: str | None = None) -> None:
    """Print the ``--layers`` table (see the module doc)."""
    from grpc_layers import LAYERS

    unknown = set(only or ()) - set(LAYERS)
    if unknown:
        raise SystemExit(f"unknown layers {', '.join(sorted(unknown))}: choose among {', '.join(LAYERS)}")
    names = [layer for layer in LAYERS if not only or layer in only]
    if against:  # each layer again, built from the labeldesk source tree at ``against``
        names = [n for layer in names for n in (f"{layer}@before", layer) if n != "serve@before"]

    with tempfile.TemporaryDirectory() as tmp, serve(f"sqlite:///{os.path.join(tmp, 'l.db')}") as full:
        url = f"sqlite:///{os.path.join(tmp, 'l.db')}"
        db = Database(url)
        fixture = seed(db)
        db.dispose()
        meta = (("authorization", f"Key {fixture.app_key}"),)
        here = os.path.dirname(os.path.abspath(__file__))
        procs: list[subprocess.Popen[str]] = []
        servers: dict[str, tuple[int, int]] = {"serve": (full.pid, full.grpc_port)}
        try:
            for layer in names:
                if layer == "serve":
                    continue
                env = dict(os.environ)
                env.setdefault("GRPC_EXPERIMENTS", SERVER_EXPERIMENTS)  # as serve runs grpc
                if layer.endswith("@before"):
                    env["PYTHONPATH"] = os.path.join(os.path.abspath(against or ""), "src")
                cmd = [sys.executable, os.path.join(here, "grpc_layers.py"), layer.split("@")[0], url]
                proc = subprocess.Popen(
                    cmd,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL,
                    text=True,
                    env=env,
                )
                procs.append(proc)
                assert proc.stdout is not None
                servers[layer] = (proc.pid, int(proc.stdout.readline().split()[1]))
            request = s.GetAppRequest(user_app_id=fixture.uai)
            cpu: dict[str, list[float]] = {layer: [] for layer in names}
            switches: dict[str, list[float]] = {layer: [] for layer in names}
            for _ in range(rounds):
                for layer in names:
                    pid, port = servers[layer]
                    stub = stub_for("", port, "grpc")
                    counters = ServerCounters(pid, partial(_process_cpu, pid))
                    spent, _ = timed(partial(_stub_call, stub, meta, "GetApp", request), calls, counters)
                    assert spent is not None
                    cpu[layer].append(spent / calls * 1e6)
                    switches[layer].append((counters.switched() or 0) / calls)
        finally:
            for proc in procs:
                proc.communicate("")  # closing stdin ends it
    # "adds": to the layer before; with --against, the change from the layer's before build
    header = f"{'layer':<19} {'CPU µs/call':>12} {'(low-high)':>12} {'adds':>8} {'ctxsw':>7}"
    lines, previous = [], None
    for layer in names:
        median = statistics.median(cpu[layer])
        if against and (layer.endswith("@before") or f"{layer}@before" not in cpu):
            previous = None
        adds = "" if previous is None else f"{median - previous:+,.0f}"
        spread = f"{min(cpu[layer]):,.0f}-{max(cpu[layer]):,.0f}"
        ctxsw = statistics.median(switches[layer])
        lines.append(f"{layer:<19} {median:>12,.0f} {spread:>12} {adds:>8} {ctxsw:>7.1f}")
        previous = median
    load = os.getloadavg()[0]
    print(f"GetApp over gRPC, app key, {calls} calls x {rounds} rounds per layer, load average {load:.1f}")
    print_rows(header, lines)


def _profiler(path: str | None) -> tuple[AbstractContextManager[Any] | None, Callable[[], None]]:
    if not path:
        return None, lambda: None
    if path.endswith(".txt"):
        import cProfile
        import pstats

        prof = cProfile.Profile()

        def dump() -> None:
            with open(path, "w") as out:
                pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(80)

        return prof, dump
    from pyinstrument import Profiler

    pyi = Profiler(interval=0.0002)

    def write() -> None:
        with open(path, "w") as out:
            out.write(pyi.output_html())

    return pyi, write


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=500, help="timed calls per RPC and transport")
    parser.add_argument("--database-url", help="default: a fresh SQLite file in a temporary directory")
    parser.add_argument("--in-process", action="store_true", help="call the dispatcher directly")
    parser.add_argument(
        "--layers",
        nargs="?",
        const="all",
        help="bisect the gRPC server layer by layer (optionally only some: --layers bare,observe)",
    )
    parser.add_argument(
        "--against", help="with --layers: also run each layer from this labeldesk checkout (before/after)"
    )
    parser.add_argument("--rounds", type=int, default=5, help="with --layers: alternating rounds")
    parser.add_argument("--profile", help="with --in-process: write a flame graph (.html) or cProfile (.txt)")
    args = parser.parse_args(argv)
    if args.layers:
        only = None if args.layers == "all" else args.layers.split(",")
        layers(args.calls, args.rounds, only, args.against)
        return 0
    if args.in_process:
        rows = in_process(args.calls, args.profile)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            url = args.database_url or f"sqlite:///{os.path.join(tmp, 'overhead.db')}"
            rows = over_network(url, args.calls)
    header = (
        f"{'transport':<10} {'key':<8} {'rpc':<24} {'calls':>6} {'server CPU µs/call':>16} "
        f"{'ctxsw':>8} {'p50 ms':>8} {'p99 ms':>8}"
    )
    print_rows(header, (row.line() for row in rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())

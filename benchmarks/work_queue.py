"""Work-queue speed of a real labeldesk server, through the official clarifai-grpc client (gRPC).

    python benchmarks/work_queue.py [--database-url URL] [--quick] [--transport grpc|rest]
                                    [--workers N] [--replicas N] [--clients N] [--paced R]

Starts ``labeldesk serve`` as a subprocess on free ports (so the clients here do not share the
server's interpreter lock), seeds an app with 10k inputs (and, on PostgreSQL, another with 1M),
then for each task strategy (DYNAMIC and PARTITIONED EVENLY, one worker per input) and for 1, 8
and 32 concurrent workers creates a fresh task over all the app's inputs and lets every worker
loop LABEL_START -> LABEL_SUBMIT each input it got, for a fixed time. It reports LABEL_START
latency (p50, p99; the planning of new batches of inputs shows up in p99) and submissions per
second. Every LABEL_START after the first plans lazily, so a 1M-input task should answer as fast
as a 10k-input one.

Beside the wall-clock numbers it prints the servers' CPU time (all their processes, from psutil)
per submission, counting the LABEL_STARTs that handed the work out: on a shared machine that is
the number to compare. With one worker the calls do not overlap, so the CPU is also split into
per LABEL_START and per LABEL_SUBMIT. ``--workers N`` runs ``serve --workers N`` (N gRPC
processes on one port); ``--replicas N`` runs N servers over the same database (PostgreSQL, or
SQLite WAL) and spreads the labelers over them. On PostgreSQL it also prints the CPU of the
database's own backend processes per submission (``pg_cpu.PgCpu``; run it on the database's
machine) and how many units of work the servers retried for contention (their /metrics).

``--paced R`` adds, for each strategy, a run of 32 labelers who do not call back to back but
submit at random (Poisson) moments, R submissions per second in all: a labeler's next submission
is due an exponentially distributed time (mean 32 / R seconds) after the one before, and it waits
for it; the LABEL_START that fetches its next batch goes out as soon as a batch runs out. The
back-to-back runs measure the server saturated (each call waits for the 31 others ahead of it, so
LABEL_START p50 is about 32 / calls per second); a paced run measures the latency 32 labelers see
while the server handles R submissions per second. Such a row prints the rate offered beside the
rate reached (below it, the server was saturated and the labelers fell behind their schedule)
and LABEL_SUBMIT's p50 beside LABEL_START's.

Each row ends with the machine's speed just before and after its run (``unit µs``: the CPU
microseconds of ``machine_speed.py``'s fixed unit of work, lower is faster): this VM's speed moves by up to 2x
within minutes, so compare rows taken at the same speed.

The labelers' own CPU (this process's, or the client processes') per submission is printed too:
the 32 labelers are 32 threads of one Python process by default, which shares the machine's cores
with the servers and runs one thread at a time. ``--clients N`` spreads them over N processes (as
32 labelers are 32 machines); the default stays the number to compare with earlier runs.

Without ``--database-url`` a fresh SQLite file in a temporary directory is used (10k only); with a
PostgreSQL URL the apps are created in that database and left there; the 1M-input app is seeded
once with COPY (about a minute). ``--quick`` runs 10k only with short runs (< 60 s in all).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import grpc
import machine_speed
import psutil
from annotations import Server, print_rows, run_threads, serve
from clarifai_grpc.channel.clarifai_channel import ClarifaiChannel
from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api import service_pb2 as s
from clarifai_grpc.grpc.api import service_pb2_grpc
from clarifai_grpc.grpc.api.status import status_code_pb2 as sc
from google.protobuf import json_format
from pg_cpu import PgCpu, retries
from sqlalchemy import insert

from labeldesk.services import admin
from labeldesk.storage import tables as t
from labeldesk.storage.clock import utcnow
from labeldesk.storage.engine import Database
from labeldesk.storage.migrate import migrate

A = s.PutTaskAssignmentsRequestAction
WORKER_COUNTS = (1, 8, 32)
STRATEGIES = ("DYNAMIC", "PARTITIONED")
_DATA = r.Data(image=r.Image(url="https://samples.clarifai.com/metro-north.jpg")).SerializeToString()


# ----------------------------------------------------------------------------- set-up


@dataclass
class App:
    owner: str
    app_id: str
    owner_key: str
    inputs: int
    workers: list[tuple[str, str]] = field(default_factory=list)  # (user id, PAT)

    @property
    def uai(self) -> r.UserAppIDSet:
        return r.UserAppIDSet(user_id=self.owner, app_id=self.app_id)


def seed(db: Database, n_inputs: int, n_workers: int, log: Callable[[str], None]) -> App:
    """An app with ``n_inputs`` inputs (written directly, COPY on PostgreSQL) and workers."""
    began = time.perf_counter()
    tag = uuid.uuid4().hex[:8]
    owner, app_id = f"qbench-{tag}", f"queue-{n_inputs}"
    admin.create_user(db, owner, f"{owner}@example.com")
    app_pk = admin.create_app(db, owner, app_id)
    app = App(owner, app_id, admin.create_app_key(db, owner, app_id), n_inputs)
    for i in range(n_workers):
        uid = f"{owner}-w{i}"
        app.workers.append((uid, admin.create_user(db, uid, f"{uid}@example.com")))
        admin.add_collaborator(db, owner, app_id, uid)
    with db.write() as conn:
        conn.execute(
            insert(t.concepts).values(
                app_pk=app_pk, id="cat", name="cat", created_at=utcnow(), modified_at=utcnow()
            )
        )
    ts = utcnow()
    if db.sqlite:
        for start in range(0, n_inputs, 20_000):
            with db.write() as conn:
                conn.execute(
                    insert(t.inputs),
                    [
                        {
                            "app_pk": app_pk,
                            "id": f"in-{i}",
                            "data": _DATA,
                            "status": sc.INPUT_DOWNLOAD_SUCCESS,
                            "created_at": ts,
                            "modified_at": ts,
                        }
                        for i in range(start, min(n_inputs, start + 20_000))
                    ],
                )
    else:
        with db.engine.connect() as conn:
            raw: Any = conn.connection.driver_connection
            with (
                raw.cursor() as cur,
                cur.copy(
                    "COPY inputs (app_pk, id, data, status, created_at, modified_at) FROM STDIN"
                ) as copy,
            ):
                for i in range(n_inputs):
                    copy.write_row((app_pk, f"in-{i}", _DATA, sc.INPUT_DOWNLOAD_SUCCESS, ts, ts))
            raw.commit()
            conn.exec_driver_sql("ANALYZE inputs")
            raw.commit()
    log(f"seeded {n_inputs:,} inputs and {n_workers} workers in {time.perf_counter() - began:.1f}s")
    return app


# ----------------------------------------------------------------------------- one run


@dataclass
class Result:
    db: str
    inputs: int
    strategy: str
    workers: int
    starts: list[float]
    submissions: int
    seconds: float
    #: LABEL_SUBMIT latencies (seconds)
    submits: list[float] = field(default_factory=list)
    #: submissions per second offered in all (--paced); 0: the labelers call back to back
    offered: float = 0.0
    #: server CPU seconds: all calls, and (one worker) inside LABEL_START / LABEL_SUBMIT calls
    cpu: float = float("nan")
    cpu_starts: float = float("nan")
    cpu_submits: float = float("nan")
    #: PostgreSQL: its backends' CPU seconds (pg_cpu.PgCpu) and the servers' retried units of work
    pg_cpu: float = float("nan")
    retries: float = float("nan")
    #: CPU seconds of the benchmark's own client process(es) (the labelers' gRPC stubs)
    client_cpu: float = float("nan")
    #: the machine's speed just before and just after the run: CPU µs of machine_speed.py's fixed
    #: unit of work
    unit_us: tuple[float, float] = (float("nan"), float("nan"))

    @property
    def units(self) -> str:
        before, after = self.unit_us
        return f"{before:.0f}/{after:.0f}"

    @property
    def cpu_ms_per_submission(self) -> float:
        return self.cpu / self.submissions * 1000 if self.submissions else float("nan")

    @property
    def client_ms_per_submission(self) -> float:
        return self.client_cpu / self.submissions * 1000 if self.submissions else float("nan")

    @property
    def pg_ms_per_submission(self) -> float:
        return self.pg_cpu / self.submissions * 1000 if self.submissions else float("nan")

    @property
    def cpu_ms_per_start(self) -> float:
        return self.cpu_starts / len(self.starts) * 1000 if self.starts else float("nan")

    @property
    def cpu_ms_per_submit(self) -> float:
        return self.cpu_submits / self.submissions * 1000 if self.submissions else float("nan")

    def pct(self, q: float) -> float:
        if not self.starts:
            return float("nan")
        ordered = sorted(self.starts)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    @property
    def p50(self) -> float:
        return _median_ms(self.starts)

    @property
    def submit_p50(self) -> float:
        return _median_ms(self.submits)


def _median_ms(seconds: list[float]) -> float:
    return statistics.median(seconds) * 1000 if seconds else float("nan")


def stub_for(base_url: str, grpc_port: int, transport: str) -> Any:
    """A client with its own connection (as separate labelers have; channels to one address would
    otherwise share one, and so one server process of ``serve --workers``)."""
    if transport == "rest":
        return service_pb2_grpc.V2Stub(ClarifaiChannel.get_json_channel(base_url=base_url))
    ClarifaiChannel.get_insecure_grpc_channel(base="127.0.0.1", port=grpc_port).close()  # its set-up
    channel = grpc.insecure_channel(f"127.0.0.1:{grpc_port}", options=[("grpc.use_local_subchannel_pool", 1)])
    return service_pb2_grpc.V2Stub(channel)


class ServerCpu:
    """CPU seconds used so far by the servers' processes (with the gRPC worker processes)."""

    def __init__(self, servers: list[Server]) -> None:
        roots = [psutil.Process(s.pid) for s in servers]
        self.processes = [p for root in roots for p in (root, *root.children(recursive=True))]

    def __call__(self) -> float:
        total = 0.0
        for p in self.processes:
            try:
                t = p.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += t.user + t.system
        return total


def check(resp: Any) -> Any:
    if resp.status.code != sc.SUCCESS:
        raise RuntimeError(f"request failed: {resp.status}")
    return resp


def run_task(
    app: App,
    strategy: str,
    n_workers: int,
    seconds: float,
    servers: list[Server],
    transport: str,
    db_name: str,
    pg: PgCpu | None = None,
    clients: int = 1,
    paced: float = 0.0,
) -> Result:
    """A fresh task over all the app's inputs; ``n_workers`` label for ``seconds``, worker k on
    server k mod len(servers), from ``clients`` client processes (worker k in process k mod
    clients; 1: threads of this process); ``paced``: submitting at Poisson moments, that many
    submissions per second in all (0: back to back)."""
    unit_us = machine_speed.speed(rounds=1)
    cpu = ServerCpu(servers)
    workers = app.workers[:n_workers]
    task_id = f"{strategy.lower()}-{n_workers}-{uuid.uuid4().hex[:6]}"
    info = (
        {"type": "EVENLY", "workers_per_input": 1} if strategy == "PARTITIONED" else {"workers_per_input": 1}
    )
    task = json_format.ParseDict(
        {
            "id": task_id,
            "concept_ids": ["cat"],
            "input_source": {"type": "ALL_INPUTS"},
            "worker": {
                "strategy": strategy,
                "user_ids": [w for w, _ in workers],
                "partitioned_strategy_info": info,
            },
        },
        r.Task(),
    )
    owner = stub_for(servers[0].base_url, servers[0].grpc_port, transport)
    check(
        owner.PostTasks(
            s.PostTasksRequest(user_app_id=app.uai, tasks=[task]),
            metadata=(("authorization", f"Key {app.owner_key}"),),
        )
    )
    pg_cpu = pg or (lambda: float("nan"))

    def count_retries() -> float:
        return sum(retries(s.base_url) for s in servers) if db_name == "postgresql" else float("nan")

    clients = max(1, min(clients, n_workers))
    job = Labelers(app, task_id, transport, servers, seconds, split=n_workers == 1, pace=paced / n_workers)
    context = multiprocessing.get_context("spawn")  # a fork would copy this process's gRPC state
    gate: Any = threading.Barrier(n_workers + 1) if clients == 1 else context.Barrier(n_workers + 1)
    shares = [list(range(n_workers))[c::clients] for c in range(clients)]
    if clients == 1:
        outcome: list[Labeled] = []
        runner = threading.Thread(target=lambda: outcome.append(job.run(shares[0], gate)))
        runner.start()
    else:
        queue = context.Queue()
        children = [context.Process(target=job.serve, args=(ks, gate, queue)) for ks in shares]
        for child in children:
            child.start()
    gate.wait()  # every labeler is ready: the window opens
    pg0, retried0, cpu0, began = pg_cpu(), count_retries(), cpu(), time.perf_counter()
    if clients == 1:
        runner.join()
    else:
        outcome = [queue.get() for _ in children]
    # the labelers' own end (perf_counter is the system's monotonic clock: one for all processes),
    # not the client processes' exit
    elapsed = max(o.ended for o in outcome) - began
    used = cpu() - cpu0
    pg_used, retried = pg_cpu() - pg0, count_retries() - retried0
    if clients > 1:
        for child in children:
            child.join()
    unit_after = machine_speed.speed(rounds=1)
    res = Result(
        db_name,
        app.inputs,
        strategy,
        n_workers,
        [x for o in outcome for x in o.starts],
        sum(o.submitted for o in outcome),
        elapsed,
        [x for o in outcome for x in o.submits],
        paced,
        used,
        pg_cpu=pg_used,
        retries=retried,
        client_cpu=sum(o.client_cpu for o in outcome),
        unit_us=(unit_us, unit_after),
    )
    if n_workers == 1:
        res.cpu_starts, res.cpu_submits = outcome[0].cpu_starts, outcome[0].cpu_submits
    return res


@dataclass
class Labeled:
    """What one client process's labelers did in the window."""

    starts: list[float]
    submits: list[float]
    submitted: int
    client_cpu: float
    #: time.perf_counter() when the last of them stopped
    ended: float
    cpu_starts: float = 0.0
    cpu_submits: float = 0.0


@dataclass
class Labelers:
    """The labelers of one task, to run as threads of one client process (picklable: ``--clients``
    starts processes that run :meth:`serve`)."""

    app: App
    task_id: str
    transport: str
    servers: list[Server]
    seconds: float
    #: one worker in all: the calls never overlap, so the servers' CPU is read around each call
    split: bool
    #: submissions per second of each labeler, at Poisson moments (0: back to back)
    pace: float = 0.0

    def serve(self, ks: list[int], gate: Any, out: Any) -> None:
        out.put(self.run(ks, gate))

    def run(self, ks: list[int], gate: Any) -> Labeled:
        """Workers ``ks`` (indices into the app's workers) loop LABEL_START -> LABEL_SUBMIT each
        input they got, from when ``gate`` opens, for ``seconds``."""
        cpu = ServerCpu(self.servers) if self.split else (lambda: 0.0)
        cpu_in = {A.LABEL_START: 0.0, A.LABEL_SUBMIT: 0.0}
        starts: list[list[float]] = [[] for _ in ks]
        submits: list[list[float]] = [[] for _ in ks]
        submitted = [0] * len(ks)
        opened: list[float] = []
        lock = threading.Lock()

        def work(j: int) -> None:
            k = ks[j]
            server = self.servers[k % len(self.servers)]
            stub = stub_for(server.base_url, server.grpc_port, self.transport)
            meta = (("authorization", f"Key {self.app.workers[k][1]}"),)

            def put(action: int, input_id: str = "") -> Any:
                before = cpu()
                began = time.perf_counter()
                req = s.PutTaskAssignmentsRequest(
                    user_app_id=self.app.uai, task_id=self.task_id, action=action, input_id=input_id
                )
                resp = check(stub.PutTaskAssignments(req, metadata=meta))
                (starts if action == A.LABEL_START else submits)[j].append(time.perf_counter() - began)
                cpu_in[action] += cpu() - before
                return resp

            gate.wait()
            with lock:
                if not opened:
                    opened.append(time.process_time())
            now = time.perf_counter()
            until = now + self.seconds
            pace = random.Random(k)  # the same moments on every run
            due = now + pace.expovariate(self.pace) if self.pace else now
            while time.perf_counter() < until:
                got = put(A.LABEL_START).task_assignments
                if not got:
                    return
                for a in got:
                    if self.pace:  # wait for the submission's moment (none when behind schedule)
                        if due >= until:
                            return
                        time.sleep(max(0.0, due - time.perf_counter()))
                        due += pace.expovariate(self.pace)
                    put(A.LABEL_SUBMIT, a.input.id)
                    submitted[j] += 1

        run_threads(len(ks), work)
        return Labeled(
            [x for xs in starts for x in xs],
            [x for xs in submits for x in xs],
            sum(submitted),
            time.process_time() - opened[0],
            time.perf_counter(),
            cpu_in[A.LABEL_START],
            cpu_in[A.LABEL_SUBMIT],
        )


# ----------------------------------------------------------------------------- report


def print_table(rows: list[Result], transport: str) -> None:
    header = (
        f"{'database':<10} {'inputs':>9} {'strategy':<11} {'workers':>7} {'offered/s':>9} "
        f"{'LABEL_START p50 ms':>18} {'p99 ms':>8} {'SUBMIT p50 ms':>13} "
        f"{'calls':>6} {'submissions/s':>13} {'CPU ms/submission':>17} "
        f"{'CPU ms/START':>12} {'CPU ms/SUBMIT':>13} {'client CPU ms/submission':>24} "
        f"{'PG CPU ms/submission':>20} {'retries':>7} {'unit µs':>9}"
    )
    print(f"transport: {transport}; CPU = the servers' processes, per submission including its LABEL_STARTs")
    print("unit µs = the machine's speed before/after the run (benchmarks/machine_speed.py; lower is faster)")
    print_rows(
        header,
        (
            f"{x.db:<10} {x.inputs:>9,} {x.strategy:<11} {x.workers:>7} "
            f"{f'{x.offered:,.0f}' if x.offered else '-':>9} {x.p50:>18.2f} {x.pct(0.99):>8.2f} "
            f"{x.submit_p50:>13.2f} {len(x.starts):>6} {x.submissions / x.seconds:>13,.0f} "
            f"{x.cpu_ms_per_submission:>17.2f} "
            f"{x.cpu_ms_per_start:>12.2f} {x.cpu_ms_per_submit:>13.2f} {x.client_ms_per_submission:>24.2f} "
            f"{x.pg_ms_per_submission:>20.2f} {x.retries:>7.0f} {x.units:>9}"
            for x in rows
        ),
    )


def run(
    database_url: str | None,
    quick: bool,
    transport: str,
    log: Callable[[str], None],
    processes: int = 1,
    replicas: int = 1,
    clients: int = 1,
    seconds: float = 0.0,
    paced: float = 0.0,
) -> list[Result]:
    """Every (size, strategy, workers) run against ``replicas`` servers of ``processes`` gRPC
    processes each, and with ``paced`` one more per strategy: the most workers, submitting at
    Poisson moments, ``paced`` submissions per second in all; a fresh SQLite file without a URL."""
    with tempfile.TemporaryDirectory() as tmp:
        url = database_url or f"sqlite:///{os.path.join(tmp, 'queue-bench.db')}"
        db = Database(url)
        migrate(db)
        db_name = "sqlite" if db.sqlite else "postgresql"
        sizes = [10_000] if quick or db.sqlite else [10_000, 1_000_000]
        apps = [seed(db, n, max(WORKER_COUNTS), log) for n in sizes]
        db.dispose()
        pg = None if db.sqlite else PgCpu(url)
        seconds = seconds or (2.0 if quick else 8.0)
        rows: list[Result] = []
        with ExitStack() as stack:
            servers = [
                stack.enter_context(serve(url, *(["--workers", str(processes)] if processes > 1 else [])))
                for _ in range(replicas)
            ]
            time.sleep(3 if processes > 1 else 0)  # let the extra gRPC processes bind the port
            for app in apps:
                for strategy in STRATEGIES:
                    runs = [(n, 0.0) for n in WORKER_COUNTS] + (
                        [(max(WORKER_COUNTS), paced)] if paced else []
                    )
                    for n, offered in runs:
                        res = run_task(
                            app, strategy, n, seconds, servers, transport, db_name, pg, clients, offered
                        )
                        rows.append(res)
                        log(
                            f"{app.inputs:,} {strategy} {n} workers"
                            + (f" paced at {offered:,.0f} submissions/s" if offered else "")
                            + f": p50 {res.p50:.2f} ms, "
                            f"{res.submissions / res.seconds:,.0f} submissions/s, "
                            f"{res.cpu_ms_per_submission:.2f} server CPU ms per submission "
                            f"(client {res.client_ms_per_submission:.2f})"
                            + (f", {res.pg_ms_per_submission:.2f} PostgreSQL's" if pg else "")
                        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url",
        help="SQLAlchemy URL (default: a fresh SQLite file); a PostgreSQL URL adds the 1M-input task",
    )
    parser.add_argument("--quick", action="store_true", help="10k inputs, short runs (< 60 s in all)")
    parser.add_argument("--transport", choices=("grpc", "rest"), default="grpc")
    parser.add_argument("--workers", type=int, default=1, help="gRPC processes per server (serve --workers)")
    parser.add_argument("--replicas", type=int, default=1, help="servers over the same database")
    parser.add_argument(
        "--clients",
        type=int,
        default=1,
        help="client processes the labelers are spread over (default 1: threads of this process)",
    )
    parser.add_argument(
        "--seconds", type=float, default=0.0, help="length of each timed run (default 2 with --quick, else 8)"
    )
    parser.add_argument(
        "--paced",
        type=float,
        default=0.0,
        metavar="R",
        help="add a run per strategy of 32 labelers submitting at Poisson moments, R submissions/s in all",
    )
    args = parser.parse_args(argv)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    began = time.perf_counter()
    rows = run(
        args.database_url,
        args.quick,
        args.transport,
        log,
        args.workers,
        args.replicas,
        args.clients,
        seconds=args.seconds,
        paced=args.paced,
    )
    print(
        f"{args.replicas} server(s) of {args.workers} gRPC process(es) each; "
        f"labelers in {args.clients} client process(es)"
    )
    print_table(rows, args.transport)
    print(f"\ntotal {time.perf_counter() - began:.0f}s on {os.cpu_count()} CPUs", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

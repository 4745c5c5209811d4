"""Annotation throughput of a real labeldesk server, through the official clarifai-grpc client.

    python benchmarks/annotations.py [--database-url URL] [--quick] [--sizes 1000,100000]

Starts ``labeldesk serve`` as a subprocess on free ports (so the clients here do not share the
server's interpreter lock), then for an app holding 1k and then 100k annotations measures:

- annotations created per second, one annotation per request and 128 per request, with one
  client and with 8 concurrent clients, over REST (JSON channel) and gRPC;
- inputs added per second by PostInputs with 128 image URLs per request, one client;
- listing every annotation of the app (``list_all_annotations``, 1000 per page).

Without ``--database-url`` a fresh SQLite file in a temporary directory is used; with a
PostgreSQL URL the apps are created in that database (and left there). ``--quick`` shortens every
timed run so the whole benchmark takes well under a minute; ``--sizes 1000`` skips the 100k app.
Results are printed as a table with the server's CPU time per item (the ``labeldesk serve``
process's user + system time over the timed window, from ``/proc``): on a shared machine that
is the number to compare, rates depend on what else runs. Beside it, the clients' CPU per item
(this process, same window): client and server share the machine's cores, so the clients are
kept cheap — each builds its request once (PostAnnotations posts the same 128 annotations, the
server generating their ids; PostInputs gives the same 128 inputs new random ids per request,
``reusable_inputs_request``), and the server's log goes to a file rather than a pipe to drain.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

import requests
from clarifai_grpc.channel.clarifai_channel import ClarifaiChannel
from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api import service_pb2 as s
from clarifai_grpc.grpc.api import service_pb2_grpc
from clarifai_grpc.grpc.api.status import status_code_pb2 as sc

from labeldesk.services import admin
from labeldesk.services.annotation_views import stored_data
from labeldesk.storage.clock import utcnow
from labeldesk.storage.engine import Database
from labeldesk.storage.migrate import migrate
from labeldesk.storage.repos import annotations as ann_repo
from labeldesk.storage.repos import concepts as concepts_repo
from labeldesk.storage.repos import inputs as inputs_repo

INPUTS = 1000
CONCEPTS = ("cat", "dog", "tree", "car")
BATCH = 128


@dataclass
class Target:
    """An app prepared for the benchmark, and how to reach the server."""

    user_id: str
    app_id: str
    key: str
    base_url: str
    grpc_port: int
    existing: int

    def stub(self, transport: str) -> Any:
        if transport == "rest":
            return service_pb2_grpc.V2Stub(ClarifaiChannel.get_json_channel(base_url=self.base_url))
        channel = ClarifaiChannel.get_insecure_grpc_channel(base="127.0.0.1", port=self.grpc_port)
        return service_pb2_grpc.V2Stub(channel)

    @property
    def meta(self) -> tuple[tuple[str, str]]:
        return (("authorization", f"Key {self.key}"),)


# ----------------------------------------------------------------------------- set-up


def prepare_app(db: Database, existing: int) -> tuple[str, str, str]:
    """A user with an app, concepts, inputs and ``existing`` annotations written directly."""
    user_id, app_id = f"bench-{uuid.uuid4().hex[:8]}", f"app-{existing}"
    admin.create_user(db, user_id, f"{user_id}@example.com")
    app_pk = admin.create_app(db, user_id, app_id)
    key = admin.create_app_key(db, user_id, app_id)
    with db.write() as conn:
        concepts_repo.insert_many(conn, app_pk, [{"id": c, "name": c} for c in CONCEPTS])
        rows = [
            {"id": f"in-{i}", "data": _image_data(i), "metadata": None, "status": sc.INPUT_DOWNLOAD_SUCCESS}
            for i in range(INPUTS)
        ]
        stored = inputs_repo.insert_many(conn, app_pk, rows)
    pks = [row.pk for row in stored.values()]
    for start in range(0, existing, 5000):
        with db.write() as conn:
            n = min(5000, existing - start)
            ann_repo.insert_many(
                conn,
                app_pk,
                [_existing_row(user_id, pks[(start + i) % len(pks)]) for i in range(n)],
                [[("cat", 1.0), ("dog", 0.0)]] * n,
            )
    return user_id, app_id, key


def _image_data(i: int) -> bytes:
    data = r.Data(image=r.Image(url=f"https://example.com/{i}.jpg"))
    return bytes(data.SerializeToString())


_EXISTING_DATA = stored_data(
    r.Data(
        concepts=[r.Concept(id="cat", name="cat", value=1), r.Concept(id="dog", name="dog", value=0)],
        regions=[
            r.Region(
                id=uuid.uuid4().hex,
                region_info=r.RegionInfo(
                    bounding_box=r.BoundingBox(top_row=0.1, left_col=0.1, bottom_row=0.5, right_col=0.5)
                ),
                data=r.Data(concepts=[r.Concept(id="cat", name="cat", value=1)]),
            )
        ],
    )
)


def _existing_row(user_id: str, input_pk: int) -> dict[str, Any]:
    ts = utcnow()
    return {
        "id": uuid.uuid4().hex,
        "input_pk": input_pk,
        "user_id": user_id,
        **_EXISTING_DATA,
        "status": sc.ANNOTATION_SUCCESS,
        "trusted": True,
        "created_at": ts,
        "modified_at": ts,
    }


@dataclass(frozen=True)
class Server:
    base_url: str
    grpc_port: int
    pid: int

    def cpu_seconds(self) -> float | None:
        """CPU time the server process and its worker processes (``serve --workers``) have used
        so far (Linux; ``None`` elsewhere)."""
        total = _process_cpu(self.pid)
        if total is None:
            return None
        try:
            with open(f"/proc/{self.pid}/task/{self.pid}/children") as f:
                children = [int(c) for c in f.read().split()]
        except OSError:
            children = []
        return total + sum(_process_cpu(c) or 0.0 for c in children)


def _process_cpu(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def running_server(url: str) -> Iterator[tuple[str, int]]:
    """(base URL, gRPC port) of ``labeldesk serve`` on free ports (benchmarks/work_queue.py uses it)."""
    with serve(url) as server:
        yield server.base_url, server.grpc_port


@contextmanager
def serve(url: str, *options: str) -> Iterator[Server]:
    """``labeldesk serve [options]`` as a subprocess on free ports.

    Its log (one access line per request) goes to a file, not to a pipe this process would have
    to drain: a drainer thread here competes for the client's interpreter lock, and when it lags
    the pipe fills and the server's handler blocks writing the line before it answers."""
    cmd = [
        sys.executable,
        "-m",
        "labeldesk.cli",
        "serve",
        "--database-url",
        url,
        "--http-port",
        "0",
        "--grpc-port",
        "0",
        *options,
    ]
    with tempfile.TemporaryFile("w+b") as log:
        proc = subprocess.Popen(cmd, stderr=log, stdout=subprocess.DEVNULL)
        try:
            m = None
            read = 0
            while m is None:
                log.seek(read)
                head = log.read()
                m = re.search(rb"REST (http://\S+)\s+gRPC \S+:(\d+)", head)
                if m is None:
                    if proc.poll() is not None:
                        raise RuntimeError(f"the server did not start (exit code {proc.returncode})")
                    read += head.rfind(b"\n") + 1
                    time.sleep(0.05)
            yield Server(m.group(1).decode(), int(m.group(2)), proc.pid)
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:  # a loaded machine: do not lose the measurements over it
                proc.kill()
                proc.wait()


# ----------------------------------------------------------------------------- measurements


def _annotation(n: int) -> r.Annotation:
    box = r.BoundingBox(top_row=0.1, left_col=0.2, bottom_row=0.6, right_col=0.7)
    return r.Annotation(
        input_id=f"in-{n % INPUTS}",
        data=r.Data(
            concepts=[r.Concept(id="tree", value=1), r.Concept(id="car", value=0)],
            regions=[
                r.Region(
                    region_info=r.RegionInfo(bounding_box=box),
                    data=r.Data(concepts=[r.Concept(id="dog", value=1)]),
                )
            ],
        ),
    )


def create_rate(
    target: Target, transport: str, clients: int, batch: int, seconds: float, mark: Callable[[], None]
) -> tuple[int, float]:
    """Annotations created per second by ``clients`` threads posting ``batch`` per request."""
    counts = [0] * clients
    window = [0.0, 0.0]  # start, end: set once every client has warmed up

    def open_window() -> None:
        mark()
        window[0] = time.perf_counter()
        window[1] = window[0] + seconds

    start_line = threading.Barrier(clients, action=open_window)

    def work(k: int) -> None:
        stub = target.stub(transport)
        req = s.PostAnnotationsRequest(annotations=[_annotation(k * 7919 + i) for i in range(batch)])
        warm_until = time.perf_counter() + min(1.0, seconds / 3)
        while time.perf_counter() < warm_until:  # warm-up (connections, caches), not counted
            _check(stub.PostAnnotations(req, metadata=target.meta))
        start_line.wait()
        while time.perf_counter() < window[1]:
            _check(stub.PostAnnotations(req, metadata=target.meta))
            counts[k] += batch

    run_threads(clients, work)
    return sum(counts), time.perf_counter() - window[0]


def input_rate(
    target: Target, transport: str, clients: int, batch: int, seconds: float, mark: Callable[[], None]
) -> tuple[int, float]:
    """Inputs added per second by ``clients`` threads posting ``batch`` new image URLs per
    request (ids chosen by the client, as an importer does; each input also gets its
    input-level annotation)."""
    counts = [0] * clients
    window = [0.0, 0.0]

    def open_window() -> None:
        mark()
        window[0] = time.perf_counter()
        window[1] = window[0] + seconds

    start_line = threading.Barrier(clients, action=open_window)

    def work(k: int) -> None:
        stub = target.stub(transport)
        fresh = reusable_inputs_request(batch)
        warm_until = time.perf_counter() + min(1.0, seconds / 3)
        while time.perf_counter() < warm_until:
            _check(stub.PostInputs(fresh(), metadata=target.meta))
        start_line.wait()
        while time.perf_counter() < window[1]:
            _check(stub.PostInputs(fresh(), metadata=target.meta))
            counts[k] += batch

    run_threads(clients, work)
    return sum(counts), time.perf_counter() - window[0]


def reusable_inputs_request(
    batch: int, url: str = "https://example.com/{}.jpg"
) -> Callable[[], s.PostInputsRequest]:
    """``fresh()``: a PostInputs request of ``batch`` image URLs, built once, whose inputs it gives
    new random ids (32 hex digits, as an importer's) and answers it: ~0.2 µs per input of
    the client's CPU instead of ~5 µs to build 128 new ``Input`` messages per request, so the
    benchmark measures the server (client and server share the machine's cores)."""
    req = s.PostInputsRequest(
        inputs=[r.Input(id="", data=r.Data(image=r.Image(url=url.format(i)))) for i in range(batch)]
    )
    inputs = list(req.inputs)

    def fresh() -> s.PostInputsRequest:
        ids = os.urandom(16 * batch).hex()
        for n, inp in enumerate(inputs):
            inp.id = ids[32 * n : 32 * n + 32]
        return req

    return fresh


def run_threads(n: int, work: Callable[[int], None]) -> None:
    """``work(0)`` ... ``work(n - 1)`` on threads of their own, until all are done."""
    threads = [threading.Thread(target=work, args=(k,)) for k in range(n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()


def list_all(target: Target, transport: str, mark: Callable[[], None]) -> tuple[int, float]:
    """Walk every annotation of the app, 1000 per page, with the official client (``rest`` or
    ``grpc``) or, for ``raw``, with plain HTTP + ``json.loads`` as a curl-like client would."""
    fetch = _raw_page(target) if transport == "raw" else _client_page(target, transport)
    mark()
    began, total, page = time.perf_counter(), 0, 1
    while True:
        n = fetch(page)
        total += n
        if n < 1000:
            return total, time.perf_counter() - began
        page += 1


def _client_page(target: Target, transport: str) -> Callable[[int], int]:
    stub = target.stub(transport)

    def fetch(page: int) -> int:
        req = s.ListAnnotationsRequest(list_all_annotations=True, per_page=1000, page=page)
        return len(_check(stub.ListAnnotations(req, metadata=target.meta)).annotations)

    return fetch


def _raw_page(target: Target) -> Callable[[int], int]:
    session = requests.Session()
    headers = {"Authorization": f"Key {target.key}"}

    def fetch(page: int) -> int:
        params = {"list_all_annotations": "true", "per_page": "1000", "page": str(page)}
        resp = session.get(f"{target.base_url}/v2/annotations", params=params, headers=headers, timeout=60)
        body = json.loads(resp.content)
        if body["status"]["code"] != sc.SUCCESS:
            raise RuntimeError(f"request failed: {body['status']}")
        return len(body["annotations"])

    return fetch


def _check(resp: Any) -> Any:
    if resp.status.code != sc.SUCCESS:
        raise RuntimeError(f"request failed: {resp.status}")
    return resp


# ----------------------------------------------------------------------------- report


@dataclass
class Row:
    db: str
    existing: int
    transport: str
    what: str
    count: int
    seconds: float
    server_cpu: float | None
    """Server CPU seconds used during the measurement (less sensitive to other load than rates)."""
    client_cpu: float | None = None
    """This process's CPU seconds over the same window (the clients, on the same cores)."""

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0

    @property
    def cpu_us(self) -> str:
        if self.server_cpu is None or not self.count:
            return "-"
        return f"{self.server_cpu / self.count * 1e6:,.0f}"

    @property
    def client_us(self) -> str:
        if self.client_cpu is None or not self.count:
            return "-"
        return f"{self.client_cpu / self.count * 1e6:,.0f}"


def print_table(rows: list[Row]) -> None:
    header = (
        f"{'database':<10} {'existing':>9} {'transport':<9} {'measurement':<34} "
        f"{'count':>8} {'seconds':>8} {'per s':>9} {'server CPU µs/item':>19} {'client CPU µs/item':>19}"
    )
    print_rows(
        header,
        (
            f"{x.db:<10} {x.existing:>9,} {x.transport:<9} {x.what:<34} {x.count:>8,} {x.seconds:>8.2f} "
            f"{x.rate:>9,.0f} {x.cpu_us:>19} {x.client_us:>19}"
            for x in rows
        ),
    )


def print_rows(header: str, lines: Iterable[str]) -> None:
    """A plain-text table: the header, a rule as wide, then the lines."""
    print(header)
    print("-" * len(header))
    for line in lines:
        print(line)


Measurement = Callable[[Callable[[], None]], tuple[int, float]]
"""A timed run: called with ``mark``, answers (items, seconds)."""


@dataclass
class Bench:
    db_name: str
    server: Server
    quick: bool
    log: Callable[[str], None]
    rows: list[Row]

    def measure(self, target: Target, transport: str, what: str, fn: Measurement) -> None:
        """Run ``fn``; it calls ``mark`` when its timed window opens (after any warm-up)."""
        start: list[float | None] = [None]
        client_start = [0.0]

        def mark() -> None:
            start[0] = self.server.cpu_seconds()
            client_start[0] = time.process_time()

        count, elapsed = fn(mark)
        after, before = self.server.cpu_seconds(), start[0]
        client = time.process_time() - client_start[0]
        cpu = None if before is None or after is None else after - before
        self.rows.append(Row(self.db_name, target.existing, transport, what, count, elapsed, cpu, client))
        self.log(
            f"{target.existing:,} {transport} {what}: {count:,} in {elapsed:.2f}s ({count / elapsed:,.0f}/s)"
        )

    def listing(self, target: Target) -> None:
        # The official JSON client parses responses in pure Python (~0.2 s per 1000 annotations):
        # that measures the client more than the server, so it runs only in full runs.
        for transport in ("grpc", "raw") if self.quick else ("grpc", "raw", "rest"):
            what = "list all, raw JSON (requests)" if transport == "raw" else "list all, official client"
            shown = "rest" if transport == "raw" else transport
            self.measure(target, shown, what, partial(list_all, target, transport))

    def creating(self, target: Target) -> None:
        seconds = 1.0 if self.quick else 8.0
        for transport in ("rest", "grpc"):
            for clients, batch in ((1, 1), (8, 1), (1, BATCH), (8, BATCH)):
                what = f"create, {clients} client{'s' if clients > 1 else ''}, {batch}/request"
                self.measure(
                    target, transport, what, partial(create_rate, target, transport, clients, batch, seconds)
                )
            what = f"PostInputs, 1 client, {BATCH}/request"
            self.measure(target, transport, what, partial(input_rate, target, transport, 1, BATCH, seconds))


def run(
    url: str, quick: bool, sizes: tuple[int, ...], log: Callable[[str], None], workers: int = 1
) -> list[Row]:
    db = Database(url)
    migrate(db)
    db_name = "sqlite" if db.sqlite else "postgresql"
    apps = []
    for n in sizes:
        began = time.perf_counter()
        apps.append((n, prepare_app(db, n)))
        log(f"prepared an app with {n:,} annotations in {time.perf_counter() - began:.1f}s")
    db.dispose()
    with serve(url, *(("--workers", str(workers)) if workers > 1 else ())) as server:
        bench = Bench(db_name, server, quick, log, [])
        for n, (user_id, app_id, key) in apps:
            target = Target(user_id, app_id, key, server.base_url, server.grpc_port, n)
            bench.listing(target)  # first, while the app holds exactly n annotations
            bench.creating(target)
    return bench.rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="SQLAlchemy URL (default: a fresh SQLite file)")
    parser.add_argument("--quick", action="store_true", help="short runs (the whole benchmark < 60 s)")
    parser.add_argument("--sizes", default="1000,100000", help="annotations in the apps measured")
    parser.add_argument("--workers", type=int, default=1, help="serve --workers N (CPU summed over them)")
    args = parser.parse_args(argv)
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{os.path.join(tmp, 'bench.db')}"
        sizes = tuple(int(n) for n in args.sizes.split(","))
        rows = run(url, args.quick, sizes, lambda m: print(m, file=sys.stderr, flush=True), args.workers)
    print_table(rows)
    print(f"\ntotal {time.perf_counter() - began:.0f}s on {os.cpu_count()} CPUs", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""SIGKILL ``labeldesk serve`` in the middle of bulk imports and task submissions, restart it, and
prove that every acknowledged write is there and nothing is half-written: an import batch is all
there or not at all, every input carries its concepts, every annotation all its regions, and an
acknowledged LABEL_SUBMIT is SUCCESS. On SQLite, and on PostgreSQL when
LABELDESK_TEST_DATABASE_URL names one."""

from __future__ import annotations

import os
import signal
import threading
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from clarifai_grpc.channel.clarifai_channel import ClarifaiChannel
from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api import service_pb2 as s
from clarifai_grpc.grpc.api import service_pb2_grpc
from clarifai_grpc.grpc.api.status import status_code_pb2 as sc
from clarifai_grpc.grpc.api.status import status_pb2
from google.protobuf import struct_pb2

from labeldesk.services import admin
from labeldesk.storage.engine import Database
from labeldesk.storage.migrate import migrate
from tests.helpers import IMG, ok
from tests.ops.proc import ServerProcess, start

KILLS = 3
BATCH = 20
REGIONS = 3
IMPORTERS = 2
WORKERS = 2
A = s.PutTaskAssignmentsRequestAction


def _databases() -> list[Any]:
    url = os.environ.get("LABELDESK_TEST_DATABASE_URL", "")
    pg = pytest.param(url, id="postgres") if url.startswith("postgresql") else None
    skip = pytest.param(
        "", id="postgres", marks=pytest.mark.skip(reason="LABELDESK_TEST_DATABASE_URL not set")
    )
    return [pytest.param("sqlite", id="sqlite"), pg or skip]


@dataclass
class Ledger:
    """What the server acknowledged (SUCCESS came back), across every kill."""

    batches: dict[str, list[str]] = field(default_factory=dict)
    annotations: set[str] = field(default_factory=set)
    submits: set[tuple[str, str]] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self) -> int:
        return len(self.batches) + len(self.submits)


@dataclass
class World:
    url: str
    owner: str
    app_id: str
    pat: str
    workers: dict[str, str]
    task_id: str = "crash-task"
    ledger: Ledger = field(default_factory=Ledger)

    @property
    def uai(self) -> r.UserAppIDSet:
        return r.UserAppIDSet(user_id=self.owner, app_id=self.app_id)


def _stub(server: ServerProcess) -> Any:
    channel = ClarifaiChannel.get_insecure_grpc_channel(base="127.0.0.1", port=server.grpc_port)
    return service_pb2_grpc.V2Stub(channel)


def _meta(token: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Key {token}"),)


def _box(i: int) -> r.Region:
    top = 0.1 * i
    return r.Region(
        region_info=r.RegionInfo(
            bounding_box=r.BoundingBox(top_row=top, left_col=0.1, bottom_row=top + 0.05, right_col=0.5)
        ),
        data=r.Data(concepts=[r.Concept(id="cat", value=1)]),
    )


def _importer(world: World, stub: Any, name: str, stop: threading.Event) -> None:
    while not stop.is_set():
        batch = f"{name}-{uuid.uuid4().hex[:8]}"
        ids = [f"{batch}-{k}" for k in range(BATCH)]
        md = struct_pb2.Struct()
        md.update({"batch": batch})
        data = r.Data(image=r.Image(url=IMG), metadata=md, concepts=[r.Concept(id="cat", value=1)])
        try:
            answer = stub.PostInputs(
                s.PostInputsRequest(user_app_id=world.uai, inputs=[r.Input(id=i, data=data) for i in ids]),
                metadata=_meta(world.pat),
                timeout=30,
            )
        except grpc.RpcError:
            return  # the server is gone: this batch was not acknowledged
        if answer.status.code == sc.SUCCESS:
            with world.ledger.lock:
                world.ledger.batches[batch] = ids


def _worker(world: World, stub: Any, who: str, stop: threading.Event) -> None:
    meta = _meta(world.workers[who])

    def put(act: int, **fields: Any) -> Any:
        req = s.PutTaskAssignmentsRequest(user_app_id=world.uai, task_id=world.task_id, action=act, **fields)
        return stub.PutTaskAssignments(req, metadata=meta, timeout=30)

    try:
        while not stop.is_set():
            handed = put(A.LABEL_START)
            inputs = [a.input.id for a in handed.task_assignments]
            if not inputs:
                stop.wait(0.05)
                continue
            for input_id in inputs:
                info = struct_pb2.Struct()
                info.update({"task_id": world.task_id})
                ann_id = f"an-{who}-{input_id}"
                ann = r.Annotation(
                    id=ann_id,
                    input_id=input_id,
                    data=r.Data(regions=[_box(i) for i in range(REGIONS)]),
                    annotation_info=info,
                    status=status_pb2.Status(code=sc.ANNOTATION_PENDING),
                )
                posted = stub.PostAnnotations(
                    s.PostAnnotationsRequest(user_app_id=world.uai, annotations=[ann]),
                    metadata=meta,
                    timeout=30,
                )
                if posted.status.code == sc.SUCCESS:
                    with world.ledger.lock:
                        world.ledger.annotations.add(ann_id)
                submitted = put(A.LABEL_SUBMIT, input_id=input_id)
                if submitted.status.code == sc.SUCCESS:
                    with world.ledger.lock:
                        world.ledger.submits.add((who, input_id))
    except grpc.RpcError:
        return


def _make_world(url: str) -> World:
    db = Database(url)
    try:
        migrate(db)
        tag = uuid.uuid4().hex[:8]
        owner, app_id = f"crash-{tag}", "crash"
        pat = admin.create_user(db, owner, f"{owner}@example.com")
        admin.create_app(db, owner, app_id)
        workers = {}
        for i in range(WORKERS):
            uid = f"crash-w{i}-{tag}"
            workers[uid] = admin.create_user(db, uid, f"{uid}@example.com")
            admin.add_collaborator(db, owner, app_id, uid)
    finally:
        db.dispose()
    return World(url, owner, app_id, pat, workers)


def _set_up_task(world: World, stub: Any) -> None:
    meta = _meta(world.pat)
    ok(
        stub.PostConcepts(
            s.PostConceptsRequest(user_app_id=world.uai, concepts=[r.Concept(id="cat")]), metadata=meta
        )
    )
    task = r.Task(
        id=world.task_id,
        type=r.Task.TaskType.BOUNDING_BOX_DETECTION,
        concept_ids=["cat"],
        worker=r.TaskWorker(
            strategy=r.TaskWorker.TaskWorkerStrategy.DYNAMIC, users=[r.User(id=w) for w in world.workers]
        ),
        review=r.TaskReview(strategy=r.TaskReview.TaskReviewStrategy.NONE),
        input_source=r.TaskInputSource(type=r.TaskInputSource.TaskInputSourceType.ALL_INPUTS),
    )
    ok(stub.PostTasks(s.PostTasksRequest(user_app_id=world.uai, tasks=[task]), metadata=meta))


def _run_until_kill(world: World, server: ServerProcess, cycle: int) -> None:
    """Load the server from every client until enough was acknowledged, then SIGKILL it."""
    stub, stop = _stub(server), threading.Event()
    threads = [
        threading.Thread(target=_importer, args=(world, stub, f"c{cycle}i{i}", stop), daemon=True)
        for i in range(IMPORTERS)
    ] + [threading.Thread(target=_worker, args=(world, stub, w, stop), daemon=True) for w in world.workers]
    before = world.ledger.count()
    for t in threads:
        t.start()
    deadline = threading.Event()
    for _ in range(600):  # up to 30 s for the first acknowledgements of this cycle
        if world.ledger.count() - before >= 8 and world.ledger.submits:
            break
        deadline.wait(0.05)
    server.proc.send_signal(signal.SIGKILL)  # mid-run: clients have calls in flight
    server.proc.wait(10)
    stop.set()
    for t in threads:
        t.join(30)


def _pages(call: Any, request_cls: Any, **fields: Any) -> list[Any]:
    found, page = [], 1
    while True:
        got = ok(call(request_cls(page=page, per_page=1000, **fields)))
        items = list(getattr(got, "inputs", None) or getattr(got, "annotations", None) or [])
        found += items
        if len(items) < 1000:
            return found
        page += 1


def _verify(world: World, server: ServerProcess) -> int:
    """Check the ledger against what the restarted server answers; answer the rows checked."""
    stub, ledger = _stub(server), world.ledger
    owner = _meta(world.pat)
    inputs = _pages(lambda q: stub.ListInputs(q, metadata=owner), s.ListInputsRequest, user_app_id=world.uai)
    by_batch: dict[str, set[str]] = defaultdict(set)
    for inp in inputs:
        assert [c.id for c in inp.data.concepts] == ["cat"], f"input {inp.id} lost its concepts"
        by_batch[inp.id.rsplit("-", 1)[0]].add(inp.id)
    for batch, ids in by_batch.items():
        assert len(ids) == BATCH, f"batch {batch} is half-written: {len(ids)} of {BATCH} inputs"
    for batch, ids in ledger.batches.items():
        assert by_batch.get(batch) == set(ids), f"acknowledged batch {batch} is missing"
    annotations = _pages(
        lambda q: stub.ListAnnotations(q, metadata=owner),
        s.ListAnnotationsRequest,
        user_app_id=world.uai,
        user_ids=list(world.workers),
    )
    present = {}
    for ann in annotations:
        assert len(ann.data.regions) == REGIONS, f"annotation {ann.id} has {len(ann.data.regions)} regions"
        present[ann.id] = ann
    missing = ledger.annotations - set(present)
    assert not missing, f"acknowledged annotations missing: {sorted(missing)[:5]}"
    for who, input_id in ledger.submits:
        ann = present.get(f"an-{who}-{input_id}")
        assert ann is not None and ann.status.code == sc.ANNOTATION_SUCCESS, (
            f"acknowledged LABEL_SUBMIT of {input_id} by {who} is not SUCCESS: {ann and ann.status.code}"
        )
    return len(inputs) + len(annotations)


@pytest.mark.parametrize("database", _databases())
def test_kill_9_loses_no_acknowledged_write(
    database: str,
    tmp_path: Path,
    private_database: Callable[[str, str], str],
    figures: Counter[str],
) -> None:
    url = private_database(database, "crash.db")
    world = _make_world(url)
    command = ["serve", "--database-url", url]
    server = start(command, tmp_path)
    _set_up_task(world, _stub(server))
    rows = 0
    for cycle in range(KILLS):
        _run_until_kill(world, server, cycle)
        server = start(command, tmp_path)
        rows += _verify(world, server)
    server.signal(signal.SIGTERM)
    server.wait_exit(20)
    kind = "SQLite" if database == "sqlite" else "PostgreSQL"
    figures[f"crash ({kind}): SIGKILLs survived"] += KILLS
    figures[f"crash ({kind}): rows checked"] += rows
    figures[f"crash ({kind}): acknowledged writes checked"] += (
        len(world.ledger.batches) * BATCH + len(world.ledger.annotations) + len(world.ledger.submits)
    )
    assert world.ledger.batches and world.ledger.submits, "the load never got anything acknowledged"

"""``serve --workers 2``: two processes serve gRPC and REST on one pair of ports over one SQLite
file. Labelers on their own connections (spread over both processes by the kernel) pull a DYNAMIC
task together: every input is done exactly once, no call fails, the second process did serve some
of them, and ``/metrics`` counts the calls of both. REST clients on their own connections land on
both processes too, and ``/metrics`` answers the same whole count whichever process takes it."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import grpc
import psutil
import requests
from clarifai_grpc.channel.clarifai_channel import ClarifaiChannel
from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api import service_pb2 as s
from clarifai_grpc.grpc.api import service_pb2_grpc
from clarifai_grpc.grpc.api.status import status_code_pb2 as sc
from google.protobuf import json_format
from prometheus_client.parser import text_string_to_metric_families

from labeldesk.app import start_server
from labeldesk.services import admin
from labeldesk.storage.engine import Database
from labeldesk.storage.migrate import migrate
from tests.api.test_auto_annotation import oip_scores, pixel_png
from tests.api.test_models import binding
from tests.helpers import IMG
from tests.model_servers import model_server

A = s.PutTaskAssignmentsRequestAction
LABELERS = 16  # with 17 connections over 2 processes, all on one: 1 in 65536
N_INPUTS = 120
REST_CALLS = 100
SCRAPES = 8
CALLERS = 16  # own connections: the chance that all land on one process is 1 in 32768


def own_connection_stub(port: int) -> Any:
    """A stub with a connection of its own (channels to one address otherwise share one)."""
    ClarifaiChannel.get_insecure_grpc_channel(base="127.0.0.1", port=port).close()  # the client's set-up
    channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=[("grpc.use_local_subchannel_pool", 1)])
    return service_pb2_grpc.V2Stub(channel)


def database_with_app(tmp_path: Path, app_id: str) -> tuple[str, Database, str]:
    """A new SQLite database (its URL, open) with user ``boss``'s app ``app_id`` and its key."""
    url = f"sqlite:///{tmp_path / f'{app_id}.db'}"
    db = Database(url)
    migrate(db)
    admin.create_user(db, "boss", "boss@example.com")
    admin.create_app(db, "boss", app_id)
    return url, db, admin.create_app_key(db, "boss", app_id)


def answered_by_process(base_url: str, rpc: str) -> dict[str, float]:
    """``/metrics``' count of ``rpc``'s calls, by the process (``worker``) that answered them."""
    found = {}
    for family in text_string_to_metric_families(requests.get(f"{base_url}/metrics", timeout=10).text):
        for sample in family.samples:
            if sample.name == "labeldesk_requests_total" and sample.labels["rpc"] == rpc:
                found[sample.labels["worker"]] = sample.value
    return found


def test_two_grpc_processes_share_the_queue_exactly(tmp_path: Path) -> None:
    url, db, key = database_with_app(tmp_path, "queue")
    pats = []
    for i in range(LABELERS):
        pats.append((f"w{i}", admin.create_user(db, f"w{i}", f"w{i}@example.com")))
        admin.add_collaborator(db, "boss", "queue", f"w{i}")
    db.dispose()
    server = start_server(url, http_port=0, grpc_port=0, workers=2)
    try:
        children = psutil.Process().children()
        child = next(p for p in children if p.pid in {c.pid for c in server._children})
        uai = r.UserAppIDSet(user_id="boss", app_id="queue")
        owner, meta = own_connection_stub(server.grpc_port), (("authorization", f"Key {key}"),)
        inputs = [r.Input(id=f"in-{i:03d}", data=r.Data(image=r.Image(url=IMG))) for i in range(N_INPUTS)]
        assert owner.PostInputs(
            s.PostInputsRequest(user_app_id=uai, inputs=inputs), metadata=meta
        ).status.code == (sc.SUCCESS)
        task = json_format.ParseDict(
            {
                "id": "shared",
                "worker": {"strategy": "DYNAMIC", "user_ids": [w for w, _ in pats]},
                "input_source": {"type": "ALL_INPUTS"},
            },
            r.Task(),
        )
        assert owner.PostTasks(
            s.PostTasksRequest(user_app_id=uai, tasks=[task]), metadata=meta
        ).status.code == (sc.SUCCESS)
        child_cpu = sum(child.cpu_times()[:2])
        done: list[str] = []
        failures: list[str] = []
        calls = [0]
        lock = threading.Lock()

        def label(worker: str, pat: str) -> None:
            stub = own_connection_stub(server.grpc_port)
            m = (("authorization", f"Key {pat}"),)

            def put(action: int, input_id: str = "") -> Any:
                req = s.PutTaskAssignmentsRequest(
                    user_app_id=uai, task_id="shared", action=action, input_id=input_id
                )
                with lock:
                    calls[0] += 1
                return stub.PutTaskAssignments(req, metadata=m)

            while True:
                got = put(A.LABEL_START)
                if got.status.code != sc.SUCCESS or not got.task_assignments:
                    if got.status.code != sc.SUCCESS:
                        failures.append(f"{worker}: {got.status.description}")
                    return
                for a in got.task_assignments:
                    answer = put(A.LABEL_SUBMIT, a.input.id)
                    with lock:
                        if answer.status.code == sc.SUCCESS:
                            done.append(a.input.id)
                        else:
                            failures.append(f"{worker} {a.input.id}: {answer.status.description}")

        threads = [threading.Thread(target=label, args=p) for p in pats]
        for th in threads:
            th.start()
        for th in threads:
            th.join(120)
        assert not any(th.is_alive() for th in threads), "a labeler hung"
        assert failures == []
        assert sorted(done) == [i.id for i in inputs], "every input done exactly once"
        # one labeler's ~20 calls cost ~40 ms; an idle gRPC process spends well under 20 ms here
        assert sum(child.cpu_times()[:2]) - child_cpu > 0.02, "the second process served labelers too"
        # one /metrics covers both processes' calls (ops/peer_metrics.py), each series by process
        answered = answered_by_process(server.base_url, "PutTaskAssignments")
        assert sum(answered.values()) == calls[0], answered
        assert set(answered) == {"0", "1"} and min(answered.values()) > 0, answered

        # REST: every process accepts from the one listening socket; each request on a new
        # connection (100: both processes idle, the chance that one takes them all is nil)
        listing = f"{server.base_url}/v2/users/boss/apps/queue/tasks/shared"
        for _ in range(REST_CALLS):
            got = requests.get(listing, headers={"Authorization": f"Key {key}"}, timeout=10)
            assert got.status_code == 200 and got.json()["status"]["code"] == sc.SUCCESS
        # each scrape on a new connection too: some land on each process
        seen = [answered_by_process(server.base_url, "GetTask") for _ in range(SCRAPES)]
        for by_worker in seen:  # the same whole count, whoever answered
            assert sum(by_worker.values()) == REST_CALLS, seen
            assert set(by_worker) == {"0", "1"} and min(by_worker.values()) > 0, seen
    finally:
        server.stop()
    assert not any(c.is_alive() for c in server._children), "the worker processes stop with the server"


def test_a_backend_s_max_concurrency_holds_across_the_processes(tmp_path: Path) -> None:
    """Every process serves PostModelOutputs; calls to one backend still never exceed its
    ``max_concurrency`` in all (the slots are locks of files beside the SQLite database, not
    semaphores of each process, which allowed 2 x the limit)."""
    url, db, key = database_with_app(tmp_path, "models")
    db.dispose()
    limit = 2
    uai = r.UserAppIDSet(user_id="boss", app_id="models")
    meta = (("authorization", f"Key {key}"),)
    with model_server(oip_scores) as backend:
        backend.delay_s = 0.15
        server = start_server(url, http_port=0, grpc_port=0, workers=2)
        try:
            owner = own_connection_stub(server.grpc_port)
            concepts = [r.Concept(id="cat"), r.Concept(id="dog")]
            assert owner.PostConcepts(
                s.PostConceptsRequest(user_app_id=uai, concepts=concepts), metadata=meta
            ).status.code == (sc.SUCCESS)
            model = r.Model(
                id="pets",
                metadata=binding(backend="oip", url=backend.url, model_name="pets", max_concurrency=limit),
            )
            model.output_info.data.concepts.extend(concepts)
            assert owner.PostModels(
                s.PostModelsRequest(user_app_id=uai, models=[model]), metadata=meta
            ).status.code == (sc.SUCCESS)
            codes: list[int] = []

            def caller(v: int) -> None:
                stub = own_connection_stub(server.grpc_port)  # spread over both processes
                image = r.Image(base64=pixel_png(v))
                req = s.PostModelOutputsRequest(
                    user_app_id=uai, model_id="pets", inputs=[r.Input(data=r.Data(image=image))]
                )
                codes.append(stub.PostModelOutputs(req, metadata=meta).status.code)

            threads = [threading.Thread(target=caller, args=(v,)) for v in range(CALLERS)]
            for th in threads:
                th.start()
            for th in threads:
                th.join(60)
            assert codes == [sc.SUCCESS] * CALLERS
            served = answered_by_process(server.base_url, "PostModelOutputs")
            assert set(served) == {"0", "1"} and min(served.values()) > 0, served
        finally:
            server.stop()
    assert backend.max_in_flight == limit  # reached, never exceeded
